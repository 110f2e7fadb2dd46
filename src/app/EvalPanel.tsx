import { useMemo, useState } from 'react';
import { recipeToYaml } from '../core/recipe/index.ts';
import { BENCHMARK_GROUPS, BENCHMARKS } from '../core/benchmarks/definitions.ts';
import type { EvalBackendChoice } from '../worker/protocol.ts';
import { formatScore } from './format.ts';
import { ProgressLine } from './ProgressLine.tsx';
import { useStudio } from './store.ts';

export function EvalPanel() {
  const catalog = useStudio((s) => s.catalog);
  const tasks = useStudio((s) => s.tasks);
  const selected = useStudio((s) => s.selectedTasks);
  const taskError = useStudio((s) => s.taskError);
  const live = useStudio((s) => s.live);
  const job = useStudio((s) => s.evalJob);
  const stage = useStudio((s) => s.lastStage);
  const benchmarkLoading = useStudio((s) => s.benchmarkLoading);
  const { toggleTask, addTaskFile, addBenchmark, setLive, evaluateNow, cancelEval } = useStudio.getState();
  const recipe = useStudio((s) => s.recipe);
  const current = useMemo(() => recipeToYaml(recipe), [recipe]);
  const dropped = tasks.filter((t) => t.origin === 'dropped');
  const benchmarks = tasks.filter((t) => t.origin === 'benchmark');
  const [benchName, setBenchName] = useState('arc_easy');
  const [benchLimit, setBenchLimit] = useState(50);
  const skills = [...new Set(catalog?.tasks.map((t) => t.skill) ?? [])];
  const numberInput = (value: number, onChange: (v: number) => void, label: string) => (
    <input type="number" min={1} value={value} aria-label={label} size={4} onChange={(e) => { const v = Number(e.target.value); if (Number.isInteger(v) && v > 0) onChange(v); }} />
  );

  return (
    <section aria-labelledby="eval-heading" className="panel eval">
      <h2 id="eval-heading">Live evaluation</h2>
      <fieldset>
        <legend>Tasks</legend>
        <div className="task-grid">
          {skills.map((skill) => (
            <div key={skill} role="group" aria-label={`${skill} tasks`}>
              <strong>{skill}</strong>{' '}
              {catalog!.tasks.filter((t) => t.skill === skill).map((t) => (
                <label key={t.file} title={`${t.items} items`}>
                  <input type="checkbox" checked={selected.includes(t.file)} onChange={(e) => void toggleTask(t.file, e.target.checked)} aria-label={`Task ${t.file}`} />
                  {t.kind === 'exact_match' ? 'gen' : t.kind === 'multiple_choice' ? 'mc' : 'ppl'}
                </label>
              ))}
            </div>
          ))}
          {dropped.map((t) => (
            <label key={t.file}><input type="checkbox" checked={selected.includes(t.file)} onChange={(e) => void toggleTask(t.file, e.target.checked)} aria-label={`Task ${t.file}`} /> {t.file} ({t.items})</label>
          ))}
        </div>
        {benchmarks.map((t) => (
          <label key={t.file} title={`${t.items} of ${t.of ?? t.items} documents loaded`}>
            <input type="checkbox" checked={selected.includes(t.file)} onChange={(e) => void toggleTask(t.file, e.target.checked)} aria-label={`Task ${t.file}`} /> {t.file} ({t.items} of {t.of ?? t.items} docs)
          </label>
        ))}
        <form className="row" aria-label="Add a benchmark" onSubmit={(e) => { e.preventDefault(); void addBenchmark(benchName, benchLimit); }}>
          <label>Benchmark <select aria-label="Benchmark" value={benchName} onChange={(e) => setBenchName(e.target.value)}>
            {[...BENCHMARKS.keys(), ...BENCHMARK_GROUPS.keys()].filter((n) => !n.startsWith('mmlu_')).map((n) => <option key={n} value={n}>{n}</option>)}
            <optgroup label="MMLU subjects">
              {[...BENCHMARKS.keys()].filter((n) => n.startsWith('mmlu_')).map((n) => <option key={n} value={n}>{n}</option>)}
            </optgroup>
          </select></label>
          <label>first {numberInput(benchLimit, setBenchLimit, 'Benchmark documents')} documents</label>
          <button type="submit" disabled={benchmarkLoading}>{benchmarkLoading ? 'Reading the dataset…' : 'Add from the Hub'}</button>
        </form>
        <label className="linklike">Add a JSONL task file…<input type="file" accept=".jsonl,application/jsonl,text/plain" hidden onChange={(e) => { const f = e.target.files?.[0]; if (f) void addTaskFile(f); e.target.value = ''; }} /></label>
        {taskError && <p role="alert" className="error" data-testid="task-error">{taskError}</p>}
      </fieldset>
      <div className="row">
        <label><input type="checkbox" checked={live.enabled} onChange={(e) => setLive({ enabled: e.target.checked })} /> re-evaluate after each change</label>
        <label>subset {numberInput(live.subset, (v) => setLive({ subset: v }), 'Subset size')}</label>
        <label>then {numberInput(live.refine, (v) => setLive({ refine: v }), 'Refined subset size')}</label>
        <label>runtime <select value={live.backend} onChange={(e) => setLive({ backend: e.target.value as EvalBackendChoice })}>
          <option value="auto">auto</option><option value="webgpu">WebGPU</option><option value="cpu">CPU</option>
        </select></label>
      </div>
      <div className="row">
        <button type="button" disabled={selected.length === 0} onClick={() => void evaluateNow('live')}>Evaluate now</button>
        <button type="button" disabled={selected.length === 0} onClick={() => void evaluateNow('full')}>Full evaluation</button>
        <button type="button" disabled={job.status !== 'running'} onClick={cancelEval}>Cancel</button>
      </div>
      <ProgressLine job={job} testId="eval-status" />
      {stage && (
        <table className={stage.yaml === current ? 'scores' : 'scores stale'} aria-label="Scores" data-testid="scores" data-current={stage.yaml === current}>
          <thead><tr><th>Objective</th><th>Score</th><th>Subset</th></tr></thead>
          <tbody>
            {stage.scores.map((s) => (
              <tr key={s.objective}><td>{s.objective}</td><td data-testid={`score-${s.objective}`} data-value={s.value}>{formatScore(s.metric, s.value)}</td><td>{s.items} of {s.of}{s.items === s.of ? ' (all)' : ''}</td></tr>
            ))}
          </tbody>
          <caption className="muted">
            {stage.yaml !== current && <strong className="stale-note" data-testid="scores-stale">These scores are of the recipe before your last change{live.enabled && selected.length ? '; re-evaluating…' : ': press Evaluate now'}. </strong>}
            merge on {stage.mergeBackend}, scored on {stage.evalBackend}; {stage.remerged} tensors re-merged; {stage.seconds.toFixed(1)} s
            {stage.residency && <><br /><span data-testid="gpu-residency">{stage.residency}</span></>}</caption>
        </table>
      )}
    </section>
  );
}
