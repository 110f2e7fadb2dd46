// Undo/redo of the recipe: every change of `recipe` in the store is recorded (method, parameters,
// per-layer curves, models added or removed), except changes made while the page itself sets a
// recipe it was asked for (undo, redo, a restore), and the changes of one pointer gesture (a drag on
// a chart: pointer down to up) count as one step.
import { create } from 'zustand';
import type { Recipe } from '../core/recipe/index.ts';
import { UndoStack } from './undo.ts';
import { referencedModels } from '../core/recipe/index.ts';
import { useStudio } from './store.ts';

const stack = new UndoStack<Recipe>();
let quiet = 0;
let pointerDown = false;
let gestures = 0;

export const useUndo = create<{ undo: number; redo: number }>()(() => ({ undo: 0, redo: 0 }));
const publish = () => useUndo.setState(stack.depth);

/** Sets the recipe without recording an undo step (restores, links, undo itself). */
export function setRecipeQuietly(recipe: Recipe): void {
  quiet++;
  try {
    useStudio.getState().setRecipe(recipe);
  } finally {
    quiet--;
  }
}

/** Runs `work` (which may change the recipe several times, e.g. loading models) and records one
 * step from the recipe before it, or none when `undoable` is false. */
export async function asOneStep<T>(work: () => Promise<T>, undoable: boolean): Promise<T> {
  const before = useStudio.getState().recipe;
  quiet++;
  try {
    return await work();
  } finally {
    quiet--;
    if (undoable && useStudio.getState().recipe !== before) {
      stack.record(before);
      publish();
    }
  }
}

/** Undoing a model's removal brings it back into the recipe: it is opened again where it can be. */
let reopen: ((refs: string[]) => void) | null = null;
export function setModelReopener(f: (refs: string[]) => void): void {
  reopen = f;
}

function goTo(recipe: Recipe): void {
  setRecipeQuietly(recipe);
  const loaded = new Set(useStudio.getState().models.map((m) => m.ref));
  const missing = referencedModels(recipe).filter((r) => !loaded.has(r));
  if (missing.length) reopen?.(missing);
}

export function undoRecipe(): void {
  const previous = stack.undo(useStudio.getState().recipe);
  if (previous) goTo(previous);
  publish();
}

export function redoRecipe(): void {
  const next = stack.redo(useStudio.getState().recipe);
  if (next) goTo(next);
  publish();
}

/** Forgets every step (a fresh start). */
export function clearUndo(): void {
  stack.clear();
  publish();
}

function editable(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el || !el.tagName) return false;
  if (el.isContentEditable || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT') return true;
  return el.tagName === 'INPUT' && !['checkbox', 'radio', 'button', 'submit', 'range'].includes((el as HTMLInputElement).type);
}

/** Ctrl/Cmd+Z undoes, Ctrl/Cmd+Shift+Z and Ctrl/Cmd+Y redo; text fields keep their own undo. */
export function onUndoKey(e: KeyboardEvent): void {
  if (!(e.ctrlKey || e.metaKey) || e.altKey || editable(e.target)) return;
  const key = e.key.toLowerCase();
  if (key === 'z' && !e.shiftKey) undoRecipe();
  else if ((key === 'z' && e.shiftKey) || key === 'y') redoRecipe();
  else return;
  e.preventDefault();
}

/** Starts recording; returns the function that stops it. */
export function startUndoTracking(): () => void {
  const down = () => {
    pointerDown = true;
    gestures++;
  };
  const up = () => {
    pointerDown = false;
  };
  window.addEventListener('pointerdown', down, true);
  window.addEventListener('pointerup', up, true);
  window.addEventListener('pointercancel', up, true);
  window.addEventListener('keydown', onUndoKey);
  const unsubscribe = useStudio.subscribe((state, prev) => {
    if (state.recipe === prev.recipe || quiet > 0) return;
    stack.record(prev.recipe, pointerDown ? gestures : null);
    publish();
  });
  return () => {
    window.removeEventListener('pointerdown', down, true);
    window.removeEventListener('pointerup', up, true);
    window.removeEventListener('pointercancel', up, true);
    window.removeEventListener('keydown', onUndoKey);
    unsubscribe();
  };
}
