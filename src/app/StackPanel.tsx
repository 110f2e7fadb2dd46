import { useState } from 'react';
import { outputLayerCount } from '../core/recipe/index.ts';
import { formatCount } from './format.ts';
import type { Recipe } from '../core/recipe/index.ts';
import { reorder, stackSlices, withBase, withModelAdded, withStack, type StackSlice } from './recipe-edit.ts';
import { useStudio } from './store.ts';

/** Depth-wise integration: the output model as a list of layer slices, reorderable by dragging. */
export function StackPanel() {
  const recipe = useStudio((s) => s.recipe);
  const models = useStudio((s) => s.models);
  const [dragged, setDragged] = useState<number | null>(null);
  const { setRecipe } = useStudio.getState();
  // The slices of a multi-stage recipe's final merge read stages, not loaded models.
  if (models.length === 0 || recipe.stages?.length) return null;
  const byRef = new Map(models.map((m) => [m.ref, m]));
  if (!recipe.slices) {
    const start = () => {
      const first = byRef.get(recipe.base_model ?? '') ?? models[0];
      setRecipe(withStack(recipe, [{ model: first.ref, start: 0, end: first.numLayers, scale: 1 }]));
    };
    return (
      <section aria-labelledby="stack-heading" className="panel stack">
        <h2 id="stack-heading">Layer stacking</h2>
        <p className="muted">Build the output model from layer slices of the loaded models (passthrough).</p>
        <button type="button" onClick={start}>Stack layers instead</button>
      </section>
    );
  }
  const slices = stackSlices(recipe);
  const update = (next: StackSlice[]) => setRecipe(withStack(recipe, next));
  const layers = outputLayerCount(recipe, 0);
  const params = slices.reduce((sum, s) => sum + (byRef.get(s.model)?.paramsPerLayer.slice(s.start, s.end).reduce((a, b) => a + b, 0) ?? 0), 0)
    + (byRef.get(slices[0]?.model ?? '')?.outsideLayerParams ?? 0);
  // Back to a models recipe over everything loaded: the stacked base stays the base.
  const back = () => {
    const base = models.find((m) => m.ref === slices[0]?.model) ?? models[0];
    let next: Recipe = withBase({ merge_method: 'task_arithmetic' }, base.ref);
    for (const m of models) next = withModelAdded(next, m.ref);
    setRecipe(next);
  };
  return (
    <section aria-labelledby="stack-heading" className="panel stack">
      <h2 id="stack-heading">Layer stacking</h2>
      <p data-testid="stack-totals"><strong>{layers}</strong> layers · <strong>{formatCount(params)}</strong> parameters</p>
      <ol className="slices">
        {slices.map((s, i) => {
          const model = byRef.get(s.model);
          const max = model?.numLayers ?? 0;
          const set = (patch: Partial<StackSlice>) => update(slices.map((x, j) => (j === i ? { ...x, ...patch } : x)));
          return (
            <li key={i} draggable onDragStart={() => setDragged(i)} onDragOver={(e) => e.preventDefault()} onDrop={() => { if (dragged !== null && dragged !== i) update(reorder(slices, dragged, i)); setDragged(null); }}
              className={dragged === i ? 'dragging' : undefined} aria-label={`Slice ${i + 1}`}>
              <span className="grip" aria-hidden>⠿</span>
              <select aria-label={`Slice ${i + 1} model`} value={s.model} onChange={(e) => set({ model: e.target.value, start: 0, end: Math.min(s.end - s.start, byRef.get(e.target.value)?.numLayers ?? 0) })}>
                {models.map((m) => <option key={m.ref} value={m.ref}>{m.label}</option>)}
              </select>
              <label>layers <input type="number" aria-label={`Slice ${i + 1} first layer`} min={0} max={max - 1} value={s.start} onChange={(e) => set({ start: Math.max(0, Math.min(Number(e.target.value), s.end - 1)) })} /></label>
              <label>to <input type="number" aria-label={`Slice ${i + 1} end layer (exclusive)`} min={1} max={max} value={s.end} onChange={(e) => set({ end: Math.min(max, Math.max(Number(e.target.value), s.start + 1)) })} /></label>
              <label>scale <input type="number" step={0.05} aria-label={`Slice ${i + 1} scale`} value={s.scale} onChange={(e) => { const v = Number(e.target.value); if (Number.isFinite(v)) set({ scale: v }); }} /></label>
              <button type="button" aria-label={`Move slice ${i + 1} up`} disabled={i === 0} onClick={() => update(reorder(slices, i, i - 1))}>↑</button>
              <button type="button" aria-label={`Move slice ${i + 1} down`} disabled={i === slices.length - 1} onClick={() => update(reorder(slices, i, i + 1))}>↓</button>
              <button type="button" aria-label={`Remove slice ${i + 1}`} disabled={slices.length === 1} onClick={() => update(slices.filter((_, j) => j !== i))}>×</button>
            </li>
          );
        })}
      </ol>
      <div className="row">
        <button type="button" onClick={() => { const m = models[0]; update([...slices, { model: m.ref, start: 0, end: m.numLayers, scale: 1 }]); }}>Add slice</button>
        <button type="button" onClick={back}>Back to layer-wise fusion</button>
      </div>
    </section>
  );
}
