import { useState } from 'react';
import { CartesianGrid, Legend, Line, LineChart, Tooltip, XAxis, YAxis } from 'recharts';
import { modelColor } from './colors.ts';
import { useWidth } from './use-width.ts';
import type { DamCoefficientMean, DamUpdate } from '../worker/protocol.ts';
import { callback, engine, errorText } from './engine-client.ts';
import { useStudio } from './store.ts';
import { recipeToYaml } from '../core/recipe/index.ts';
import { recipeForExport } from '../worker/export-refs.ts';
import { DAM_APPROXIMATION_NOTE, damRecipe } from './dam-recipe.ts';
import { downloadBytes } from './download.ts';
import { missingMessage, openRecipe } from './open-recipe.ts';
import { defaultName, describeExport, ExportedFiles, ExportTargetFields, runExportTo, shardBytes } from './export-target.tsx';
import { ProgressLine } from './ProgressLine.tsx';
import type { ExportOutcome } from '../worker/protocol.ts';

type DamStatus = Extract<DamUpdate, { type: 'status' }>['status'] | 'idle';

/** Blue above uniform averaging (1/N), red below; saturated at +-1/N away. */
function cellColour(value: number, uniform: number): string {
  const t = Math.max(-1, Math.min(1, (value - uniform) / uniform));
  return t >= 0 ? `rgba(37, 99, 235, ${t.toFixed(3)})` : `rgba(220, 38, 38, ${(-t).toFixed(3)})`;
}

/** Differentiable Adaptive Merging: trains per-channel coefficients of the experts in the worker,
 * with a live loss curve and the learned per-layer means as a heatmap. */
export function DamPanel() {
  const models = useStudio((s) => s.models);
  const recipe = useStudio((s) => s.recipe);
  const [steps, setSteps] = useState('50');
  // The issue's default; the DAM README finds 0.01 trains faster on the demo family.
  const [lr, setLr] = useState('0.001');
  const [batch, setBatch] = useState('4');
  const [seed, setSeed] = useState('0');
  const [sequences, setSequences] = useState('32');
  const [status, setStatus] = useState<DamStatus>('idle');
  const [error, setError] = useState<string | null>(null);
  const [losses, setLosses] = useState<{ step: number; loss: number }[]>([]);
  const [coefficients, setCoefficients] = useState<{ models: string[]; means: DamCoefficientMean[] } | null>(null);
  const experts = models.map((m) => m.ref).filter((r) => r !== recipe.base_model);
  const [box, width] = useWidth<HTMLDivElement>(280);
  const labelOf = (ref: string) => models.find((m) => m.ref === ref)?.label ?? ref;

  const start = async () => {
    setError(null);
    if (experts.length < 2) return setError('DAM merges at least two experts: load them in Models first');
    // A paused or finished run continues (to a larger step count); anything else starts afresh.
    if (status !== 'paused' && status !== 'finished') {
      setLosses([]);
      setCoefficients(null);
    }
    try {
      await engine().startDam(
        { experts, steps: Number(steps), learningRate: Number(lr), batchSize: Number(batch), seed: Number(seed), maxSequences: Number(sequences) || undefined },
        callback((u: DamUpdate) => {
          if (u.type === 'step') setLosses((l) => [...l.filter((p) => p.step < u.step), { step: u.step, loss: u.loss }]);
          else if (u.type === 'coefficients') setCoefficients({ models: u.models, means: u.means });
          else {
            setStatus(u.status);
            if (u.error) setError(u.error);
          }
        }),
      );
    } catch (err) {
      setStatus('failed');
      setError(errorText(err));
    }
  };

  const [useNote, setUseNote] = useState<string | null>(null);
  const useAsRecipe = async () => {
    if (!coefficients) return;
    setUseNote(null);
    try {
      const missing = await openRecipe(damRecipe(coefficients.models, coefficients.means));
      setUseNote(missingMessage(missing) ?? 'The DAM merge (per-tensor means) is the current recipe: it is evaluated and exported as any recipe.');
    } catch (err) {
      setError(errorText(err));
    }
  };
  const exportYaml = () => {
    if (!coefficients) return;
    try {
      downloadBytes('dam-merge.yml', recipeToYaml(recipeForExport(damRecipe(coefficients.models, coefficients.means), useStudio.getState().catalog)), 'text/yaml');
    } catch (err) {
      setError(errorText(err));
    }
  };
  // The exact export shares the Export panel's target, name, shard size and export job (one export at a time).
  const exportJob = useStudio((s) => s.exportJob);
  const choice = useStudio((s) => s.exportTarget);
  const setChoice = useStudio((s) => s.setExportTarget);
  const exportMine = useStudio((s) => s.exportBy === 'dam');
  const [exported, setExported] = useState<ExportOutcome | null>(null);
  const exportExact = async () => {
    const setJob = (job: typeof exportJob) => useStudio.setState({ exportJob: job, exportBy: 'dam' });
    useStudio.setState({ exportBy: 'dam' });
    setExported(null);
    const shardSize = shardBytes(choice);
    if (typeof shardSize === 'string') return setJob({ status: 'error', error: shardSize });
    const exportName = choice.name.trim() || defaultName('dam-merge');
    const out = await runExportTo(choice.kind, 'exact DAM export', exportName, setJob, (target) => engine().exportDam(target, 'export', callback((e) => {
      if (e.type === 'progress') setJob({ status: 'running', progress: e.progress, label: 'exact DAM export' });
    }), { shardSize }), (o, where) => `exact DAM merge: ${describeExport(o, where)}`);
    setExported(out);
  };
  const exportBusy = exportJob.status === 'running';
  const uniform = coefficients ? 1 / coefficients.models.length : 0;
  const last = losses[losses.length - 1];
  const busy = status === 'running' || status === 'preparing';
  return (
    <section aria-labelledby="dam-heading" className="panel dam">
      <h2 id="dam-heading">DAM (learned merge)</h2>
      <div className="row">
        <label>steps <input value={steps} onChange={(e) => setSteps(e.target.value)} size={4} aria-label="DAM steps" /></label>
        <label>lr <input value={lr} onChange={(e) => setLr(e.target.value)} size={6} aria-label="DAM learning rate" /></label>
        <label>batch <input value={batch} onChange={(e) => setBatch(e.target.value)} size={2} aria-label="DAM batch size" /></label>
        <label>seed <input value={seed} onChange={(e) => setSeed(e.target.value)} size={3} aria-label="DAM seed" /></label>
        <label>sequences <input value={sequences} onChange={(e) => setSequences(e.target.value)} size={3} aria-label="DAM sequences per expert" /></label>
      </div>
      <div className="row">
        <button type="button" onClick={() => void start()} disabled={busy}>{status === 'paused' ? 'Resume DAM' : status === 'finished' ? 'Continue DAM' : 'Start DAM'}</button>
        <button type="button" onClick={() => void engine().pauseDam()} disabled={status !== 'running'}>Pause DAM</button>
        <button type="button" onClick={() => { void engine().stopDam(); if (status === 'paused') setStatus('stopped'); }} disabled={!busy && status !== 'paused'}>Stop DAM</button>
        <span data-testid="dam-status" className="muted">{status}</span>
        <span data-testid="dam-step" className="muted">{last ? `step ${last.step} · loss ${last.loss.toFixed(5)}` : ''}</span>
      </div>
      {error && <p role="alert" className="error">{error}</p>}
      {status === 'idle' && losses.length === 0 && <p className="empty-state">Learns per-channel merge coefficients of the {experts.length} expert(s) by distilling each on its own skill's tasks (CPU, in the worker): the loss curve and the learned per-layer means appear here.</p>}
      {busy && losses.length === 0 && <p className="progress">Preparing: reading the experts and their task texts…</p>}
      <div ref={box}>
      {losses.length > 0 && (
        <figure aria-label="DAM loss curve">
          <figcaption>Training loss</figcaption>
          <LineChart width={Math.max(220, Math.min(420, width))} height={200} data={losses} margin={{ top: 4, right: 12, bottom: 24, left: 4 }}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey="step" label={{ value: 'step', position: 'insideBottom', offset: -12, fontSize: 11 }} />
            <YAxis width={56} domain={['auto', 'auto']} label={{ value: 'distillation loss', angle: -90, position: 'insideLeft', offset: 4, fontSize: 11, style: { textAnchor: 'middle' } }} />
            <Tooltip />
            <Legend verticalAlign="top" height={20} />
            <Line dataKey="loss" name="training loss" stroke="#2563eb" dot isAnimationActive={false} />
          </LineChart>
        </figure>
      )}
      {coefficients && (
        <div style={{ overflowX: 'auto' }}>
          <table aria-label="DAM coefficients" className="points">
            <thead><tr><th>model</th>{coefficients.means.map((m) => <th key={m.tensor} title={m.tensor}>{m.layer === null ? '' : `L${m.layer} `}{m.kind}</th>)}</tr></thead>
            <tbody>{coefficients.models.map((model, i) => (
              <tr key={model}><th scope="row" data-ref={model} title={model}><span className="swatch" style={{ background: modelColor(model) }} aria-hidden="true" />{labelOf(model)}</th>{coefficients.means.map((m) => (
                <td key={m.tensor} data-testid="dam-cell" title={`${m.tensor}: ${m.means[i]}`} style={{ background: cellColour(m.means[i], uniform) }}>{m.means[i].toFixed(3)}</td>
              ))}</tr>
            ))}</tbody>
          </table>
          <p className="chart-legend"><span><span className="swatch" style={{ background: 'rgba(37, 99, 235, 0.8)' }} />above uniform (1/{coefficients.models.length})</span><span><span className="swatch" style={{ background: 'rgba(220, 38, 38, 0.8)' }} />below uniform</span></p>
          <h3>As a recipe: per-tensor means (approximation)</h3>
          <div className="row">
            <button type="button" onClick={() => void useAsRecipe()} disabled={busy} title="Approximation: per-tensor means of the coefficients">Use DAM merge as the recipe</button>
            <button type="button" onClick={exportYaml} title="Approximation: per-tensor means of the coefficients">Export DAM recipe (.yml)</button>
          </div>
          <p className="muted" data-testid="dam-approximation">{DAM_APPROXIMATION_NOTE}</p>
          {useNote && <p role="status" className="muted" data-testid="dam-use-note">{useNote}</p>}
          <h3>Exact: per-channel coefficients</h3>
          <p className="muted" data-testid="dam-exact-note">Exact: every expert&apos;s weights scaled per input channel by the learned coefficients and summed, as <code>merge-studio dam</code> writes it — a model folder (shards, config.json, tokenizer, model card) with <code>dam/coefficients.safetensors</code> and <code>dam/training.json</code>. Same target, name and shard size as the Export panel.</p>
          <div className="row">
            <ExportTargetFields choice={choice} onChange={setChoice} what="Exact DAM export" />
            <button type="button" onClick={() => void exportExact()} disabled={busy || exportBusy}>Export exact DAM merge</button>
            <button type="button" onClick={() => void engine().cancel('export')} disabled={!exportBusy || !exportMine}>Cancel DAM export</button>
          </div>
          {exportMine && <ProgressLine job={exportJob} testId="dam-export-status" />}
          {exportMine && exported && <ExportedFiles out={exported} testId="dam-export-files" />}
        </div>
      )}
      </div>
    </section>
  );
}
