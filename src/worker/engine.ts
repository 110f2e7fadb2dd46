// The studio's engine, behind the page: it opens models, plans and merges recipes, keeps one merged
// model resident for live evaluation (re-merging only the tensors whose parameters changed),
// exports, and runs searches. Everything here is core; this file only wires it together and
// keeps the state a session needs. It runs in a Web Worker (studio.worker.ts) and, for tests, in Node.
import { cpuBackend, execute, plan, type MergeBackend, type Plan } from '../core/engine/index.ts';
import { MergeStudioError } from '../core/errors.ts';
import { mergedTokenizer, mergedTokenizerKey, remergeInto, runtimeForPlan, type MergedRuntime } from '../core/eval/merged.ts';
import { evaluateTask } from '../core/eval/metrics.ts';
import { formatResidency, shapeSignature, stageSteps, startLiveLoop, stepSignature, type LiveLoop } from '../core/eval/live.ts';
import type { EvalBackend } from '../core/eval/runtime.ts';
import { parseTaskJsonl, type EvalTask } from '../core/eval/tasks.ts';
import { evaluateBenchmark } from '../core/benchmarks/evaluate.ts';
import { openHubDatasetSplit } from '../core/benchmarks/hub-dataset.ts';
import { expandBenchmark, loadBenchmark, type LoadedBenchmark } from '../core/benchmarks/load.ts';
import { hubTree, browserHubCache } from '../core/hub/index.ts';
import { directoryHandleTree, fileListTree } from '../core/io/blob.ts';
import { newExportId, removeStalePartials, stagedDirectorySinks, withExportLock } from '../core/io/fs-access.ts';
import { memorySinks, memoryTree } from '../core/io/memory.ts';
import { beginOpfsExport, deleteExport, exportTree, listExports } from '../core/io/opfs-exports.ts';
import { portChunkWriter } from '../core/io/port-stream.ts';
import { tarSinks } from '../core/io/tar.ts';
import type { FileTree, SinkFactory } from '../core/io/types.ts';
import { openModel, type ModelHandle } from '../core/model/handle.ts';
import { compatibilityReport, formatCompatibilityReport, modelInventory } from '../core/model/inventory.ts';
import { loadVocabulary } from '../core/tokenizer/vocab.ts';
import { throwIfAborted, type ProgressCallback } from '../core/progress.ts';
import { referencedModels, stageHint, type Recipe } from '../core/recipe/index.ts';
import { createSpace, SearchRun, type SearchSummary } from '../core/search/index.ts';
import { createMergeObjective } from '../core/search/objective.ts';
import { coefficientMeans, DamRun, exportDamMerge, prepareDamProblem, type CoefficientLayout, type DamExpertSource, type DamStepRecord } from '../core/dam/index.ts';
import { tileKernelStatus } from '../core/simd/tiles.ts';
import { indexedDbTrialStore } from './trial-store.ts';
import { acquireGpu, destroyAllDevices, onDeviceLost, requireGpu, type DeviceLoss, type GpuContext } from '../core/gpu/device.ts';
import { KernelRunner } from '../core/gpu/runner.ts';
import { taskVectorDiagnostics, type DiagnosticsResult } from '../core/diagnostics/index.ts';
import type {
  BenchmarkRequest, CompatibilitySummary, DamExportRequest, DamRequest, DamUpdate, DemoCatalog, DemoModel, DemoTask, EngineEvent, EvalBackendChoice, EvalRequest, EvalStage, ExportOutcome,
  ExportTarget, ModelSource, ModelSummary, ModuleGroup, SearchRequest, SearchUpdate, StoredExportInfo, TaskInfo, TaskScore, TokenScoreRequest,
  TokenScores,
} from './protocol.ts';
import { urlFileTree } from './url-tree.ts';
import { exportRef } from './export-refs.ts';

/** The metric a task kind is ranked by on the frontier (the others are reported too). */
const PRIMARY_METRICS: Record<EvalTask['kind'], string[]> = {
  exact_match: ['exact_match'],
  multiple_choice: ['accuracy'],
  perplexity: ['perplexity'],
};

/** `add.gen.jsonl` -> `add`; a dropped `my-task.jsonl` -> `my-task`. */
function skillOf(file: string): string {
  return file.replace(/\.jsonl$/, '').replace(/\.(gen|mc|ppl)$/, '');
}

function labelOf(ref: string): string {
  return ref.split('/').filter(Boolean).pop() ?? ref;
}

interface Resident {
  runtime: MergedRuntime;
  /** The GPU live loop (inputs resident, merged straight into the evaluator), when merge and
   * evaluation both run on WebGPU; `runtime` is then the loop itself. */
  live?: LiveLoop;
  shape: string;
  steps: Map<string, string>;
  mergeBackend: string;
  evalBackend: EvalBackend;
}

export interface ExportModelOptions {
  /** Largest shard in bytes (default: the writer's). */
  shardSize?: number;
  /** Write merged tensors holding NaN or infinite values instead of stopping with an error. */
  allowNonFinite?: boolean;
  /** Where the merge runs: WebGPU when there is an adapter ('auto'), or the one named. */
  mergeOn?: EvalBackendChoice;
}

/** A DAM run's outcome, kept for its exact export: the coefficients as they were when it ended. */
interface DamResult {
  request: DamRequest;
  layout: CoefficientLayout;
  coefficients: Float64Array;
  steps: number;
  history: DamStepRecord[];
  trainingSeconds: number;
  tokens: number[];
}

/** Saved exports are copied in pieces of this size. */
const COPY_PIECE = 4 << 20;

/** The page's view of the worker's GPU: `lost` until a retry acquires a device again. */
export interface GpuState {
  enabled: boolean;
  lost: DeviceLoss | null;
}

export interface EngineOptions {
  /** URL of the demo zoo folder (holding manifest.json). */
  zooUrl: string;
  /** Whether a WebGPU adapter may be used (false in Node tests without Dawn). */
  gpu?: boolean;
  /** false: WebGPU evaluation merges to host memory and uploads (runtimeForPlan/remergeInto) instead
   * of the live loop; the baseline the live-loop bench compares with. Default true. */
  liveLoop?: boolean;
}

export class StudioEngine {
  private readonly handles = new Map<string, ModelHandle>();
  private readonly tasks = new Map<string, { task: EvalTask; bytes: Uint8Array; origin: 'demo' | 'dropped' }>();
  /** Benchmarks read from Hub datasets, by name (`arc_easy`, `mmlu`): the loaded documents of each member task. */
  private readonly benchmarks = new Map<string, { members: LoadedBenchmark[]; kind: 'multiple_choice' | 'exact_match'; metrics: string[] }>();
  private catalog: DemoCatalog | null = null;
  private readonly jobs = new Map<string, AbortController>();
  /** Jobs that want to hear of Hub stalls and retries (see treeOf). */
  private readonly hubListeners = new Set<(e: EngineEvent) => void>();
  private resident: Resident | null = null;
  /** Evaluations share the resident model: one at a time. */
  private queue: Promise<unknown> = Promise.resolve();
  private gpuMerge: Promise<MergeBackend | null> | null = null;
  private search: SearchRun<Recipe> | null = null;
  private dam: { run: DamRun; abort: AbortController; key: string; tokens: number[] } | null = null;
  /** What the last DAM run learned (when it paused, finished or was stopped): what exportDam writes. */
  private damResult: DamResult | null = null;
  /** Cancels the logits caching of a DAM run being prepared. */
  private damPreparing: AbortController | null = null;

  /** The page's listeners for Hub downloads (bytes, rate, ETA per model) and cache notices. */
  private readonly hubWatchers: ProgressCallback[] = [];

  /** Set when a GPU device of this worker was lost: everything runs on the CPU until retryGpu(). */
  private gpuLoss: DeviceLoss | null = null;
  private readonly gpuWatchers: ((state: GpuState) => void)[] = [];
  /** The diagnostics kernels' runner (its own device), made on first use. */
  private diagRunner: Promise<KernelRunner | null> | null = null;
  /** The live loop's device, made on first use and kept across loops (one device, not one per recipe shape). */
  private liveGpu: Promise<GpuContext> | null = null;

  constructor(private readonly options: EngineOptions) {
    if (options.gpu) onDeviceLost((loss) => this.deviceLost(loss));
  }

  // ---------------------------------------------------------------- GPU device loss

  /** A device was lost (driver reset, destroy(), tab in the background): drop every GPU object and
   * fall back to the CPU path, and tell the page, which offers a retry. */
  private deviceLost(loss: DeviceLoss): void {
    if (this.gpuLoss) return;
    this.gpuLoss = loss;
    this.gpuMerge = null;
    this.diagRunner = null;
    this.liveGpu = null;
    try {
      this.dropResident();
    } catch {
      // Its buffers went with the device.
      this.resident = null;
    }
    this.announceGpu();
  }

  private announceGpu(): void {
    const state = this.gpuState();
    for (const w of this.gpuWatchers) w(state);
  }

  gpuState(): GpuState {
    return { enabled: !!this.options.gpu, lost: this.gpuLoss };
  }

  /** Tells the page of every loss and recovery. */
  watchGpu(onState: (state: GpuState) => void): void {
    this.gpuWatchers.push(onState);
  }

  /** Acquires a fresh device after a loss; the next merge and evaluation use it. */
  async retryGpu(): Promise<GpuState> {
    if (!this.options.gpu) return this.gpuState();
    const lost = this.gpuLoss;
    this.gpuLoss = null;
    this.gpuMerge = null;
    this.diagRunner = null;
    this.liveGpu = null;
    this.dropResident();
    const backend = await this.mergeBackend();
    if (!backend) this.gpuLoss = { reason: 'retry-failed', message: `no WebGPU device after the loss (${lost?.message ?? 'unknown'})` };
    this.announceGpu();
    return this.gpuState();
  }

  /** Test hook (the page exposes it only with ?test-hooks): destroys this worker's devices, which
   * makes every one of them report a loss, as a driver reset would. */
  async loseGpuForTest(): Promise<number> {
    await this.mergeBackend();
    return destroyAllDevices();
  }

  // ---------------------------------------------------------------- diagnostics

  private diagnosticsRunner(): Promise<KernelRunner | null> {
    if (!this.options.gpu || this.gpuLoss) return Promise.resolve(null);
    this.diagRunner ??= acquireGpu().then((r) => (r.ok ? new KernelRunner(r.gpu) : null), () => null);
    return this.diagRunner;
  }

  /** Task-vector norms, pairwise cosines and sign conflicts of `models` against `base`, per layer:
   * on the GPU when there is one (or `backend` says so), else on the CPU. */
  async diagnostics(base: string, models: string[], backend: EvalBackendChoice, jobId: string, onEvent: (e: EngineEvent) => void): Promise<DiagnosticsResult> {
    const handle = (ref: string) => {
      const h = this.handles.get(ref);
      if (!h) throw new MergeStudioError('model-not-loaded', `diagnostics use '${ref}', which is not loaded`, { model: ref });
      return h;
    };
    return this.job(jobId, async (signal) => {
      const runner = backend === 'cpu' ? null : await this.diagnosticsRunner();
      if (backend === 'webgpu' && !runner) throw new MergeStudioError('no-webgpu', 'diagnostics on WebGPU were chosen, but no WebGPU device is available');
      return taskVectorDiagnostics(handle(base), models.map(handle), { runner, signal, onProgress: (progress) => onEvent({ type: 'progress', progress }) });
    });
  }

  /** Streams every Hub tree's progress to the page: 'download' per model, 'hub-cache-off' when the
   * browser storage is full and reads go on uncached, 'hub-retry' while a request is retried. */
  watchHub(onEvent: ProgressCallback): void {
    this.hubWatchers.push(onEvent);
  }

  // ---------------------------------------------------------------- models

  /** The demo zoo's models and tasks, from its manifest. */
  async demoCatalog(): Promise<DemoCatalog> {
    if (this.catalog) return this.catalog;
    const url = new URL('manifest.json', this.options.zooUrl).href;
    let manifest: Record<string, unknown>;
    try {
      const res = await fetch(url);
      if (!res.ok) return { models: [], tasks: [], notice: `The demo zoo is not available (${url}: HTTP ${res.status}). Add a model by Hub id or drop a folder.` };
      // Dev servers answer unknown paths with the app's index.html: only JSON counts as a manifest.
      const text = await res.text();
      if (!text.trimStart().startsWith('{')) return { models: [], tasks: [], notice: `The demo zoo is not available (no manifest at ${url}). Add a model by Hub id or drop a folder.` };
      manifest = JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      return { models: [], tasks: [], notice: `The demo zoo manifest could not be read (${url}): ${(err as Error).message}` };
    }
    const models: DemoModel[] = [];
    const families = (manifest.families ?? {}) as Record<string, { models?: Record<string, { path: string; role: string; skill: string | null; files: Record<string, { bytes: number }> }> }>;
    for (const [family, entry] of Object.entries(families)) {
      for (const [name, m] of Object.entries(entry.models ?? {})) {
        const files = Object.fromEntries(Object.entries(m.files).map(([f, info]) => [f, info.bytes]));
        models.push({ ref: `zoo/${family}-${name}`, family, name, role: m.role === 'base' ? 'base' : 'expert', skill: m.skill, path: m.path, files });
      }
    }
    const tasks: DemoTask[] = [];
    const taskEntries = (manifest.tasks ?? {}) as Record<string, { description?: string; files: Record<string, string>; counts: Record<string, number> }>;
    const KIND: Record<string, DemoTask['kind']> = { gen: 'exact_match', mc: 'multiple_choice', ppl: 'perplexity' };
    for (const [skill, t] of Object.entries(taskEntries)) {
      for (const [kind, path] of Object.entries(t.files)) {
        if (KIND[kind]) tasks.push({ file: path.split('/').pop()!, skill, kind: KIND[kind], items: t.counts[kind] ?? 0, description: t.description });
      }
    }
    await this.addRealModels(models, tasks);
    this.catalog = { models, tasks };
    return this.catalog;
  }

  /** Small pretrained models nobody here trained (real-models.json beside the zoo manifest, e.g.
   * stories260K), offered to try evaluation on; optional, so a missing file is no error. */
  private async addRealModels(models: DemoModel[], tasks: DemoTask[]): Promise<void> {
    let real: { models?: Record<string, { path: string; files: Record<string, { bytes: number }>; tasks?: Record<string, { path: string; kind: DemoTask['kind']; items: number; description?: string }> }> };
    try {
      const res = await fetch(new URL('real-models.json', this.options.zooUrl).href);
      const text = res.ok ? await res.text() : '';
      if (!text.trimStart().startsWith('{')) return;
      real = JSON.parse(text);
    } catch {
      return;
    }
    for (const [name, m] of Object.entries(real.models ?? {})) {
      const files = Object.fromEntries(Object.entries(m.files).map(([f, info]) => [f, info.bytes]));
      models.push({ ref: `zoo/${name}`, family: 'real models', name, role: 'base', skill: null, path: m.path, files });
      for (const [id, t] of Object.entries(m.tasks ?? {})) {
        tasks.push({ file: t.path.split('/').pop()!, path: t.path, skill: id.split('.')[0], kind: t.kind, items: t.items, description: t.description });
      }
    }
  }

  private treeOf(source: ModelSource, signal?: AbortSignal): Promise<{ tree: FileTree; ref: string; origin: ModelSummary['origin'] }> | { tree: FileTree; ref: string; origin: ModelSummary['origin'] } {
    if (source.kind === 'demo') {
      const model = this.catalog?.models.find((m) => m.ref === source.ref);
      if (!model) throw new MergeStudioError('demo-unknown', `no demo model '${source.ref}' in the zoo manifest`, { model: source.ref });
      return { tree: urlFileTree(model.ref, new URL(`${model.path}/`, this.options.zooUrl).href, model.files), ref: model.ref, origin: 'demo' };
    }
    if (source.kind === 'files') {
      if (source.files.length === 0) throw new MergeStudioError('files-empty', 'the dropped folder holds no files', {});
      // File paths do not survive the trip to the worker; fileListTree reads them from webkitRelativePath.
      const files = source.files.map(({ path, file }) => Object.defineProperty(file, 'webkitRelativePath', { value: path }));
      const tree = fileListTree(files);
      return { tree, ref: tree.name, origin: 'local' };
    }
    if (source.kind === 'directory') {
      return directoryHandleTree(source.handle, signal).then((tree) => ({ tree, ref: tree.name, origin: 'local' as const }));
    }
    return hubTree({
      repo: source.repo.trim(),
      revision: source.revision?.trim() || undefined,
      hubUrl: source.hubUrl,
      accessToken: source.token?.trim() || undefined,
      cache: typeof caches === 'undefined' || source.cache === false ? undefined : browserHubCache(),
      timeouts: source.timeoutS ? { connectMs: source.timeoutS * 1000, firstByteMs: source.timeoutS * 1000, stallMs: source.timeoutS * 1000 } : undefined,
      // Stalls and retries reach whichever job is reading from the Hub (adding a model, export).
      onProgress: (progress) => {
        for (const watch of this.hubWatchers) watch(progress);
        if (progress.phase === 'hub-retry') for (const l of this.hubListeners) l({ type: 'progress', progress });
      },
      signal,
    }).then((tree) => ({ tree, ref: tree.revision === 'main' ? tree.repo : `${tree.repo}@${tree.revision}`, origin: 'hub' as const }));
  }

  /** Opens a model (config and headers only) and describes it. `onEvent` hears of Hub requests
   * that stalled or failed and are being retried, so the page can show it and offer to cancel. */
  async addModel(source: ModelSource, jobId?: string, onEvent?: (e: EngineEvent) => void): Promise<ModelSummary> {
    if (onEvent) this.hubListeners.add(onEvent);
    return this.job(jobId, async (signal) => {
      if (source.kind === 'demo') await this.demoCatalog();
      const { tree, ref, origin } = await this.treeOf(source, signal);
      const handle = await openModel(tree, signal, ref);
      // Read now: planning is synchronous and needs each vocabulary when they differ.
      await loadVocabulary(handle, signal);
      const inv = await modelInventory(handle, signal);
      this.handles.set(ref, handle);
      const layerTensors: Partial<Record<ModuleGroup, string>> = {};
      const paramsPerLayer = new Array<number>(handle.numLayers).fill(0);
      let outside = 0;
      const edgeTensors: ModelSummary['edgeTensors'] = {};
      for (const t of inv.tensors) {
        const n = t.shape.reduce((a, b) => a * b, 1);
        if (t.layer === null) {
          outside += n;
          const position = handle.roleOf(t.name).position;
          if (position === 'pre') edgeTensors.pre ??= t.name;
          if (position === 'post' && (!edgeTensors.post || t.module === 'head')) edgeTensors.post = t.name;
        }
        else if (t.layer < paramsPerLayer.length) paramsPerLayer[t.layer] += n;
        if (t.layer === 0) {
          const group: ModuleGroup = t.module === 'attention' ? 'attention' : t.module === 'mlp' ? 'mlp' : 'other';
          // Weights rather than biases stand for the group: filters match names, and both carry the same ones.
          if (!layerTensors[group] || (t.name.endsWith('.weight') && !layerTensors[group]!.endsWith('.weight'))) layerTensors[group] = t.name;
        }
      }
      return {
        ref,
        label: labelOf(ref),
        origin,
        architecture: inv.architecture,
        configArchitecture: inv.configArchitecture,
        knownArchitecture: inv.knownArchitecture,
        numLayers: inv.numLayers,
        hiddenSize: inv.hiddenSize,
        vocabSize: inv.vocabSize,
        parameters: inv.parameters,
        bytes: inv.bytes,
        byDtype: inv.byDtype.map((d) => ({ dtype: d.dtype, parameters: d.parameters, bytes: d.bytes })),
        layerTensors,
        paramsPerLayer,
        edgeTensors,
        outsideLayerParams: outside,
        notices: inv.notices,
      };
    }).finally(() => {
      if (onEvent) this.hubListeners.delete(onEvent);
    });
  }

  removeModel(ref: string): void {
    this.handles.delete(ref);
    this.dropResident();
  }

  /** The compatibility report of the given models, the first being the reference (the base). */
  async compatibility(refs: string[]): Promise<CompatibilitySummary | null> {
    const handles = refs.map((r) => this.handles.get(r)).filter((h): h is ModelHandle => h !== undefined);
    if (handles.length < 2) return null;
    const report = await compatibilityReport(handles);
    return { verdict: report.verdict, problems: report.problems, adjustments: report.adjustments, vocab: { tokensDiffer: report.vocab.tokensDiffer, choices: report.vocab.choices }, text: formatCompatibilityReport(report) };
  }

  // ---------------------------------------------------------------- tasks

  /** Loads demo task files (once each) and returns every task known. */
  async loadDemoTasks(files: string[]): Promise<TaskInfo[]> {
    const catalog = await this.demoCatalog();
    for (const file of files) {
      if (this.tasks.has(file)) continue;
      const entry = catalog.tasks.find((t) => t.file === file);
      if (!entry) throw new MergeStudioError('task-unknown', `no demo task '${file}'`, { file });
      const url = new URL(entry.path ?? `tasks/${file}`, this.options.zooUrl).href;
      const res = await fetch(url);
      if (!res.ok) throw new MergeStudioError('task-fetch', `${url}: HTTP ${res.status}`, { file });
      const bytes = new Uint8Array(await res.arrayBuffer());
      this.tasks.set(file, { task: parseTaskJsonl(new TextDecoder().decode(bytes), file), bytes, origin: 'demo' });
    }
    return this.taskList();
  }

  /** A JSONL task file the user dropped; its name decides the kind (`x.gen.jsonl`) or its first line does. */
  addTaskFile(fileName: string, text: string): TaskInfo[] {
    const task = parseTaskJsonl(text, fileName);
    this.tasks.set(fileName, { task, bytes: new TextEncoder().encode(text), origin: 'dropped' });
    return this.taskList();
  }

  private taskList(): TaskInfo[] {
    return [
      ...[...this.tasks.entries()].map(([file, t]) => ({ file, skill: skillOf(file), kind: t.task.kind, items: t.task.items.length, origin: t.origin })),
      ...[...this.benchmarks.entries()].map(([name, b]) => ({
        file: name, skill: name, kind: b.kind, items: b.members.reduce((a, m) => a + m.requests.length, 0), origin: 'benchmark' as const,
        of: b.members.reduce((a, m) => a + m.splitRows, 0),
      })),
    ];
  }

  /** A benchmark (lm-eval-style task) read from its Hub dataset: the first `limit` documents of
   * each member task (lm-eval's --limit), cached in Cache Storage like model files. */
  async addBenchmark(request: BenchmarkRequest, jobId?: string): Promise<TaskInfo[]> {
    const defs = expandBenchmark(request.name);
    if (!defs) throw new MergeStudioError('task-unknown', `'${request.name}' is not a benchmark this studio knows`, { found: request.name });
    return this.job(jobId, async (signal) => {
      const cache = typeof caches === 'undefined' ? undefined : browserHubCache();
      const openSplit = (dataset: { path: string; config?: string; files?: Partial<Record<string, string[]>> }, split: string) =>
        openHubDatasetSplit({ id: dataset.path, config: dataset.config, split, files: dataset.files?.[split], hubUrl: request.hubUrl, accessToken: request.token?.trim() || undefined, cache, signal });
      const members: LoadedBenchmark[] = [];
      for (const def of defs) members.push(await loadBenchmark(def, { openSplit, limit: request.limit, numFewshot: request.numFewshot, signal }));
      const gen = defs[0].outputType === 'generate_until';
      const metrics = gen ? defs[0].metrics : defs.every((d) => d.metrics.includes('acc_norm')) ? ['acc', 'acc_norm'] : ['acc'];
      this.benchmarks.set(request.name, { members, kind: gen ? 'exact_match' : 'multiple_choice', metrics });
      return this.taskList();
    });
  }

  // ---------------------------------------------------------------- merging

  /** Which kernels the CPU merge path's tile loops run in this worker: WebAssembly SIMD, or the
   * JS twins (same bits, slower) with the reason the module was refused. */
  cpuTileKernels(): { simd: boolean; detail: string } {
    return tileKernelStatus();
  }

  /** `stageBackend` merges the stages of a multi-stage recipe (the CPU when not given). */
  private planFor(recipe: Recipe, stageBackend?: MergeBackend): Plan {
    const handles = new Map<string, ModelHandle>();
    for (const ref of referencedModels(recipe)) {
      const h = this.handles.get(ref);
      if (!h) throw new MergeStudioError('model-not-loaded', `the recipe uses '${ref}', which is not loaded; add it in Models first${stageHint(recipe, ref)}`, { model: ref });
      handles.set(ref, h);
    }
    return plan(recipe, handles, { stageBackend });
  }

  /** Validates a recipe against the loaded models: the plan's notices, or the error's message. */
  check(recipe: Recipe): { ok: true; notices: string[]; steps: number; layers: number } | { ok: false; error: string } {
    try {
      const p = this.planFor(recipe);
      return { ok: true, notices: p.notices, steps: p.steps.length, layers: p.numLayers };
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
  }

  private mergeBackend(): Promise<MergeBackend | null> {
    if (!this.options.gpu || this.gpuLoss) return Promise.resolve(null);
    this.gpuMerge ??= import('../core/engine/webgpu-backend.ts').then((m) => m.createWebGpuBackend()).catch(() => null);
    return this.gpuMerge;
  }

  private async evalBackend(choice: EvalBackendChoice): Promise<EvalBackend> {
    if (choice === 'cpu' || !this.options.gpu || this.gpuLoss) return 'cpu';
    if (choice === 'webgpu') return 'webgpu';
    return (await this.mergeBackend()) ? 'webgpu' : 'cpu';
  }

  private dropResident(): void {
    if (this.resident?.live) this.resident.live.dispose();
    else this.resident?.runtime.model.dispose();
    this.resident = null;
  }

  /** Brings the resident merged model to `recipe`: rebuilt when its shape changed, else only the
   * tensors whose inputs or parameters changed are re-merged in place. Returns how many were merged. */
  private async bringResident(recipe: Recipe, choice: EvalBackendChoice, signal: AbortSignal, onProgress: ProgressCallback): Promise<{ resident: Resident; remerged: number }> {
    const gpu = await this.mergeBackend();
    const mergeBackend = gpu ?? cpuBackend;
    const p = this.planFor(recipe, mergeBackend);
    const evalBackend = await this.evalBackend(choice);
    const shape = shapeSignature(p);
    const stages = stageSteps(p);
    const steps = new Map(p.steps.map((s) => [s.output, stepSignature(p, s, stages)]));
    const current = this.resident;
    // Merge and scoring both on the GPU: the live loop keeps the inputs and the merged weights there.
    const useLive = gpu !== null && evalBackend === 'webgpu' && this.options.liveLoop !== false;
    if (current?.live && useLive && current.live.shape === shape) {
      const update = await current.live.update(p, { signal, onProgress });
      current.steps = steps;
      return { resident: current, remerged: update.remerged };
    }
    if (current && !current.live && !useLive && current.shape === shape && current.evalBackend === evalBackend) {
      // The tokenizer follows the recipe's chat_template and vocabulary settings, the weights or not.
      if (current.runtime.tokenizerKey !== mergedTokenizerKey(p)) Object.assign(current.runtime, await mergedTokenizer(p, signal));
      const changed = new Set([...steps].filter(([out, sig]) => current.steps.get(out) !== sig).map(([out]) => out));
      if (changed.size === 0) return { resident: current, remerged: 0 };
      const n = await remergeInto(current.runtime.model, p, changed, { mergeBackend, signal, onProgress });
      current.steps = steps;
      return { resident: current, remerged: n };
    }
    this.dropResident();
    if (useLive) {
      this.liveGpu ??= requireGpu();
      this.liveGpu.catch(() => (this.liveGpu = null));
      const live = await startLiveLoop(p, { gpu: await this.liveGpu, signal, onProgress });
      this.resident = { runtime: live, live, shape, steps, mergeBackend: 'webgpu', evalBackend };
      return { resident: this.resident, remerged: live.remergedTotal };
    }
    const runtime = await runtimeForPlan(p, { backend: evalBackend, mergeBackend, signal, onProgress });
    this.resident = { runtime, shape, steps, mergeBackend: mergeBackend === cpuBackend ? 'cpu' : 'webgpu', evalBackend };
    return { resident: this.resident, remerged: p.steps.length };
  }

  /** Runs `work` as job `jobId` (a newer request with the id aborts it) after the work queued before
   * it: evaluations and token scoring share the resident model, one at a time. */
  private queuedJob<T>(jobId: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return this.job(jobId, (signal) => {
      const run = this.queue.then(() => {
        signal.throwIfAborted();
        return work(signal);
      });
      this.queue = run.catch(() => undefined);
      return run;
    });
  }

  /** Merges `recipe` (partially, when the resident model allows) and scores the tasks on growing
   * subsets, reporting each stage as it completes. Cancelled by `cancel(jobId)` or a newer job with the same id. */
  async evaluate(request: EvalRequest, jobId: string, onEvent: (e: EngineEvent) => void): Promise<EvalStage[]> {
    return this.queuedJob(jobId, async (signal) => {
      const onProgress: ProgressCallback = (progress) => onEvent({ type: 'progress', progress });
      const stages: EvalStage[] = [];
      for (const [i, want] of request.stages.entries()) {
        const started = performance.now();
        const { resident, remerged } = await this.bringResident(request.recipe, request.backend, signal, onProgress);
        const mergeSeconds = (performance.now() - started) / 1000;
        const scores: TaskScore[] = [];
        let full = true;
        for (const file of request.tasks) {
          const bench = this.benchmarks.get(file);
          if (bench) {
            // Each member at the stage's subset size (a prefix of the seeded order of its documents).
            let items = 0;
            let total = 0;
            const sums: Record<string, number> = {};
            for (const loaded of bench.members) {
              const limit = want > 0 && Number.isFinite(want) ? Math.min(want, loaded.requests.length) : loaded.requests.length;
              if (limit < loaded.requests.length) full = false;
              const r = await evaluateBenchmark(resident.runtime.model, resident.runtime.tokenizer, loaded, { limit, seed: request.itemSeed ?? 0, signal, onProgress });
              items += r.items;
              total += loaded.requests.length;
              for (const m of bench.metrics) sums[m] = (sums[m] ?? 0) + r.metrics[m] * r.items;
            }
            for (const metric of bench.metrics) scores.push({ task: file, objective: `${file}.${metric}`, metric, value: sums[metric] / items, items, of: total });
            continue;
          }
          const entry = this.tasks.get(file);
          if (!entry) throw new MergeStudioError('task-unknown', `task '${file}' is not loaded`, { file });
          const limit = want > 0 && Number.isFinite(want) ? Math.min(want, entry.task.items.length) : entry.task.items.length;
          if (limit < entry.task.items.length) full = false;
          const r = await evaluateTask(resident.runtime.model, resident.runtime.tokenizer, entry.task, {
            limit, seed: request.itemSeed ?? 0, maxNewTokens: resident.runtime.maxNewTokens, signal, onProgress,
          });
          for (const metric of PRIMARY_METRICS[entry.task.kind]) {
            scores.push({ task: file, objective: `${skillOf(file)}.${metric}`, metric, value: r.metrics[metric], items: r.items, of: entry.task.items.length });
          }
        }
        const stage: EvalStage = {
          scores, items: Math.min(...scores.map((s) => s.items)), full, seconds: (performance.now() - started) / 1000, mergeSeconds,
          remerged: i === 0 ? remerged : 0, mergeBackend: resident.mergeBackend, evalBackend: resident.evalBackend,
          ...(resident.live ? { residency: formatResidency(resident.live.residency) } : {}),
        };
        stages.push(stage);
        onEvent({ type: 'stage', stage });
        if (full) break;
      }
      return stages;
    });
  }

  /** The per-token log-probs of token sequences under the recipe's merged model, brought resident
   * as `evaluate` does (the live loop on WebGPU, else the merged runtime), scored together as the
   * perplexity tasks score theirs, from the ids as given: no tokenizer between. */
  async scoreTokens(request: TokenScoreRequest, jobId: string): Promise<TokenScores> {
    return this.queuedJob(jobId, async (signal) => {
      request.sequences.forEach((s, i) => {
        if (s.length < 2) throw new MergeStudioError('eval-short-sequence', `sequence ${i} holds ${s.length} token id(s); scoring needs a context id and at least one to predict`, { sequence: i });
      });
      const { resident } = await this.bringResident(request.recipe, request.backend, signal, () => {});
      const lps = await resident.runtime.model.sequenceLogProbs(request.sequences.map((s) => Int32Array.from(s)), signal);
      return {
        logprobs: lps.map((lp) => Array.from(lp)),
        mergeBackend: resident.mergeBackend,
        evalBackend: resident.evalBackend,
        ...(resident.live ? { residency: formatResidency(resident.live.residency) } : {}),
      };
    });
  }

  cancel(jobId: string): void {
    this.jobs.get(jobId)?.abort(new DOMException('cancelled', 'AbortError'));
  }

  private async job<T>(jobId: string | undefined, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    if (jobId) {
      this.jobs.get(jobId)?.abort(new DOMException('superseded', 'AbortError'));
      this.jobs.set(jobId, controller);
    }
    try {
      return await work(controller.signal);
    } finally {
      if (jobId && this.jobs.get(jobId) === controller) this.jobs.delete(jobId);
    }
  }

  /** How an exported recipe names a model so that `merge-studio merge` finds it: a demo model by
   * its folder in the repository (`public/zoo/tiny-llama/base`, resolved from the recipe's folder
   * or the current folder), Hub models by their id, local folders by their name. */
  exportRef(ref: string): string {
    return exportRef(ref, this.catalog);
  }

  /** Streams the merged model to `target`: shards, index, config.json, tokenizer, model card and
   * mergekit_config.yml. Nothing looks complete before the end: a picked folder gets partial file
   * names, browser storage a partial folder, a streamed download its end-of-archive last. */
  async exportModel(recipe: Recipe, target: ExportTarget, jobId: string, onEvent: (e: EngineEvent) => void, options: ExportModelOptions = {}): Promise<ExportOutcome> {
    const { shardSize, allowNonFinite = false, mergeOn = 'auto' } = options;
    this.hubListeners.add(onEvent);
    return this.job(jobId, async (signal) => {
      const gpu = mergeOn === 'cpu' ? null : await this.mergeBackend();
      if (mergeOn === 'webgpu' && !gpu) throw new MergeStudioError('no-webgpu', 'merge on WebGPU was chosen, but this browser gives no WebGPU adapter');
      const backend = gpu ?? cpuBackend;
      const p = this.planFor(recipe, backend);
      const outcome = await this.writeTo(target, signal, (sinks) =>
        execute(p, { sinks, backend, shardSize, signal, allowNonFinite, modelRef: (ref) => this.exportRef(ref), onProgress: (progress) => onEvent({ type: 'progress', progress }) }));
      return { ...outcome, seconds: outcome.result.seconds, bytesWritten: outcome.result.bytesWritten, backend: gpu ? 'webgpu' : 'cpu' };
    }).finally(() => this.hubListeners.delete(onEvent));
  }

  /** Exports kept in browser storage (finished ones only). */
  async storedExports(): Promise<StoredExportInfo[]> {
    return listExports();
  }

  async deleteStoredExport(name: string): Promise<void> {
    await deleteExport(name);
  }

  /** Saves a kept export out of browser storage (to a picked folder or as a streamed download),
   * file by file through disk-backed File objects; config.json last, as in an export. */
  async saveStoredExport(name: string, target: ExportTarget, jobId: string, onEvent: (e: EngineEvent) => void): Promise<ExportOutcome> {
    return this.job(jobId, async (signal) => {
      const started = performance.now();
      const tree = await exportTree(name);
      const files = (await tree.list(signal)).sort((a, b) => Number(a === 'config.json') - Number(b === 'config.json'));
      const outcome = await this.writeTo(target, signal, async (sinks) => {
        let bytes = 0;
        for (const [i, file] of files.entries()) {
          const source = await tree.open(file, signal);
          const sink = await sinks.create(file, source.size);
          try {
            for (let at = 0; at < source.size; at += COPY_PIECE) await sink.write(await source.read(at, Math.min(COPY_PIECE, source.size - at), signal));
            await sink.close();
          } catch (err) {
            await sink.abort();
            for (const done of files.slice(0, i)) await sinks.remove?.(done).catch(() => undefined);
            throw err;
          }
          bytes += source.size;
          onEvent({ type: 'progress', progress: { phase: 'save', done: i + 1, total: files.length, bytes, message: file } });
        }
        return { files };
      });
      const seconds = (performance.now() - started) / 1000;
      return { ...outcome, seconds, bytesWritten: outcome.files.reduce((s, f) => s + Math.max(0, f.bytes), 0), backend: 'none' };
    });
  }

  /** Runs `write` against the sinks of `target` and publishes the result only when it succeeded. */
  private async writeTo<T extends { files: string[] }>(target: ExportTarget, signal: AbortSignal, write: (sinks: SinkFactory) => Promise<T>): Promise<{ result: T; files: { name: string; bytes: number }[]; removed: string[]; data?: Record<string, Uint8Array> }> {
    // Every file's planned size, as the writer announces it.
    const sizes = new Map<string, number>();
    const counted = (sinks: SinkFactory): SinkFactory => ({
      create: (name, size) => {
        sizes.set(name, size ?? -1);
        return sinks.create(name, size);
      },
      ...(sinks.remove ? { remove: (name: string) => sinks.remove!(name) } : {}),
    });
    const sized = (result: T) => result.files.map((name) => ({ name, bytes: sizes.get(name) ?? -1 }));
    if (target.kind === 'sinks') {
      const result = await write(counted(target.sinks));
      return { result, files: sized(result), removed: [] };
    }
    if (target.kind === 'memory') {
      const memory = memorySinks();
      const result = await write(counted(memory));
      return { result, files: sized(result), removed: [], data: Object.fromEntries(memory.files) };
    }
    if (target.kind === 'stream') {
      const tar = tarSinks(portChunkWriter(target.port), target.folder);
      try {
        const result = await write(counted(tar));
        throwIfAborted(signal);
        await tar.finish();
        return { result, files: sized(result), removed: [] };
      } catch (err) {
        await tar.abort(err instanceof Error ? err : new Error(String(err)));
        throw err;
      }
    }
    const exportId = newExportId();
    return withExportLock(exportId, async () => {
      if (target.kind === 'directory') {
        const removed = await removeStalePartials(target.handle);
        const staged = stagedDirectorySinks(target.handle, exportId);
        const result = await write(counted(staged));
        throwIfAborted(signal);
        await staged.commit(result.files);
        return { result, files: sized(result), removed };
      }
      const opfs = await beginOpfsExport(target.name, exportId);
      try {
        const result = await write(counted(opfs.sinks));
        throwIfAborted(signal);
        await opfs.commit();
        return { result, files: sized(result), removed: opfs.removed };
      } catch (err) {
        await opfs.discard();
        throw err;
      }
    });
  }

  // ---------------------------------------------------------------- search

  /** Starts (or resumes) a search over the loaded models; trials and status changes are pushed to `onUpdate`. */
  async startSearch(request: SearchRequest, onUpdate: (u: SearchUpdate) => void): Promise<void> {
    const { spec } = request;
    if (this.search && this.search.status === 'paused') {
      void this.search.start().catch(() => undefined);
      return;
    }
    this.search?.stop();
    const refs = [spec.base, ...spec.experts];
    const models = new Map<string, ModelHandle>();
    for (const ref of refs) {
      const h = this.handles.get(ref);
      if (!h) throw new MergeStudioError('model-not-loaded', `the search uses '${ref}', which is not loaded`, { model: ref });
      models.set(ref, h);
    }
    const numLayers = models.get(spec.base)!.numLayers;
    const space = createSpace(spec.space, { base: spec.base, experts: spec.experts, numLayers, randomSeed: spec.seed });
    const taskFiles = new Map<string, Uint8Array>();
    for (const [file, t] of this.tasks) taskFiles.set(file, t.bytes);
    const gpu = await this.mergeBackend();
    const objective = await createMergeObjective({
      models, tasks: memoryTree(taskFiles, 'tasks'), objectives: spec.objectives, limit: request.limit ?? spec.limit,
      backend: await this.evalBackend(request.backend), mergeBackend: gpu ?? undefined,
    });
    // The same search (spec, models, task files) resumes from its saved trials after a reload (a larger budget
    // continues it): the run replays them (as 'trial' events, so the page shows them again) and continues.
    const runKey = JSON.stringify({ spec: { ...spec, budget: undefined }, limit: request.limit ?? spec.limit, tasks: [...taskFiles.keys()].sort() });
    const store = (await indexedDbTrialStore(runKey)) ?? undefined;
    const run = await SearchRun.open<Recipe>({ objectives: spec.objectives, optimizer: spec.optimizer, fidelity: spec.fidelity, budget: spec.budget, seed: spec.seed }, space, objective, { store });
    this.search = run;
    run.subscribe((e) => {
      const summary: SearchSummary = run.summary();
      if (e.type === 'trial') onUpdate({ type: 'trial', trial: e.trial, summary });
      else onUpdate({ type: 'status', status: e.status, error: e.error ? (e.error as Error).message ?? String(e.error) : undefined, summary });
    });
    void run.start().catch(() => undefined);
  }

  pauseSearch(): void {
    this.search?.pause();
  }

  stopSearch(): void {
    this.search?.stop();
  }

  // ---------------------------------------------------------------- DAM

  /** The task files an expert is distilled on (as the DAM bench): its skill's perplexity texts and
   * multiple-choice items. A demo expert's skill comes from the zoo (its files are fetched); any
   * other model's skill is its name, matched against the task files already loaded or dropped. */
  private async damSource(ref: string): Promise<DamExpertSource> {
    const handle = this.handles.get(ref);
    if (!handle) throw new MergeStudioError('model-not-loaded', `DAM uses '${ref}', which is not loaded`, { model: ref });
    const catalog = await this.demoCatalog();
    const demo = catalog.models.find((m) => m.ref === ref);
    const skill = demo?.skill ?? labelOf(ref);
    const isData = (kind: EvalTask['kind']) => kind === 'perplexity' || kind === 'multiple_choice';
    if (demo) await this.loadDemoTasks(catalog.tasks.filter((t) => t.skill === skill && isData(t.kind)).map((t) => t.file));
    const files = [...this.tasks.entries()].filter(([file, t]) => skillOf(file) === skill && isData(t.task.kind)).map(([file]) => file).sort();
    if (files.length === 0) throw new MergeStudioError('dam-no-data', `DAM: no perplexity or multiple-choice task file for skill '${skill}' of '${ref}' (expected e.g. '${skill}.ppl.jsonl')`, { model: ref });
    return { name: ref, tree: handle.tree, tasks: files.map((f) => this.tasks.get(f)!.task) };
  }

  /** Trains DAM coefficients on the CPU, pushing each step's loss, status changes and, when it stops
   * (paused, finished or stopped), the per-layer coefficient means. A paused run with the same
   * experts and data resumes; any other request starts afresh. */
  async startDam(request: DamRequest, onUpdate: (u: DamUpdate) => void): Promise<void> {
    const key = JSON.stringify([request.experts, request.maxSequences ?? null, request.seed, request.batchSize, request.learningRate]);
    const settings = { steps: request.steps, learningRate: request.learningRate, batchSize: request.batchSize, seed: request.seed };
    let current = this.dam;
    if (!current || current.key !== key || current.run.status === 'running') {
      current?.abort.abort();
      this.dam = null;
      this.damResult = null;
      const abort = new AbortController();
      this.damPreparing = abort;
      onUpdate({ type: 'status', status: 'preparing' });
      try {
        const sources = await Promise.all(request.experts.map((r) => this.damSource(r)));
        const problem = await prepareDamProblem(sources, { maxSequences: request.maxSequences, signal: abort.signal });
        current = { run: new DamRun(problem.objective, settings), abort, key, tokens: problem.tokens };
      } catch (err) {
        onUpdate({ type: 'status', status: abort.signal.aborted ? 'stopped' : 'failed', error: abort.signal.aborted ? undefined : (err as Error).message });
        if (abort.signal.aborted) return;
        throw err;
      } finally {
        if (this.damPreparing === abort) this.damPreparing = null;
      }
      this.dam = current;
    } else {
      current.run = new DamRun(current.run.objective, settings, { resume: current.run.state });
    }
    const { run, abort } = current;
    const off = run.subscribe((e) => {
      if (e.type === 'step') onUpdate({ type: 'step', step: e.record.step, steps: e.steps, loss: e.record.loss });
    });
    onUpdate({ type: 'status', status: 'running' });
    try {
      const ended = await run.run({ signal: abort.signal });
      const st = run.state;
      this.damResult = {
        request, layout: run.objective.layout, coefficients: Float64Array.from(st.coefficients), steps: st.step,
        history: st.history.map((h) => ({ ...h, distillation: [...h.distillation] })), trainingSeconds: st.trainingSeconds, tokens: current.tokens,
      };
      onUpdate({ type: 'coefficients', models: request.experts, means: run.coefficientMeans().map((m) => ({ tensor: m.tensor, kind: m.kind, layer: m.layer, means: [...m.means] })) });
      onUpdate({ type: 'status', status: abort.signal.aborted ? 'stopped' : ended === 'finished' ? 'finished' : 'paused' });
    } catch (err) {
      onUpdate({ type: 'status', status: 'failed', error: (err as Error).message });
    } finally {
      off();
    }
  }

  pauseDam(): void {
    this.dam?.run.pause();
  }

  /** Writes the last DAM result exactly (the experts folded with its per-channel coefficients,
   * core's exportDamMerge) to `target`, as exportModel writes a recipe: partial names until the
   * end, progress, cancel through `jobId`. Beside the weights: dam/coefficients.safetensors and
   * dam/training.json (the studio's settings, loss curve and coefficient means, as the CLI writes). */
  async exportDam(target: ExportTarget, jobId: string, onEvent: (e: EngineEvent) => void, options: DamExportRequest = {}): Promise<ExportOutcome> {
    return this.job(jobId, async (signal) => {
      const outcome = await this.writeTo(target, signal, (sinks) => {
        // Checked inside the write so that every target ends cleanly (a streamed download fails
        // with this message instead of waiting for bytes that never come).
        if (this.damPreparing || this.dam?.run.status === 'running') {
          throw new MergeStudioError('dam-running', 'DAM is still training: pause or stop it (or let it finish), then export the merge it learned');
        }
        const result = this.damResult;
        if (!result) throw new MergeStudioError('dam-no-result', 'there is no DAM result to export yet: train DAM first (Start DAM), then export');
        const experts = result.request.experts;
        const missing = experts.filter((ref) => !this.handles.has(ref));
        if (missing.length > 0) {
          throw new MergeStudioError('model-not-loaded', `the DAM merge folds ${missing.map((m) => `'${m}'`).join(' and ')}, which ${missing.length === 1 ? 'is' : 'are'} no longer loaded: add ${missing.length === 1 ? 'it' : 'them'} again in Models to export it`, { model: missing[0] });
        }
        const training = {
          source: 'merge-studio (browser)',
          experts,
          settings: { steps: result.request.steps, learning_rate: result.request.learningRate, batch_size: result.request.batchSize, seed: result.request.seed, max_sequences: result.request.maxSequences ?? null },
          steps: result.steps,
          training_seconds: result.trainingSeconds,
          training_tokens: result.tokens,
          coefficients: result.layout.size,
          history: result.history,
          coefficient_means: coefficientMeans(result.layout, result.coefficients),
        };
        return exportDamMerge({
          experts: experts.map((ref) => this.handles.get(ref)!), layout: result.layout, coefficients: result.coefficients, sinks, signal,
          shardSize: options.shardSize, name: options.name, modelRef: (ref) => this.exportRef(ref),
          extraFiles: new Map([['dam/training.json', new TextEncoder().encode(JSON.stringify(training, null, 1) + '\n')]]),
          onProgress: (progress) => onEvent({ type: 'progress', progress }),
        });
      });
      return { ...outcome, seconds: outcome.result.seconds, bytesWritten: outcome.result.bytesWritten, backend: 'cpu' };
    });
  }

  /** Stops the run after the step in progress; the next start begins afresh. */
  stopDam(): void {
    this.damPreparing?.abort();
    this.dam?.abort.abort();
    this.dam = null;
  }
}
