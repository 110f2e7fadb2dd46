import { useEffect, useRef, useState } from 'react';
import { CartesianGrid, LabelList, Legend, Scatter, ScatterChart, Tooltip, XAxis, YAxis, ZAxis } from 'recharts';
import { useWidth } from './use-width.ts';
import { paretoFront } from '../core/search/index.ts';
import { formatScore } from './format.ts';
import { useHistory } from './history.ts';
import { showInHistory } from './history-focus.ts';
import { mergedModels, paramSpecs, withParam } from './recipe-edit.ts';
import { isMinimised, useStudio, type FrontierPoint } from './store.ts';

/** Indices of the points on the Pareto front of two objectives (core's front, on losses). */
export function frontIndices(points: FrontierPoint[], x: string, y: string): Set<number> {
  const loss = (o: string, v: number) => (isMinimised(o) ? v : -v);
  const usable = points.map((p, i) => ({ p, i })).filter(({ p }) => Number.isFinite(p.scores[x]) && Number.isFinite(p.scores[y]));
  const front = paretoFront(usable.map(({ p }) => [loss(x, p.scores[x]), loss(y, p.scores[y])]));
  return new Set(front.map((k) => usable[k].i));
}

function PointTooltip({ active, payload }: { active?: boolean; payload?: { payload: FrontierPoint & { x: number; y: number } }[] }) {
  if (!active || !payload?.length) return null;
  const p = payload[0].payload;
  return (
    <div className="tooltip">
      <strong>#{p.id} {p.label}</strong>
      <div className="muted">{p.origin}, {p.full ? 'all items' : `subset of ${p.items}`}</div>
      <pre>{p.yaml}</pre>
    </div>
  );
}

function Sweep() {
  const recipe = useStudio((s) => s.recipe);
  const models = useStudio((s) => s.models);
  const specs = paramSpecs(recipe).filter((p) => p.kind === 'number');
  const targets = [
    ...specs.filter((p) => p.scope === 'global').map((p) => ({ key: `global:${p.name}`, model: null as string | null, name: p.name, label: p.name })),
    ...mergedModels(recipe).flatMap((ref) => specs.filter((p) => p.scope === 'model').map((p) => ({ key: `${ref}:${p.name}`, model: ref as string | null, name: p.name, label: `${p.name} of ${models.find((m) => m.ref === ref)?.label ?? ref}` }))),
  ];
  const [key, setKey] = useState('');
  const [from, setFrom] = useState('0');
  const [to, setTo] = useState('1');
  const [steps, setSteps] = useState('5');
  const [error, setError] = useState<string | null>(null);
  // The sweep's progress: the value being evaluated (1-based), of how many, since when.
  const [progress, setProgress] = useState<{ at: number; total: number; started: number; now: number; done: boolean } | null>(null);
  const target = targets.find((t) => t.key === key) ?? targets[0];
  if (!target) return null;
  const run = () => {
    const a = Number(from);
    const b = Number(to);
    const n = Number(steps);
    if (![a, b].every(Number.isFinite) || !Number.isInteger(n) || n < 2 || n > 50) return setError('give numeric bounds and 2–50 steps');
    setError(null);
    const values = Array.from({ length: n }, (_, i) => Number((a + ((b - a) * i) / (n - 1)).toPrecision(6)));
    const base = useStudio.getState().recipe;
    const started = performance.now();
    let at = 0;
    setProgress({ at: 0, total: n, started, now: started, done: false });
    void useStudio.getState().sweep((v) => {
      at += 1;
      setProgress({ at, total: n, started, now: performance.now(), done: false });
      return withParam(base, target.model, target.name, v);
    }, values, (v) => `${target.label}=${v}`).finally(() => setProgress((p) => p && { ...p, now: performance.now(), done: true }));
  };
  // Seconds per value so far (finished values only), times the values left.
  const eta = progress && !progress.done && progress.at > 1 ? ((progress.now - progress.started) / 1000 / (progress.at - 1)) * (progress.total - progress.at + 1) : null;
  return (
    <div className="row sweep" role="group" aria-label="Sweep">
      <strong>Sweep</strong>
      <select aria-label="Sweep parameter" value={target.key} onChange={(e) => setKey(e.target.value)}>{targets.map((t) => <option key={t.key} value={t.key}>{t.label}</option>)}</select>
      <label>from <input aria-label="Sweep from" value={from} onChange={(e) => setFrom(e.target.value)} size={4} /></label>
      <label>to <input aria-label="Sweep to" value={to} onChange={(e) => setTo(e.target.value)} size={4} /></label>
      <label>steps <input aria-label="Sweep steps" value={steps} onChange={(e) => setSteps(e.target.value)} size={3} /></label>
      <button type="button" onClick={run} disabled={Boolean(progress && !progress.done)}>Run sweep</button>
      {progress && (
        <span className="eta" data-testid="sweep-progress" data-state={progress.done ? 'done' : 'running'}>
          {progress.done ? `sweep done: ${progress.at} of ${progress.total} values in ${((progress.now - progress.started) / 1000).toFixed(0)} s`
            : `evaluating value ${progress.at} of ${progress.total}${eta === null ? ' (ETA after the first value)' : ` · about ${Math.ceil(eta)} s left`}`}
        </span>
      )}
      {error && <span role="alert" className="error">{error}</span>}
    </div>
  );
}

export function FrontierPanel() {
  const points = useStudio((s) => s.points);
  const axes = useStudio((s) => s.axes);
  const recipe = useStudio((s) => s.recipe);
  const { setAxes, loadPoint } = useStudio.getState();
  const [chartBox, width] = useWidth<HTMLDivElement>(300);
  // The point chosen on the chart or in the table: highlighted in both.
  const [chosen, setChosen] = useState<number | null>(null);
  const [open, setOpen] = useState(false);
  const rowRefs = useRef(new Map<number, HTMLTableRowElement>());
  // Each evaluated recipe's history entry (same YAML), for the link from its row.
  const historyEntries = useHistory((s) => s.entries);
  const historyOf = (yaml: string) => historyEntries.find((e) => e.kind === 'evaluated' && e.yaml === yaml)?.id;
  const objectives = [...new Set(points.flatMap((p) => Object.keys(p.scores)))].sort();
  const [x, y] = axes;
  const front = frontIndices(points, x, y);
  const data = points.map((p, i) => ({ ...p, x: p.scores[x], y: p.scores[y], onFront: front.has(i), name: `#${p.id}` })).filter((d) => Number.isFinite(d.x) && Number.isFinite(d.y));
  const currentYaml = useStudio((s) => s.points.find((p) => p.recipe === recipe)?.yaml);
  const frontLine = data.filter((d) => d.onFront).sort((a, b) => a.x - b.x);
  const chosenPoint = data.find((d) => d.id === chosen);
  const current = data.find((d) => d.yaml === currentYaml);
  useEffect(() => {
    if (chosen === null) return;
    rowRefs.current.get(chosen)?.scrollIntoView({ block: 'nearest' });
  }, [chosen, open]);
  const choose = (id: number) => {
    setChosen(id);
    setOpen(true);
  };
  const onPoint = (d: { payload?: FrontierPoint }) => { if (d.payload) choose(d.payload.id); };
  const axisSelect = (value: string, which: 0 | 1) => (
    <select aria-label={which === 0 ? 'X objective' : 'Y objective'} value={value} onChange={(e) => setAxes(which === 0 ? [e.target.value, y] : [x, e.target.value])}>
      {objectives.map((o) => <option key={o} value={o}>{o}</option>)}
    </select>
  );
  const label = <LabelList dataKey="name" position="top" offset={7} style={{ fontSize: 10, fill: '#334155' }} />;
  return (
    <section aria-labelledby="frontier-heading" className="panel frontier">
      <h2 id="frontier-heading">Frontier</h2>
      <div ref={chartBox}>
        {points.length === 0 ? <p className="empty-state" data-testid="frontier-empty">Every evaluated recipe appears here as a numbered point: tick tasks and change the recipe, run a sweep below, or a search.</p> : (
          <>
            <div className="row">x {axisSelect(x, 0)} y {axisSelect(y, 1)} <span className="muted">{points.length} recipes, {front.size} on the Pareto front</span></div>
            <ScatterChart width={width} height={Math.round(Math.min(320, Math.max(220, width * 0.75)))} margin={{ top: 18, right: 16, bottom: 28, left: 8 }} data-testid="frontier-chart">
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis type="number" dataKey="x" name={x} domain={isMinimised(x) ? ['auto', 'auto'] : [0, 1]} label={{ value: x, position: 'insideBottom', offset: -14, fontSize: 12 }} />
              <YAxis type="number" dataKey="y" name={y} domain={isMinimised(y) ? ['auto', 'auto'] : [0, 1]} width={50} label={{ value: y, angle: -90, position: 'insideLeft', offset: 4, fontSize: 12, style: { textAnchor: 'middle' } }} />
              <ZAxis range={[60, 60]} />
              <Tooltip content={<PointTooltip />} />
              <Legend verticalAlign="top" height={width < 420 ? 40 : 22} />
              <Scatter name="evaluated" data={data.filter((d) => !d.onFront)} fill="#94a3b8" onClick={onPoint} isAnimationActive={false}>{label}</Scatter>
              <Scatter name="Pareto front" data={frontLine} fill="#dc2626" line={{ stroke: '#dc2626' }} onClick={onPoint} isAnimationActive={false}>{label}</Scatter>
              {current && <Scatter name="on screen" data={[current]} fill="none" stroke="#1d4ed8" strokeWidth={2} shape="circle" legendType="circle" isAnimationActive={false} />}
              {chosenPoint && <Scatter name={`chosen #${chosenPoint.id}`} data={[chosenPoint]} fill="#f59e0b" stroke="#0f172a" strokeWidth={1.5} legendType="diamond" shape="diamond" isAnimationActive={false} />}
            </ScatterChart>
            <details open={open} onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}>
              <summary>All evaluated recipes</summary>
              {/* the actions come first: in a narrow column the table scrolls sideways on its own */}
              <div className="table-scroll">
              <table className="points" aria-label="Evaluated recipes">
                <thead><tr><th>#</th><th /><th>Recipe</th>{objectives.map((o) => <th key={o}>{o}</th>)}<th>Items</th></tr></thead>
                <tbody>
                  {points.map((p, i) => (
                    <tr key={p.id} ref={(el) => { if (el) rowRefs.current.set(p.id, el); else rowRefs.current.delete(p.id); }}
                      data-testid="frontier-point" data-id={p.id} data-front={front.has(i)} aria-selected={p.id === chosen}
                      className={[p.yaml === currentYaml ? 'current' : '', p.id === chosen ? 'selected' : ''].filter(Boolean).join(' ') || undefined}
                      onClick={() => setChosen(p.id)}>
                      <td>{p.id}{front.has(i) ? ' ★' : ''}</td>
                      <td className="row-actions"><button type="button" onClick={() => loadPoint(p)} aria-label={`Load recipe ${p.id}`}>Load</button>
                        {historyOf(p.yaml) !== undefined && <button type="button" className="linklike" onClick={(e) => { e.stopPropagation(); showInHistory(historyOf(p.yaml)!); }}
                          aria-label={`Show recipe ${p.id} in the history`} title="Its entry in the History panel (reopen, compare, YAML)">history #{historyOf(p.yaml)}</button>}</td>
                      <td>{p.label}</td>
                      {objectives.map((o) => <td key={o}>{p.scores[o] === undefined ? '' : formatScore(o, p.scores[o])}</td>)}
                      <td>{p.full ? 'all' : p.items}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              </div>
            </details>
          </>
        )}
      </div>
      <Sweep />
    </section>
  );
}
