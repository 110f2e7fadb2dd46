import { redoRecipe, undoRecipe, useUndo } from './recipe-undo.ts';

/** Undo / Redo of recipe edits (also Ctrl+Z, Ctrl+Shift+Z and Ctrl+Y outside text fields). */
export function UndoButtons() {
  const { undo, redo } = useUndo();
  return (
    <span className="row undo-buttons" role="group" aria-label="Undo and redo">
      <button type="button" onClick={undoRecipe} disabled={undo === 0} title="Undo the last recipe change (Ctrl+Z)" data-testid="undo-button" aria-label="Undo">Undo{undo ? ` (${undo})` : ''}</button>
      <button type="button" onClick={redoRecipe} disabled={redo === 0} title="Redo (Ctrl+Shift+Z or Ctrl+Y)" data-testid="redo-button" aria-label="Redo">Redo{redo ? ` (${redo})` : ''}</button>
    </span>
  );
}
