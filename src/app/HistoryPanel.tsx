import { useState } from 'react';
import { recipeToYaml } from '../core/recipe/index.ts';
import { recipeForExport } from '../worker/export-refs.ts';
import { downloadBytes } from './download.ts';
import { formatScore } from './format.ts';
import { useHistory, type HistoryEntry } from './history.ts';
import { useHistoryFocus } from './history-focus.ts';
import { missingMessage, openRecipe } from './open-recipe.ts';
import { diffRecipes, diffScores } from './recipe-diff.ts';
import { useStudio } from './store.ts';

const metricOf = (objective: string) => objective.split('.').pop() ?? objective;
const time = (iso: string) => new Date(iso).toLocaleTimeString();

function Comparison({ a, b }: { a: HistoryEntry; b: HistoryEntry }) {
  const params = diffRecipes(a.recipe, b.recipe);
  const scores = diffScores(a.scores, b.scores);
  return (
    <div className="history-compare" data-testid="history-compare">
      <table aria-label="Parameter diff" className="points">
        <caption>Parameters: #{a.id} → #{b.id}{params.length === 0 ? ' (the same recipe)' : ''}</caption>
        <thead><tr><th>parameter</th><th>#{a.id}</th><th>#{b.id}</th></tr></thead>
        <tbody>{params.map((r) => <tr key={r.path} data-testid="param-diff-row"><th scope="row">{r.path}</th><td>{r.a ?? '—'}</td><td>{r.b ?? '—'}</td></tr>)}</tbody>
      </table>
      <table aria-label="Score diff" className="points">
        <caption>Scores: #{a.id} → #{b.id}</caption>
        <thead><tr><th>objective</th><th>#{a.id}</th><th>#{b.id}</th><th>change</th></tr></thead>
        <tbody>{scores.map((r) => (
          <tr key={r.objective} data-testid="score-diff-row"><th scope="row">{r.objective}</th>
            <td>{r.a === undefined ? '—' : formatScore(metricOf(r.objective), r.a)}</td>
            <td>{r.b === undefined ? '—' : formatScore(metricOf(r.objective), r.b)}</td>
            <td data-testid={`score-delta-${r.objective}`}>{r.delta === undefined ? '—' : `${r.delta >= 0 ? '+' : ''}${r.delta.toPrecision(4)}`}</td></tr>
        ))}</tbody>
      </table>
    </div>
  );
}

/** Every merge evaluated or exported: reopen one, compare two, export one as mergekit YAML. */
export function HistoryPanel() {
  const entries = useHistory((s) => s.entries);
  const catalog = useStudio((s) => s.catalog);
  const focus = useHistoryFocus((s) => s.id);
  const [picked, setPicked] = useState<number[]>([]);
  const [message, setMessage] = useState<string | null>(null);
  const shown = [...entries].reverse();
  const toggle = (id: number, on: boolean) => setPicked((p) => (on ? [...p.filter((x) => x !== id), id].slice(-2) : p.filter((x) => x !== id)));
  const pair = picked.map((id) => entries.find((e) => e.id === id)).filter((e): e is HistoryEntry => !!e);
  const reopen = async (e: HistoryEntry) => {
    setMessage(null);
    const missing = await openRecipe(e.recipe);
    setMessage(missingMessage(missing) ?? `#${e.id} is the current recipe again`);
  };
  return (
    <section aria-labelledby="history-heading" className="panel history">
      <h2 id="history-heading">History</h2>
      {entries.length === 0 ? <p className="muted">Every merge you evaluate or export is listed here, with its scores.</p> : (
        <div style={{ overflowX: 'auto', maxHeight: '24em', overflowY: 'auto' }}>
          <table aria-label="Merge history" className="points history-list">
            <thead><tr><th>compare</th><th>#</th><th>when</th><th>what</th><th>recipe</th><th>scores</th><th /></tr></thead>
            <tbody>{shown.map((e) => (
              <tr key={e.id} data-testid="history-entry" data-id={e.id} aria-selected={e.id === focus} className={e.id === focus ? 'selected' : undefined}>
                <td><input type="checkbox" aria-label={`Compare #${e.id}`} checked={picked.includes(e.id)} onChange={(ev) => toggle(e.id, ev.target.checked)} /></td>
                <td>{e.id}</td>
                <td>{time(e.time)}</td>
                <td>{e.kind} ({e.detail})</td>
                <td title={e.yaml}>{e.label}</td>
                <td>{Object.entries(e.scores).map(([o, v]) => `${o} ${formatScore(metricOf(o), v)}`).join(' · ') || '—'}</td>
                <td>
                  <button type="button" aria-label={`Reopen #${e.id}`} onClick={() => void reopen(e)}>Reopen</button>
                  <button type="button" aria-label={`Export #${e.id} as YAML`} onClick={() => downloadBytes(`merge-${e.id}.yml`, recipeToYaml(recipeForExport(e.recipe, catalog)), 'text/yaml')}>YAML</button>
                </td>
              </tr>
            ))}</tbody>
          </table>
        </div>
      )}
      {message && <p className="muted" role="status" data-testid="history-message">{message}</p>}
      {pair.length === 2 ? <Comparison a={pair[0].id < pair[1].id ? pair[0] : pair[1]} b={pair[0].id < pair[1].id ? pair[1] : pair[0]} /> : entries.length > 1 && <p className="muted">Tick two entries to compare them.</p>}
    </section>
  );
}
