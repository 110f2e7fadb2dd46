// The studio's state. The single source of truth for the merge is `recipe` (mergekit-shaped);
// everything else is either what the engine reported about it (scores, checks) or view settings.
import { create } from 'zustand';
import type { Progress } from '../core/progress.ts';
import { parseRecipeYaml, recipeToYaml, type Recipe } from '../core/recipe/index.ts';
import type { SearchStatus, SearchSummary, TrialRecord } from '../core/search/index.ts';
import type { CompatibilitySummary, DemoCatalog, EngineEvent, EvalBackendChoice, EvalStage, ModelSource, ModelSummary, TaskInfo, TaskScore } from '../worker/protocol.ts';
import { callback, engine, errorText, isAbort } from './engine-client.ts';
import { withBase, withMethod, withModelAdded, withModelRemoved } from './recipe-edit.ts';
import { recipeFromExport } from '../worker/export-refs.ts';
import { rememberSource } from './model-sources.ts';
import { initialExportTarget, type ExportTargetChoice } from './export-target.tsx';

export interface FrontierPoint {
  id: number;
  recipe: Recipe;
  yaml: string;
  scores: Record<string, number>;
  /** Smallest subset size the scores were measured on. */
  items: number;
  full: boolean;
  origin: 'live' | 'full' | 'sweep' | 'search';
  label: string;
}

export interface Settings {
  hubUrl: string;
  token: string;
  /** Keep the token in localStorage (otherwise it lives in memory only). */
  remember: boolean;
  /** Seconds a Hub request may wait to connect, for its first byte, or on a stalled body; '' = defaults. */
  hubTimeout: string;
  /** Keep the Hub's files in this browser's Cache Storage for the next visit (on by default). */
  hubCache: boolean;
}

export type JobState = { status: 'idle' } | { status: 'running'; progress?: Progress; label: string } | { status: 'error'; error: string } | { status: 'done'; message: string };

export interface StudioState {
  recipe: Recipe;
  yamlError: string | null;
  check: { ok: true; notices: string[]; steps: number; layers: number } | { ok: false; error: string } | null;
  catalog: DemoCatalog | null;
  models: ModelSummary[];
  adding: string[];
  /** While adding models: the latest Hub stall or retry ("...: stalled (...); retry 1 of 5 in 0.5 s"). */
  hubStatus: string | null;
  /** The model whose Hub stall `hubStatus` describes: only its own add clears it. */
  hubStatusOf: string | null;
  modelError: string | null;
  /** The Hub model that last failed to open, offered for a retry. */
  failedSource: { source: ModelSource; label: string } | null;
  compatibility: CompatibilitySummary | null;
  settings: Settings;
  tasks: TaskInfo[];
  selectedTasks: string[];
  taskError: string | null;
  live: { enabled: boolean; subset: number; refine: number; backend: EvalBackendChoice };
  evalJob: JobState;
  /** The latest live or full evaluation's scores and the recipe (as YAML) they describe. */
  lastStage: (EvalStage & { yaml: string }) | null;
  points: FrontierPoint[];
  axes: [string, string];
  exportJob: JobState;
  /** Which panel started the export job (both show it; the DAM panel only its own). */
  exportBy: 'export' | 'dam';
  /** Where exports go (the Export and DAM panels share it). */
  exportTarget: ExportTargetChoice;
  setExportTarget(change: Partial<ExportTargetChoice>): void;
  search: { status: SearchStatus; trials: TrialRecord<Recipe>[]; summary: SearchSummary | null; error: string | null };

  setRecipe(recipe: Recipe): void;
  importYaml(text: string): boolean;
  /** Opens a model. `opts.quiet` (the studio's own start-up loads) leaves an error on screen from another add in place. */
  addModel(source: ModelSource, label: string, opts?: { quiet?: boolean }): Promise<void>;
  /** Stops opening the model `label` (e.g. a Hub that stalls). */
  cancelAdd(label: string): void;
  removeModel(ref: string): void;
  setBase(ref: string | undefined): void;
  setMethod(method: string): void;
  updateSettings(s: Partial<Settings>): void;
  toggleTask(file: string, on: boolean): Promise<void>;
  addTaskFile(file: File): Promise<void>;
  /** Reads a benchmark (lm-eval-style task) from its Hub dataset: the first `limit` documents. */
  addBenchmark(name: string, limit: number): Promise<void>;
  /** True while a benchmark's dataset is being read. */
  benchmarkLoading: boolean;
  setLive(s: Partial<StudioState['live']>): void;
  evaluateNow(kind: 'live' | 'full'): Promise<void>;
  /** Stops every evaluation (live, full, sweep) and returns the evaluation to idle at once. */
  cancelEval(): void;
  sweep(apply: (v: number) => Recipe, values: number[], label: (v: number) => string): Promise<void>;
  setAxes(axes: [string, string]): void;
  loadPoint(p: FrontierPoint): void;
  /** Puts back saved frontier points (a session restore); new points are numbered after them. */
  restorePoints(points: FrontierPoint[], axes: [string, string]): void;
  addSearchTrial(trial: TrialRecord<Recipe>, summary: SearchSummary): void;
}

const SETTINGS_KEY = 'merge-studio.settings';

function initialSettings(): Settings {
  const defaults: Settings = { hubUrl: 'https://huggingface.co', token: '', remember: false, hubTimeout: '', hubCache: true };
  try {
    const saved = JSON.parse(localStorage.getItem(SETTINGS_KEY) ?? 'null') as Partial<Settings> | null;
    return saved ? { ...defaults, ...saved, remember: Boolean(saved.token) } : defaults;
  } catch {
    return defaults;
  }
}

let pointIds = 0;
let sweepRunning = false;
let sweepCancelled = false;
let evalRuns = 0;

function pointLabel(recipe: Recipe): string {
  if (recipe.stages?.length) return `per block: ${recipe.stages.map((s) => s.merge_method).join(' / ')}`;
  const parts = [recipe.merge_method];
  for (const m of recipe.models ?? []) {
    const w = m.parameters?.weight;
    if (w !== undefined) parts.push(`${m.model.split('/').pop()} w=${Array.isArray(w) ? '[…]' : JSON.stringify(w)}`);
  }
  const lambda = recipe.parameters?.lambda;
  if (lambda !== undefined) parts.push(`λ=${JSON.stringify(lambda)}`);
  return parts.join(' · ');
}

/** Subset sizes of a stage as the scores table shows them: "32 of 300" per task, each size once. */
export function stageSizes(stage: EvalStage): string {
  const sizes = [...new Set(stage.scores.map((s) => (s.of > 0 ? `${s.items} of ${s.of}` : String(s.items))))];
  return sizes.length ? sizes.join(', ') : String(stage.items);
}

function doneMessage(stage: EvalStage): string {
  return `${stageSizes(stage)} items per task in ${stage.seconds.toFixed(1)} s`;
}

/** The recipe a single model is evaluated as: the model itself, unchanged. */
function asItIs(model: string): Recipe {
  return { merge_method: 'passthrough', models: [{ model }] };
}

/** What an evaluation of `recipe` runs: a recipe with a base and nothing to merge evaluates the base as it is. */
export function evaluatedRecipe(recipe: Recipe): Recipe {
  if (!recipe.slices && !recipe.stages?.length && recipe.base_model && !(recipe.models ?? []).some((m) => m.model !== recipe.base_model)) return asItIs(recipe.base_model);
  return recipe;
}

function scoresOf(stage: EvalStage): Record<string, number> {
  return Object.fromEntries(stage.scores.map((s: TaskScore) => [s.objective, s.value]));
}

/** Engine job ids of the adds in flight, per label (two adds may share a label: see addModel). */
const addJobs = new Map<string, string[]>();
let addCounter = 0;

export const useStudio = create<StudioState>()((set, get) => {
  /** Adds or updates the frontier point of a recipe with a stage's scores. */
  const record = (recipe: Recipe, stage: EvalStage, origin: FrontierPoint['origin']) => {
    const yaml = recipeToYaml(recipe);
    const points = get().points;
    const existing = points.find((p) => p.yaml === yaml);
    const scores = scoresOf(stage);
    const point: FrontierPoint = existing
      ? { ...existing, scores: { ...existing.scores, ...scores }, items: stage.items, full: stage.full, origin: existing.origin === 'live' ? origin : existing.origin }
      : { id: ++pointIds, recipe, yaml, scores, items: stage.items, full: stage.full, origin, label: pointLabel(recipe) };
    const next = existing ? points.map((p) => (p === existing ? point : p)) : [...points, point];
    const axes = get().axes;
    const names = Object.keys(scores);
    let fixedAxes: [string, string] = axes[0] && axes[1] ? axes : [names[0] ?? '', names[1] ?? names[0] ?? ''];
    // Two different objectives as soon as there are two.
    const other = names.find((n) => n !== fixedAxes[0]);
    if (fixedAxes[0] === fixedAxes[1] && other) fixedAxes = [fixedAxes[0], other];
    set({ points: next, axes: fixedAxes });
  };

  const runEval = async (recipe: Recipe, stages: number[], jobId: string, origin: FrontierPoint['origin']) => {
    const { selectedTasks, live } = get();
    const run = ++evalRuns;
    const yaml = recipeToYaml(recipe);
    let last: EvalStage | null = null;
    set({ evalJob: { status: 'running', label: origin === 'full' ? 'full evaluation' : `subset of ${stages[0]}` } });
    try {
      await engine().evaluate({ recipe: evaluatedRecipe(recipe), tasks: selectedTasks, stages, backend: live.backend }, jobId, callback((e) => {
        // Progress messages can arrive after the job settled, or from a superseded job.
        if (e.type === 'progress') {
          if (run === evalRuns && get().evalJob.status === 'running') set({ evalJob: { status: 'running', progress: e.progress, label: e.progress.phase } });
        }
        else {
          last = e.stage;
          // Sweeps and searches score other recipes: the live table keeps describing the one on screen.
          if (origin === 'live' || origin === 'full') set({ lastStage: { ...e.stage, yaml } });
          record(recipe, e.stage, origin);
          // A stage's message can arrive after the job settled: the status line follows it.
          if (run === evalRuns && get().evalJob.status === 'done') set({ evalJob: { status: 'done', message: doneMessage(e.stage) } });
        }
      }));
      if (run !== evalRuns) return;
      const stage = last as EvalStage | null;
      set({ evalJob: { status: 'done', message: stage ? doneMessage(stage) : 'done' } });
    } catch (err) {
      if (run !== evalRuns) return;
      // A cancelled run (nothing superseded it) leaves the evaluation idle, not "running".
      set({ evalJob: isAbort(err) ? { status: 'done', message: 'evaluation cancelled' } : { status: 'error', error: errorText(err) } });
    }
  };

  return {
    recipe: { merge_method: 'task_arithmetic' },
    yamlError: null,
    check: null,
    catalog: null,
    models: [],
    adding: [],
    hubStatus: null,
    hubStatusOf: null,
    modelError: null,
    failedSource: null,
    compatibility: null,
    settings: initialSettings(),
    tasks: [],
    selectedTasks: [],
    taskError: null,
    benchmarkLoading: false,
    live: { enabled: true, subset: 8, refine: 32, backend: 'auto' },
    evalJob: { status: 'idle' },
    lastStage: null,
    points: [],
    axes: ['', ''],
    exportJob: { status: 'idle' },
    exportBy: 'export',
    exportTarget: initialExportTarget(),
    setExportTarget: (change) => set((s) => ({ exportTarget: { ...s.exportTarget, ...change } })),
    search: { status: 'idle', trials: [], summary: null, error: null },

    setRecipe(recipe) {
      set({ recipe, yamlError: null });
    },

    importYaml(text) {
      try {
        // A recipe the studio wrote names demo models by their folders; they are loaded here under their ids.
        const recipe = recipeFromExport(parseRecipeYaml(text, { source: 'recipe YAML' }), get().catalog);
        set({ recipe, yamlError: null });
        return true;
      } catch (err) {
        set({ yamlError: errorText(err) });
        return false;
      }
    },

    async addModel(source, label, opts) {
      // Several adds run at once (the start-up demo family, the user's Hub id): each one clears and sets only
      // what belongs to it, so a slow load finishing cannot wipe another model's stall notice or error. Each
      // add is its own engine job: a Hub id equal to a demo model's ref (the mock Hub serves the zoo as
      // `zoo/...`) must not supersede, or be superseded by, the demo family's add of the same name.
      const jobId = `add:${label}:${++addCounter}`;
      addJobs.set(label, [...(addJobs.get(label) ?? []), jobId]);
      set((s) => (opts?.quiet ? { adding: [...s.adding, label] } : { adding: [...s.adding, label], modelError: null, failedSource: null }));
      try {
        const onEvent = callback((e: EngineEvent) => {
          if (e.type === 'progress' && e.progress.phase === 'hub-retry') set({ hubStatus: e.progress.message ?? null, hubStatusOf: label });
        });
        const summary = await engine().addModel(source, jobId, onEvent);
        rememberSource(summary.ref, source);
        set((s) => {
          const models = [...s.models.filter((m) => m.ref !== summary.ref), summary];
          let recipe = s.recipe;
          if (!recipe.slices) recipe = recipe.base_model === undefined && (summary.label.endsWith('-base') || models.length === 1) ? withBase(recipe, summary.ref) : withModelAdded(recipe, summary.ref);
          return { models, recipe };
        });
      } catch (err) {
        if (isAbort(err)) return;
        const message = errorText(err);
        set({ modelError: message.includes(label) ? message : `${label}: ${message}`, failedSource: source.kind === 'hub' ? { source, label } : null });
      } finally {
        const left = (addJobs.get(label) ?? []).filter((j) => j !== jobId);
        if (left.length) addJobs.set(label, left);
        else addJobs.delete(label);
        set((s) => {
          const at = s.adding.indexOf(label);
          const adding = at < 0 ? s.adding : [...s.adding.slice(0, at), ...s.adding.slice(at + 1)];
          return { adding, ...(s.hubStatusOf === label ? { hubStatus: null, hubStatusOf: null } : {}) };
        });
      }
    },

    cancelAdd(label) {
      for (const jobId of addJobs.get(label) ?? []) void engine().cancel(jobId);
    },

    removeModel(ref) {
      void engine().removeModel(ref);
      set((s) => ({ models: s.models.filter((m) => m.ref !== ref), recipe: withModelRemoved(s.recipe, ref) }));
    },

    setBase(ref) {
      set((s) => {
        let recipe = s.recipe;
        const old = recipe.base_model;
        recipe = withBase(recipe, ref);
        if (old && old !== ref) recipe = withModelAdded(recipe, old);
        return { recipe };
      });
    },

    setMethod(method) {
      set((s) => ({ recipe: withMethod(s.recipe, method) }));
    },

    updateSettings(patch) {
      const settings = { ...get().settings, ...patch };
      set({ settings });
      if (settings.remember) localStorage.setItem(SETTINGS_KEY, JSON.stringify(settings));
      else localStorage.setItem(SETTINGS_KEY, JSON.stringify({ hubUrl: settings.hubUrl, hubTimeout: settings.hubTimeout, hubCache: settings.hubCache }));
    },

    async toggleTask(file, on) {
      set({ taskError: null });
      try {
        if (on) {
          const known = get().tasks.some((t) => t.file === file);
          const tasks = known ? get().tasks : await engine().loadDemoTasks([file]);
          set((s) => ({ tasks, selectedTasks: [...new Set([...s.selectedTasks, file])] }));
        } else set((s) => ({ selectedTasks: s.selectedTasks.filter((f) => f !== file) }));
      } catch (err) {
        set({ taskError: errorText(err) });
      }
    },

    async addBenchmark(name, limit) {
      set({ taskError: null, benchmarkLoading: true });
      try {
        const { hubUrl, token } = get().settings;
        const tasks = await engine().addBenchmark({ name, limit, hubUrl, token: token || undefined }, 'benchmark');
        set((s) => ({ tasks, selectedTasks: [...new Set([...s.selectedTasks, name])] }));
      } catch (err) {
        set({ taskError: errorText(err) });
      } finally {
        set({ benchmarkLoading: false });
      }
    },

    async addTaskFile(file) {
      set({ taskError: null });
      try {
        const tasks = await engine().addTaskFile(file.name, await file.text());
        set((s) => ({ tasks, selectedTasks: [...new Set([...s.selectedTasks, file.name])] }));
      } catch (err) {
        set({ taskError: errorText(err) });
      }
    },

    setLive(patch) {
      set((s) => ({ live: { ...s.live, ...patch } }));
    },

    async evaluateNow(kind) {
      const { recipe, live } = get();
      if (kind === 'full') await runEval(recipe, [0], 'full', 'full');
      else await runEval(recipe, live.refine > live.subset ? [live.subset, live.refine] : [live.subset], 'live', 'live');
    },

    cancelEval() {
      evalRuns++;
      sweepCancelled = true;
      for (const job of ['live', 'full', 'sweep']) void engine().cancel(job);
      set({ evalJob: { status: 'done', message: 'evaluation cancelled' } });
    },

    async sweep(apply, values) {
      if (sweepRunning) return;
      sweepRunning = true;
      sweepCancelled = false;
      try {
        for (const v of values) {
          if (sweepCancelled) break;
          await runEval(apply(v), [get().live.subset], 'sweep', 'sweep');
        }
      } finally {
        sweepRunning = false;
      }
    },

    setAxes(axes) {
      set({ axes });
    },

    restorePoints(points, axes) {
      pointIds = Math.max(pointIds, ...points.map((p) => p.id));
      set({ points, axes });
    },

    loadPoint(p) {
      set({ recipe: p.recipe, yamlError: null });
    },

    addSearchTrial(trial, summary) {
      const stage: EvalStage = {
        scores: Object.entries(trial.objectives).map(([objective, value]) => ({ task: '', objective, metric: objective.split('.').pop() ?? '', value, items: 0, of: 0 })),
        items: 0, full: trial.fidelity === 1, seconds: trial.seconds, remerged: 0, mergeBackend: '', evalBackend: '',
      };
      if (trial.fidelity === 1) record(trial.recipe, stage, 'search');
      set((s) => ({ search: { ...s.search, trials: [...s.search.trials, trial], summary } }));
    },
  };
});

/** Objective names ranked downwards (perplexity) rather than upwards. */
export function isMinimised(objective: string): boolean {
  return /perplexity|nll/.test(objective);
}

/** Re-checks and (debounced) re-evaluates whenever the recipe or the task choice changes. */
export function startLiveLoop(debounceMs = 350): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let checkSeq = 0;
  let modelsChanged = false;
  const unsubscribe = useStudio.subscribe((state, prev) => {
    const recipeChanged = state.recipe !== prev.recipe || state.models !== prev.models;
    const tasksChanged = state.selectedTasks !== prev.selectedTasks || state.live !== prev.live;
    if (!recipeChanged && !tasksChanged) return;
    // The compatibility report compares every model with the base: redo it when either changes.
    if (state.models !== prev.models || state.recipe.base_model !== prev.recipe.base_model) modelsChanged = true;
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const seq = ++checkSeq;
      const { recipe, models } = useStudio.getState();
      if (models.length === 0) {
        // Nothing to plan: the plan line and the export say so instead of describing the last models.
        useStudio.setState({ check: { ok: false, error: 'No models loaded: add a base model and the models to merge in Models.' }, compatibility: null });
        return;
      }
      const evaluated = evaluatedRecipe(recipe);
      let check = await engine().check(evaluated);
      if (seq !== checkSeq) return;
      if (check.ok && evaluated !== recipe) check = { ...check, notices: [...check.notices, 'one model and nothing to merge: it is evaluated as it is'] };
      useStudio.setState({ check });
      if (modelsChanged) {
        modelsChanged = false;
        const refs = [recipe.base_model, ...models.map((m) => m.ref).filter((r) => r !== recipe.base_model)].filter((r): r is string => !!r);
        useStudio.setState({ compatibility: await engine().compatibility(refs) });
      }
      const s = useStudio.getState();
      if (check.ok && s.live.enabled && s.selectedTasks.length > 0) void s.evaluateNow('live');
      else if (!check.ok) void engine().cancel('live');
    }, debounceMs);
  });
  return () => {
    clearTimeout(timer);
    unsubscribe();
  };
}
