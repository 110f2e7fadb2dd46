// The history of merges: every recipe evaluated (live, full, sweep, search) or exported, with its
// scores and when. Evaluations of one recipe update its entry (the latest scores, the latest time);
// every export is an entry of its own.
import { create } from 'zustand';
import { recipeToYaml, type Recipe } from '../core/recipe/index.ts';
import { useStudio, type FrontierPoint } from './store.ts';

export interface HistoryEntry {
  id: number;
  /** ISO time of the latest evaluation (or of the export). */
  time: string;
  kind: 'evaluated' | 'exported';
  /** live, full, sweep, search (evaluated) or where it went (exported). */
  detail: string;
  recipe: Recipe;
  yaml: string;
  scores: Record<string, number>;
  label: string;
}

export const useHistory = create<{ entries: HistoryEntry[] }>()(() => ({ entries: [] }));

let ids = 0;

export function setHistory(entries: HistoryEntry[]): void {
  ids = Math.max(ids, ...entries.map((e) => e.id), 0);
  useHistory.setState({ entries });
}

function upsertEvaluated(p: FrontierPoint, time: string): void {
  const entries = useHistory.getState().entries;
  const existing = entries.find((e) => e.kind === 'evaluated' && e.yaml === p.yaml);
  const entry: HistoryEntry = { id: existing?.id ?? ++ids, time, kind: 'evaluated', detail: p.full ? `${p.origin}, all items` : `${p.origin}, subset of ${p.items}`, recipe: p.recipe, yaml: p.yaml, scores: { ...p.scores }, label: p.label };
  useHistory.setState({ entries: existing ? entries.map((e) => (e === existing ? entry : e)) : [...entries, entry] });
}

/** Records an export of `recipe` (with the scores last measured for it, if any). */
export function recordExport(recipe: Recipe, where: string): void {
  const yaml = recipeToYaml(recipe);
  const point = useStudio.getState().points.find((p) => p.yaml === yaml);
  const entry: HistoryEntry = { id: ++ids, time: new Date().toISOString(), kind: 'exported', detail: where, recipe, yaml, scores: { ...(point?.scores ?? {}) }, label: point?.label ?? recipe.merge_method };
  useHistory.setState((s) => ({ entries: [...s.entries, entry] }));
}

/** Follows the store's frontier points (each evaluation lands there); returns the unsubscribe. */
export function startHistoryTracking(): () => void {
  return useStudio.subscribe((state, prev) => {
    if (state.points === prev.points) return;
    const before = new Map(prev.points.map((p) => [p.id, p]));
    const time = new Date().toISOString();
    for (const p of state.points) {
      const old = before.get(p.id);
      if (!old || old.scores !== p.scores) upsertEvaluated(p, time);
    }
  });
}
