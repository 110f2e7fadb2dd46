import { useEffect, useMemo, useRef, useState } from 'react';
import { recipeToYaml } from '../core/recipe/index.ts';
import { BENCHMARK_GROUPS, BENCHMARKS } from '../core/benchmarks/definitions.ts';
import type { DemoCatalog, EvalBackendChoice, ModelSummary, TaskInfo } from '../worker/protocol.ts';
import { tryDemo } from './demo.ts';
import { openDock } from './Dock.tsx';
import { formatScore } from './format.ts';
import { ProgressLine } from './ProgressLine.tsx';
import { isMinimised, stageSizes, useStudio } from './store.ts';

const numberInput = (value: number, onChange: (v: number) => void, label: string) => (
  <input type="number" min={1} value={value} aria-label={label} size={4} onChange={(e) => { const v = Number(e.target.value); if (Number.isInteger(v) && v > 0) onChange(v); }} />
);

/** The demo skills grouped by the family whose experts have them: the loaded family first (with
 * the skills of loaded experts marked), every skill once (under the first family that fits it). */
export function taskGroups(catalog: DemoCatalog | null, models: ModelSummary[]): { family: string | null; loaded: boolean; skills: { skill: string; expertLoaded: boolean }[] }[] {
  if (!catalog) return [];
  const loadedRefs = new Set(models.map((m) => m.ref));
  const loadedFamilies = new Set(catalog.models.filter((m) => loadedRefs.has(m.ref)).map((m) => m.family));
  const expertSkills = new Set(catalog.models.filter((m) => loadedRefs.has(m.ref) && m.skill).map((m) => m.skill));
  const families = [...new Set(catalog.models.map((m) => m.family))].sort((a, b) => Number(loadedFamilies.has(b)) - Number(loadedFamilies.has(a)));
  const placed = new Set<string>();
  const skills = [...new Set(catalog.tasks.map((t) => t.skill))];
  const groups = families.map((family) => {
    const own = skills.filter((sk) => !placed.has(sk) && catalog.models.some((m) => m.family === family && m.skill === sk));
    own.forEach((sk) => placed.add(sk));
    return { family, loaded: loadedFamilies.has(family), skills: own.sort((a, b) => Number(expertSkills.has(b)) - Number(expertSkills.has(a))).map((skill) => ({ skill, expertLoaded: expertSkills.has(skill) })) };
  }).filter((g) => g.skills.length > 0);
  const rest = skills.filter((sk) => !placed.has(sk));
  return rest.length ? [...groups, { family: null, loaded: false, skills: rest.map((skill) => ({ skill, expertLoaded: false })) }] : groups;
}

/** Step 3: the tasks the merge is scored on, grouped by the model family they fit. */
export function TasksPanel() {
  const catalog = useStudio((s) => s.catalog);
  const models = useStudio((s) => s.models);
  const tasks = useStudio((s) => s.tasks);
  const selected = useStudio((s) => s.selectedTasks);
  const taskError = useStudio((s) => s.taskError);
  const benchmarkLoading = useStudio((s) => s.benchmarkLoading);
  const { toggleTask, addTaskFile, addBenchmark } = useStudio.getState();
  const dropped = tasks.filter((t) => t.origin === 'dropped');
  const benchmarks = tasks.filter((t) => t.origin === 'benchmark');
  const [benchName, setBenchName] = useState('arc_easy');
  const [benchLimit, setBenchLimit] = useState(50);
  const groups = taskGroups(catalog, models);
  const box = (t: Pick<TaskInfo, 'file'>) => <input type="checkbox" checked={selected.includes(t.file)} onChange={(e) => void toggleTask(t.file, e.target.checked)} aria-label={`Task ${t.file}`} />;

  return (
    <section aria-labelledby="tasks-heading" className="panel tasks">
      <h2 id="tasks-heading">Tasks</h2>
      {selected.length === 0 && <p className="hint" data-testid="tasks-hint">Tick the tasks to score the merge on: the skills of the loaded experts fit best.</p>}
      {groups.map((g) => (
        <div key={g.family ?? 'other'} className={`task-family${g.loaded ? ' loaded' : ''}`} role="group" aria-label={g.family ? `Tasks of the ${g.family} family` : 'Other tasks'} data-testid={`task-family-${g.family ?? 'other'}`}>
          <h3>{g.family ? <>{g.family} {g.loaded ? <span className="badge">loaded</span> : <span className="muted">(not loaded)</span>}</> : 'Other tasks'}</h3>
          {g.skills.map(({ skill, expertLoaded }) => (
            <div key={skill} className="task-skill" role="group" aria-label={`${skill} tasks`}>
              <strong>{skill}</strong>{expertLoaded && <span className="muted" title="an expert with this skill is loaded"> · expert loaded</span>}{' '}
              {catalog!.tasks.filter((t) => t.skill === skill).map((t) => (
                <label key={t.file} title={`${t.items} items${t.description ? ` · ${t.description}` : ''}`}>
                  {box(t)}
                  {t.kind === 'exact_match' ? 'gen' : t.kind === 'multiple_choice' ? 'mc' : 'ppl'}
                </label>
              ))}
            </div>
          ))}
        </div>
      ))}
      {dropped.length > 0 && (
        <div className="task-family" role="group" aria-label="Your task files">
          <h3>Your task files</h3>
          {dropped.map((t) => <label key={t.file}>{box(t)} {t.file} ({t.items})</label>)}
        </div>
      )}
      {benchmarks.map((t) => (
        <label key={t.file} title={`${t.items} of ${t.of ?? t.items} documents loaded`}>
          {box(t)} {t.file} ({t.items} of {t.of ?? t.items} docs)
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
    </section>
  );
}

/** A small line of the last values (oldest left), the newest as a dot. */
function Sparkline({ values, label }: { values: number[]; label: string }) {
  if (values.length < 2) return null;
  const w = 64;
  const h = 18;
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const y = (v: number) => (hi === lo ? h / 2 : h - 2 - ((v - lo) / (hi - lo)) * (h - 4));
  const x = (i: number) => 2 + (i * (w - 4)) / (values.length - 1);
  const d = values.map((v, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  return (
    <svg width={w} height={h} role="img" aria-label={label} className="sparkline">
      <path d={d} fill="none" stroke="#64748b" strokeWidth={1.5} />
      <circle cx={x(values.length - 1)} cy={y(values[values.length - 1])} r={2.5} fill="#1d4ed8" />
    </svg>
  );
}

const TREND_LENGTH = 8;

/** The live scores of the recipe on screen, beside the editor: value, subset, and the trend over the last changes. */
export function EvalPanel() {
  const models = useStudio((s) => s.models);
  const selected = useStudio((s) => s.selectedTasks);
  const live = useStudio((s) => s.live);
  const job = useStudio((s) => s.evalJob);
  const stage = useStudio((s) => s.lastStage);
  const catalog = useStudio((s) => s.catalog);
  const { setLive, evaluateNow, cancelEval } = useStudio.getState();
  const recipe = useStudio((s) => s.recipe);
  const current = useMemo(() => recipeToYaml(recipe), [recipe]);
  // The scores of the last recipes evaluated live (one entry per recipe, its latest stage), oldest first.
  const [trend, setTrend] = useState<{ yaml: string; scores: Record<string, number> }[]>([]);
  const lastSeen = useRef<typeof stage>(null);
  useEffect(() => {
    if (!stage || stage === lastSeen.current) return;
    lastSeen.current = stage;
    const scores = Object.fromEntries(stage.scores.map((s) => [s.objective, s.value]));
    setTrend((t) => {
      const rest = t[t.length - 1]?.yaml === stage.yaml ? t.slice(0, -1) : t;
      return [...rest, { yaml: stage.yaml, scores }].slice(-TREND_LENGTH);
    });
  }, [stage]);
  const history = (objective: string) => trend.map((t) => t.scores[objective]).filter((v): v is number => v !== undefined);

  return (
    <section aria-labelledby="eval-heading" className="panel eval">
      <h2 id="eval-heading">Live evaluation</h2>
      <div className="row">
        <button type="button" disabled={selected.length === 0} onClick={() => void evaluateNow('live')}>Evaluate now</button>
        <button type="button" disabled={selected.length === 0} onClick={() => void evaluateNow('full')}>Full evaluation</button>
        <button type="button" disabled={job.status !== 'running'} onClick={cancelEval}>Cancel</button>
      </div>
      <ProgressLine job={job} testId="eval-status" />
      {!stage && (
        <div className="empty-state" data-testid="scores-empty">
          {models.length === 0 ? <p>No models loaded. Add a base and experts in <button type="button" className="linklike" onClick={() => openDock('models')}>1 Models</button>{catalog?.models.length ? <>, or <button type="button" className="linklike" onClick={() => void tryDemo()}>try the demo</button></> : null}.</p>
            : selected.length === 0 ? <p>No task ticked, so nothing is scored yet. Tick tasks in <button type="button" className="linklike" onClick={() => openDock('tasks')}>3 Tasks</button>{catalog?.models.length ? <>, or <button type="button" className="linklike" onClick={() => void tryDemo()}>try the demo</button></> : null}: every change to the recipe is then re-scored here.</p>
              : job.status === 'running' ? <p>Scoring the recipe on screen: {job.label}…</p>
                : <p>Press Evaluate now to score the recipe on screen.</p>}
        </div>
      )}
      {stage && (
        <table className={stage.yaml === current ? 'scores' : 'scores stale'} aria-label="Scores" data-testid="scores" data-current={stage.yaml === current} data-seconds={stage.seconds} data-merge-seconds={stage.mergeSeconds}>
          <thead><tr><th>Objective</th><th>Score</th><th>Subset</th><th>Trend</th></tr></thead>
          <tbody>
            {stage.scores.map((s) => {
              const h = history(s.objective);
              const prev = h.length > 1 ? h[h.length - 2] : undefined;
              const delta = prev === undefined ? 0 : s.value - prev;
              const better = isMinimised(s.objective) ? delta < 0 : delta > 0;
              return (
                <tr key={s.objective}><td>{s.objective}</td><td data-testid={`score-${s.objective}`} className="score-value" data-value={s.value}>{formatScore(s.metric, s.value)}</td><td>{s.items} of {s.of}{s.items === s.of ? ' (all)' : ''}</td>
                  <td className="trend" data-testid={`trend-${s.objective}`}>
                    <Sparkline values={h} label={`${s.objective} over the last ${h.length} recipes`} />
                    {prev !== undefined && delta !== 0 && <span className={better ? 'up' : 'down'}>{delta > 0 ? '▲' : '▼'}{formatScore(s.metric, Math.abs(delta))}</span>}
                  </td></tr>
              );
            })}
          </tbody>
          <caption className="muted">
            {stage.yaml !== current && <strong className="stale-note" data-testid="scores-stale">These scores are of the recipe before your last change{live.enabled && selected.length ? '; re-evaluating…' : ': press Evaluate now'}. </strong>}
            {stageSizes(stage)} items per task · merge on {stage.mergeBackend}, scored on {stage.evalBackend}; {stage.remerged} tensors re-merged{stage.mergeSeconds !== undefined && stage.remerged > 0 ? ` in ${stage.mergeSeconds.toFixed(1)} s` : ''}; {stage.seconds.toFixed(1)} s
            {stage.residency && <><br /><span data-testid="gpu-residency">{stage.residency}</span></>}</caption>
        </table>
      )}
      <div className="row live-settings">
          <label><input type="checkbox" checked={live.enabled} onChange={(e) => setLive({ enabled: e.target.checked })} /> re-evaluate after each change</label>
          <label>subset {numberInput(live.subset, (v) => setLive({ subset: v }), 'Subset size')}</label>
          <label>then {numberInput(live.refine, (v) => setLive({ refine: v }), 'Refined subset size')}</label>
          <label>runtime <select value={live.backend} onChange={(e) => setLive({ backend: e.target.value as EvalBackendChoice })}>
            <option value="auto">auto</option><option value="webgpu">WebGPU</option><option value="cpu">CPU</option>
          </select></label>
      </div>
    </section>
  );
}
