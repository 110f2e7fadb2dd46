import { useState } from 'react';
import { CartesianGrid, Legend, Scatter, ScatterChart, Tooltip, XAxis, YAxis, ZAxis } from 'recharts';
import { paretoFront } from '../core/search/index.ts';
import { formatScore } from './format.ts';
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
    void useStudio.getState().sweep((v) => withParam(base, target.model, target.name, v), values, (v) => `${target.label}=${v}`);
  };
  return (
    <div className="row sweep" role="group" aria-label="Sweep">
      <strong>Sweep</strong>
      <select aria-label="Sweep parameter" value={target.key} onChange={(e) => setKey(e.target.value)}>{targets.map((t) => <option key={t.key} value={t.key}>{t.label}</option>)}</select>
      <label>from <input aria-label="Sweep from" value={from} onChange={(e) => setFrom(e.target.value)} size={4} /></label>
      <label>to <input aria-label="Sweep to" value={to} onChange={(e) => setTo(e.target.value)} size={4} /></label>
      <label>steps <input aria-label="Sweep steps" value={steps} onChange={(e) => setSteps(e.target.value)} size={3} /></label>
      <button type="button" onClick={run}>Run sweep</button>
      {error && <span role="alert" className="error">{error}</span>}
    </div>
  );
}

export function FrontierPanel() {
  const points = useStudio((s) => s.points);
  const axes = useStudio((s) => s.axes);
  const recipe = useStudio((s) => s.recipe);
  const { setAxes, loadPoint } = useStudio.getState();
  const objectives = [...new Set(points.flatMap((p) => Object.keys(p.scores)))].sort();
  const [x, y] = axes;
  const front = frontIndices(points, x, y);
  const data = points.map((p, i) => ({ ...p, x: p.scores[x], y: p.scores[y], onFront: front.has(i) })).filter((d) => Number.isFinite(d.x) && Number.isFinite(d.y));
  const currentYaml = useStudio((s) => s.points.find((p) => p.recipe === recipe)?.yaml);
  const frontLine = data.filter((d) => d.onFront).sort((a, b) => a.x - b.x);
  const axisSelect = (value: string, which: 0 | 1) => (
    <select aria-label={which === 0 ? 'X objective' : 'Y objective'} value={value} onChange={(e) => setAxes(which === 0 ? [e.target.value, y] : [x, e.target.value])}>
      {objectives.map((o) => <option key={o} value={o}>{o}</option>)}
    </select>
  );
  return (
    <section aria-labelledby="frontier-heading" className="panel frontier">
      <h2 id="frontier-heading">Frontier</h2>
      {points.length === 0 ? <p className="muted">Every evaluated recipe appears here as a point.</p> : (
        <>
          <div className="row">x {axisSelect(x, 0)} y {axisSelect(y, 1)} <span className="muted">{points.length} recipes, {front.size} on the Pareto front</span></div>
          <ScatterChart width={460} height={280} margin={{ top: 10, right: 20, bottom: 20, left: 0 }}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis type="number" dataKey="x" name={x} domain={isMinimised(x) ? ['auto', 'auto'] : [0, 1]} label={{ value: x, position: 'insideBottom', offset: -10 }} />
            <YAxis type="number" dataKey="y" name={y} domain={isMinimised(y) ? ['auto', 'auto'] : [0, 1]} width={56} label={{ value: y, angle: -90, position: 'insideLeft', offset: 10 }} />
            <ZAxis range={[60, 60]} />
            <Tooltip content={<PointTooltip />} />
            <Legend verticalAlign="top" />
            <Scatter name="evaluated" data={data.filter((d) => !d.onFront)} fill="#94a3b8" onClick={(d: { payload?: FrontierPoint }) => d.payload && loadPoint(d.payload)} isAnimationActive={false} />
            <Scatter name="Pareto front" data={frontLine} fill="#dc2626" line={{ stroke: '#dc2626' }} onClick={(d: { payload?: FrontierPoint }) => d.payload && loadPoint(d.payload)} isAnimationActive={false} />
          </ScatterChart>
          <details>
            <summary>All evaluated recipes</summary>
            <table className="points" aria-label="Evaluated recipes">
              <thead><tr><th>#</th><th>Recipe</th>{objectives.map((o) => <th key={o}>{o}</th>)}<th>Items</th><th /></tr></thead>
              <tbody>
                {points.map((p, i) => (
                  <tr key={p.id} data-testid="frontier-point" data-front={front.has(i)} className={p.yaml === currentYaml ? 'current' : undefined}>
                    <td>{p.id}{front.has(i) ? ' ★' : ''}</td><td>{p.label}</td>
                    {objectives.map((o) => <td key={o}>{p.scores[o] === undefined ? '' : formatScore(o, p.scores[o])}</td>)}
                    <td>{p.full ? 'all' : p.items}</td>
                    <td><button type="button" onClick={() => loadPoint(p)} aria-label={`Load recipe ${p.id}`}>Load</button></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </details>
        </>
      )}
      <Sweep />
    </section>
  );
}
