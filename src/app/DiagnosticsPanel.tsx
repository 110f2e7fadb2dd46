// Diagnostics of the loaded models against the base, per decoder layer: task-vector norms (one
// line per model, in the model's colour), cosines between task vectors and sign-conflict
// fractions (one line per pair, solid in the first model's colour, dashed by the second's index),
// plus the all-models conflict line. Computed in the worker on the GPU, or on the CPU.
import { useState } from 'react';
import { CartesianGrid, Legend, Line, LineChart, Tooltip, XAxis, YAxis } from 'recharts';
import type { DiagnosticsResult } from '../core/diagnostics/index.ts';
import type { EvalBackendChoice, EngineEvent } from '../worker/protocol.ts';
import { modelColor } from './colors.ts';
import { callback, engine, errorText, isAbort } from './engine-client.ts';
import { ProgressLine } from './ProgressLine.tsx';
import { useStudio, type JobState } from './store.ts';

const DASHES = ['', '6 3', '2 3', '8 3 2 3', '1 5', '10 4', '4 4', '3 6'];

interface SeriesDef { key: string; label: string; color: string; dash: string; values: (number | null)[] }

const layerName = (l: number | null) => (l === null ? 'other' : String(l));

function DiagnosticsChart({ title, yLabel, series, layers, domain, testId }: { title: string; yLabel: string; series: SeriesDef[]; layers: (number | null)[]; domain?: [number, number]; testId: string }) {
  const rows = layers.map((l, k) => Object.fromEntries([['x', layerName(l)], ...series.map((s) => [s.key, s.values[k]])]));
  return (
    <figure className="diag-chart" aria-label={title} data-testid={testId}>
      <figcaption>{title}</figcaption>
      <LineChart width={360} height={230} data={rows} margin={{ top: 5, right: 16, bottom: 22, left: 12 }}>
        <CartesianGrid strokeDasharray="3 3" />
        <XAxis dataKey="x" label={{ value: 'layer (other: embeddings, final norm, head)', position: 'insideBottom', offset: -12, fontSize: 11 }} />
        <YAxis domain={domain ?? ['auto', 'auto']} width={52} tickFormatter={(v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2))}
          label={{ value: yLabel, angle: -90, position: 'insideLeft', offset: -2, fontSize: 11, style: { textAnchor: 'middle' } }} />
        <Tooltip formatter={(v) => (typeof v === 'number' ? v.toPrecision(4) : String(v))} />
        <Legend verticalAlign="top" height={36} />
        {series.map((s) => (
          <Line key={s.key} dataKey={s.key} name={s.label} stroke={s.color} strokeDasharray={s.dash} strokeWidth={2} isAnimationActive={false} dot={{ r: 3 }} />
        ))}
      </LineChart>
    </figure>
  );
}

export function DiagnosticsPanel() {
  const models = useStudio((s) => s.models);
  const recipe = useStudio((s) => s.recipe);
  const [backend, setBackend] = useState<EvalBackendChoice>('auto');
  const [job, setJob] = useState<JobState>({ status: 'idle' });
  const [result, setResult] = useState<DiagnosticsResult | null>(null);
  const base = recipe.base_model ?? null;
  const others = models.map((m) => m.ref).filter((r) => r !== base);
  const refs = models.map((m) => m.ref);
  const label = (ref: string) => models.find((m) => m.ref === ref)?.label ?? ref.split('/').pop() ?? ref;
  const ready = !!base && others.length > 0 && others.length <= 8;

  const run = async () => {
    if (!base) return;
    setJob({ status: 'running', label: 'diagnostics' });
    const started = performance.now();
    // Progress messages can arrive after the result (comlink delivers them separately): ignore those.
    let settled = false;
    try {
      const r = await engine().diagnostics(base, others, backend, 'diagnostics', callback((e: EngineEvent) => {
        if (e.type === 'progress' && !settled) setJob({ status: 'running', label: 'diagnostics', progress: e.progress });
      }));
      settled = true;
      setResult(r);
      setJob({ status: 'done', message: `${r.layers.length} layer groups, ${r.models.length} models against ${label(r.base)}, on ${r.backend === 'webgpu' ? 'WebGPU' : 'the CPU'} in ${((performance.now() - started) / 1000).toFixed(1)} s${r.skipped.length ? `; ${r.skipped.length} tensors left out (missing or of another shape): ${r.skipped.slice(0, 3).join(', ')}${r.skipped.length > 3 ? ', …' : ''}` : ''}` });
    } catch (err) {
      settled = true;
      setJob(isAbort(err) ? { status: 'done', message: 'diagnostics cancelled' } : { status: 'error', error: errorText(err) });
    }
  };

  const layers = result?.layers.map((l) => l.layer) ?? [];
  const pairLabel = (i: number, j: number) => `${label(result!.models[i])} · ${label(result!.models[j])}`;
  const normSeries: SeriesDef[] = result ? result.models.map((m, i) => ({ key: `n${i}`, label: label(m), color: modelColor(m, refs), dash: '', values: result.layers.map((l) => l.norms[i]) })) : [];
  const pairSeries = (pick: (l: DiagnosticsResult['layers'][number], p: number) => number): SeriesDef[] => result
    ? result.pairs.map(([i, j], p) => ({ key: `p${p}`, label: pairLabel(i, j), color: modelColor(result.models[i], refs), dash: DASHES[j % DASHES.length], values: result.layers.map((l) => pick(l, p)) }))
    : [];
  const conflictSeries = result ? [{ key: 'all', label: 'any two disagree', color: '#0f172a', dash: '', values: result.layers.map((l) => l.conflicts) }, ...pairSeries((l, p) => l.pairConflicts[p])] : [];

  return (
    <section aria-labelledby="diag-heading" className="panel diagnostics">
      <h2 id="diag-heading">Diagnostics</h2>
      <p className="muted">Task vectors (each model minus the base) per layer: how far each model moved, whether two models moved the same way (cosine), and how often their signs conflict (what TIES resolves).</p>
      <div className="row">
        <label>run on <select aria-label="Diagnostics runtime" value={backend} onChange={(e) => setBackend(e.target.value as EvalBackendChoice)}>
          <option value="auto">auto (WebGPU if available)</option><option value="webgpu">WebGPU</option><option value="cpu">CPU</option>
        </select></label>
        <button type="button" disabled={!ready || job.status === 'running'} onClick={() => void run()}>Compute diagnostics</button>
        {job.status === 'running' && <button type="button" onClick={() => void engine().cancel('diagnostics')}>Cancel</button>}
      </div>
      {!ready && <p className="muted" data-testid="diagnostics-empty">{!base ? 'Choose a base model in Models (the radio button) to compare the others against.' : others.length === 0 ? 'Add at least one model besides the base in Models.' : 'Diagnostics compare at most 8 models besides the base.'}</p>}
      <ProgressLine job={job} testId="diagnostics-status" />
      {result && (
        <>
          <div className="charts diag-charts">
            <DiagnosticsChart title="Task-vector norm per layer" yLabel="‖model − base‖" series={normSeries} layers={layers} testId="diag-norms" />
            {result.pairs.length > 0 && <DiagnosticsChart title="Cosine between task vectors" yLabel="cosine" series={pairSeries((l, p) => l.cosines[p])} layers={layers} domain={[-1, 1]} testId="diag-cosines" />}
            <DiagnosticsChart title="Sign conflicts" yLabel="fraction of weights" series={conflictSeries} layers={layers} domain={[0, 1]} testId="diag-conflicts" />
          </div>
          <details>
            <summary>Values</summary>
            <table aria-label="Diagnostics values" data-testid="diag-table">
              <thead><tr><th>layer</th>{result.models.map((m) => <th key={m}>norm {label(m)}</th>)}{result.pairs.map(([i, j]) => <th key={`c${i}-${j}`}>cos {pairLabel(i, j)}</th>)}<th>sign conflicts</th></tr></thead>
              <tbody>
                {result.layers.map((l) => (
                  <tr key={layerName(l.layer)} data-testid={`diag-row-${layerName(l.layer)}`}>
                    <td>{layerName(l.layer)}</td>
                    {l.norms.map((v, i) => <td key={i}>{v.toPrecision(4)}</td>)}
                    {l.cosines.map((v, p) => <td key={p}>{v.toFixed(3)}</td>)}
                    <td>{(100 * l.conflicts).toFixed(1)}%</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </details>
        </>
      )}
    </section>
  );
}
