import { useState } from 'react';
import { CartesianGrid, Legend, Line, LineChart, Scatter, ScatterChart, Tooltip, XAxis, YAxis } from 'recharts';
import { OPTIMIZER_KINDS, SPACE_METHODS, type OptimizerKind, type SpaceMethod, type SpaceSpec } from '../core/search/index.ts';
import type { SearchRequest } from '../worker/protocol.ts';
import { callback, engine, errorText } from './engine-client.ts';
import { DEFAULT_SEARCH, searchSpecOf } from './search-defaults.ts';
import { useStudio } from './store.ts';
import { useWidth } from './use-width.ts';

const METRIC_OF_KIND = { exact_match: 'exact_match', multiple_choice: 'accuracy', perplexity: 'perplexity' } as const;

export function SearchPanel() {
  const models = useStudio((s) => s.models);
  const recipe = useStudio((s) => s.recipe);
  const tasks = useStudio((s) => s.tasks);
  const selected = useStudio((s) => s.selectedTasks);
  const search = useStudio((s) => s.search);
  const backend = useStudio((s) => s.live.backend);
  // Defaults measured to beat the hand-set recipe on the demo (search-defaults.ts and its test).
  const [kind, setKind] = useState<SpaceSpec['kind']>(DEFAULT_SEARCH.kind);
  const [methods, setMethods] = useState<SpaceMethod[]>(DEFAULT_SEARCH.methods);
  const [blockSize, setBlockSize] = useState(String(DEFAULT_SEARCH.blockSize));
  const [trials, setTrials] = useState(String(DEFAULT_SEARCH.trials));
  const [levels, setLevels] = useState(DEFAULT_SEARCH.levels.join(', '));
  const [schedule, setSchedule] = useState<'successive-halving' | 'hyperband'>(DEFAULT_SEARCH.schedule);
  const [optimizer, setOptimizer] = useState<OptimizerKind>(DEFAULT_SEARCH.optimizer);
  const [limit, setLimit] = useState(String(DEFAULT_SEARCH.limit));
  const [started, setStarted] = useState<number | null>(null);
  const [box, width] = useWidth<HTMLDivElement>(280);
  const [error, setError] = useState<string | null>(null);
  const candidates = tasks.filter((t) => selected.includes(t.file)).map((t) => `${t.skill}.${METRIC_OF_KIND[t.kind]}`);
  const [objectives, setObjectives] = useState<string[]>([]);
  const chosen = objectives.filter((o) => candidates.includes(o));
  const effective = chosen.length ? chosen : candidates.slice(0, 2);

  const start = async () => {
    setError(null);
    // After loading a multi-stage trial the base is its stages' (slerp's base is an expert).
    const base = recipe.base_model ?? recipe.stages?.find((s) => s.merge_method !== 'slerp' && s.base_model)?.base_model;
    const experts = models.map((m) => m.ref).filter((r) => r !== base);
    if (!base || experts.length === 0) return setError('load a base model and at least one expert first');
    if (effective.length === 0) return setError('choose tasks in Live evaluation; their scores are the objectives');
    const fidelity = levels.split(/[\s,]+/).filter(Boolean).map(Number);
    const settings = { ...DEFAULT_SEARCH, kind, methods, blockSize: Number(blockSize), trials: Number(trials), levels: fidelity, schedule, optimizer, limit: Number(limit) || DEFAULT_SEARCH.limit };
    const spec = searchSpecOf(settings, base, experts, effective);
    const request: SearchRequest = { spec: { ...spec, limit: Number(limit) || undefined }, backend };
    if (search.status !== 'paused') setStarted(performance.now());
    useStudio.setState((s) => ({ search: { ...s.search, status: 'running', error: null, ...(s.search.status === 'paused' ? {} : { trials: [], summary: null }) } }));
    try {
      await engine().startSearch(request, callback((u) => {
        if (u.type === 'trial') useStudio.getState().addSearchTrial(u.trial, u.summary);
        else useStudio.setState((s) => ({ search: { ...s.search, status: u.status, summary: u.summary, error: u.error ?? null } }));
      }));
    } catch (err) {
      useStudio.setState((s) => ({ search: { ...s.search, status: 'failed', error: errorText(err) } }));
    }
  };

  const summary = search.summary;
  const done = summary?.trials ?? 0;
  const budget = Number(trials) || 0;
  // Wall time per trial so far (this run), times the trials left.
  const elapsed = started === null ? 0 : (performance.now() - started) / 1000;
  const eta = done === 0 ? `running trial 1 of ${budget}: ETA after the first trial`
    : `about ${Math.max(1, Math.ceil((elapsed / done) * Math.max(0, budget - done)))} s left (${(elapsed / done).toFixed(1)} s per trial)`;
  const chartWidth = Math.max(220, Math.min(420, width));
  const [ox, oy] = effective;
  const fullTrials = search.trials.filter((t) => t.fidelity === 1);
  const front = new Set(summary?.front ?? []);
  return (
    <section aria-labelledby="search-heading" className="panel search">
      <h2 id="search-heading">Search</h2>
      <div className="row">
        <label>space <select value={kind} onChange={(e) => setKind(e.target.value as SpaceSpec['kind'])}>
          <option value="global">global</option><option value="layerwise">layer-wise</option><option value="depthwise">depth-wise</option>
        </select></label>
        {kind === 'layerwise' && <label>block <input value={blockSize} onChange={(e) => setBlockSize(e.target.value)} size={2} aria-label="Block size" /></label>}
        {kind !== 'depthwise' && (
          <span role="group" aria-label="Methods">{SPACE_METHODS.map((m) => (
            <label key={m}><input type="checkbox" checked={methods.includes(m)} onChange={(e) => setMethods(e.target.checked ? [...methods, m] : methods.filter((x) => x !== m))} />{m}</label>
          ))}</span>
        )}
      </div>
      <div className="row">
        <span role="group" aria-label="Objectives">objectives {candidates.length === 0 ? <span className="muted">(choose tasks above)</span> : candidates.map((o) => (
          <label key={o}><input type="checkbox" checked={effective.includes(o)} onChange={(e) => setObjectives(e.target.checked ? [...effective, o] : effective.filter((x) => x !== o))} />{o}</label>
        ))}</span>
      </div>
      <div className="row">
        <label>budget <input value={trials} onChange={(e) => setTrials(e.target.value)} size={3} aria-label="Budget in trials" /> trials</label>
        <label>fidelity <input value={levels} onChange={(e) => setLevels(e.target.value)} size={10} aria-label="Fidelity levels" /></label>
        <label>schedule <select value={schedule} onChange={(e) => setSchedule(e.target.value as 'successive-halving' | 'hyperband')} aria-label="Fidelity schedule"><option value="successive-halving">successive halving</option><option value="hyperband">Hyperband</option></select></label>
        <label>items <input value={limit} onChange={(e) => setLimit(e.target.value)} size={3} aria-label="Items per task at full fidelity" /></label>
        <label>optimizer <select value={optimizer} onChange={(e) => setOptimizer(e.target.value as OptimizerKind)}>{OPTIMIZER_KINDS.map((k) => <option key={k} value={k}>{k}</option>)}</select></label>
      </div>
      <div className="row">
        <button type="button" onClick={() => void start()} disabled={search.status === 'running'}>{search.status === 'paused' ? 'Resume' : 'Start search'}</button>
        <button type="button" onClick={() => void engine().pauseSearch()} disabled={search.status !== 'running'}>Pause</button>
        <button type="button" onClick={() => void engine().stopSearch()} disabled={search.status !== 'running' && search.status !== 'paused'}>Stop</button>
        <span data-testid="search-status" className="muted">{search.status}{summary ? ` · ${summary.trials} of ${trials} trials · cost ${summary.cost.toFixed(2)} · hypervolume ${summary.hypervolume.toFixed(4)}` : ''}</span>
        {search.status === 'running' && <span className="eta" data-testid="search-eta">{eta}</span>}
      </div>
      {(error ?? search.error) && <p role="alert" className="error">{error ?? search.error}</p>}
      {search.status === 'idle' && !summary && <p className="empty-state">Tries {trials} recipes of the chosen space with the {optimizer} optimizer, cheap subsets first ({levels} of {limit} items per task), scored on the ticked tasks; each full-fidelity trial joins the frontier.</p>}
      <div ref={box}>
      {summary && summary.trials > 0 && (
        <div className="search-charts">
          {ox && oy && (
            <figure aria-label="Search Pareto front">
              <figcaption>Full-fidelity trials</figcaption>
              <ScatterChart width={chartWidth} height={220} margin={{ top: 4, right: 12, bottom: 24, left: 4 }}>
                <CartesianGrid strokeDasharray="3 3" />
                <XAxis type="number" dataKey="x" name={ox} domain={['auto', 'auto']} label={{ value: ox, position: 'insideBottom', offset: -12, fontSize: 11 }} />
                <YAxis type="number" dataKey="y" name={oy} domain={['auto', 'auto']} width={48} label={{ value: oy, angle: -90, position: 'insideLeft', offset: 6, fontSize: 11, style: { textAnchor: 'middle' } }} />
                <Tooltip />
                <Legend verticalAlign="top" height={20} />
                <Scatter name="trial" data={fullTrials.filter((t) => !front.has(t.id)).map((t) => ({ x: t.objectives[ox], y: t.objectives[oy], id: t.id }))} fill="#94a3b8" isAnimationActive={false} />
                <Scatter name="Pareto front" data={fullTrials.filter((t) => front.has(t.id)).map((t) => ({ x: t.objectives[ox], y: t.objectives[oy], id: t.id }))} fill="#dc2626" isAnimationActive={false} />
              </ScatterChart>
            </figure>
          )}
          <figure aria-label="Hypervolume over trials">
            <figcaption>Hypervolume and best so far</figcaption>
            <LineChart width={chartWidth} height={220} data={summary.history.map((h) => ({ trial: h.trial, hypervolume: h.hypervolume, ...h.best }))} margin={{ top: 4, right: 12, bottom: 24, left: 4 }}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="trial" label={{ value: 'trial', position: 'insideBottom', offset: -12, fontSize: 11 }} />
              <YAxis width={48} label={{ value: 'score', angle: -90, position: 'insideLeft', offset: 6, fontSize: 11, style: { textAnchor: 'middle' } }} />
              <Tooltip />
              <Legend verticalAlign="top" height={20} />
              <Line dataKey="hypervolume" stroke="#2563eb" dot={false} isAnimationActive={false} />
              {effective.map((o, i) => <Line key={o} dataKey={o} name={`best ${o}`} stroke={['#059669', '#d97706', '#7c3aed'][i % 3]} dot={false} isAnimationActive={false} />)}
            </LineChart>
          </figure>
          <div>
            <table aria-label="Trials per fidelity"><thead><tr><th>fidelity</th><th>trials</th></tr></thead>
              <tbody>{Object.entries(summary.perFidelity).map(([f, n]) => <tr key={f}><td>{Number(f).toFixed(3)}</td><td>{n}</td></tr>)}</tbody>
            </table>
            <table aria-label="Best so far"><thead><tr><th>objective</th><th>best</th><th>trial</th></tr></thead>
              <tbody>{Object.entries(summary.best).map(([o, b]) => <tr key={o}><td>{o}</td><td>{b.value.toFixed(3)}</td><td>#{b.trial}</td></tr>)}</tbody>
            </table>
          </div>
        </div>
      )}
      </div>
      {search.trials.length > 0 && (
        <details>
          <summary>Trials ({search.trials.length})</summary>
          <table className="points" aria-label="Search trials">
            <thead><tr><th>#</th><th>fidelity</th>{effective.map((o) => <th key={o}>{o}</th>)}<th>s</th><th /></tr></thead>
            <tbody>{search.trials.map((t) => (
              <tr key={t.id}><td>{t.id}{front.has(t.id) ? ' ★' : ''}</td><td>{t.fidelity.toFixed(3)}</td>{effective.map((o) => <td key={o}>{t.objectives[o]?.toFixed(3)}</td>)}<td>{t.seconds.toFixed(1)}</td>
                <td><button type="button" onClick={() => useStudio.getState().setRecipe(t.recipe)} aria-label={`Load trial ${t.id}`}>Load</button></td></tr>
            ))}</tbody>
          </table>
        </details>
      )}
    </section>
  );
}
