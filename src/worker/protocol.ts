// What crosses the page <-> worker boundary: plain, structured-cloneable data only (no handles,
// no GPU objects). The page imports these types; the worker implements StudioEngineApi.
import type { StoredExport } from '../core/io/opfs-exports.ts';
import type { SinkFactory } from '../core/io/types.ts';
import type { Progress } from '../core/progress.ts';
import type { Recipe } from '../core/recipe/index.ts';
import type { SearchStatus, SearchSummary, TrialRecord } from '../core/search/index.ts';
import type { SearchSpec } from '../core/search/spec.ts';
import type { TaskKind } from '../core/eval/tasks.ts';

/** The engine worker's name when the page was opened with `?live=off` (no live loop; see engine-client.ts). */
export const NO_LIVE_WORKER = 'merge-studio-engine:no-live';

/** One model of the bundled demo zoo, as its manifest lists it. */
export interface DemoModel {
  /** Reference used in recipes; the same id the mock Hub serves it under (`zoo/tiny-llama-add`). */
  ref: string;
  family: string;
  name: string;
  role: 'base' | 'expert';
  skill: string | null;
  /** Folder under the zoo root. */
  path: string;
  /** File name -> size in bytes. */
  files: Record<string, number>;
}

export interface DemoTask {
  /** File name inside the zoo's tasks folder (`add.gen.jsonl`). */
  file: string;
  /** Path under the zoo root when the file is not in its tasks folder (a real model's own tasks). */
  path?: string;
  skill: string;
  kind: TaskKind;
  items: number;
  description?: string;
}

export interface DemoCatalog {
  models: DemoModel[];
  tasks: DemoTask[];
  /** Why the catalog is empty or partial, when it is. */
  notice?: string;
}

export type ModelSource =
  | { kind: 'demo'; ref: string }
  | { kind: 'hub'; repo: string; revision?: string; hubUrl: string; token?: string; /** Each of connect, first byte and stall, in seconds; default: the Hub defaults. */ timeoutS?: number; /** Read through the browser's Cache Storage (default true). */ cache?: boolean }
  /** A dropped or picked folder: each file with its path inside the folder (first segment = folder name). */
  | { kind: 'files'; files: { path: string; file: File }[] }
  | { kind: 'directory'; handle: FileSystemDirectoryHandle };

export type ModuleGroup = 'attention' | 'mlp' | 'other';

export interface ModelSummary {
  ref: string;
  /** Short display name (`tiny-llama-add`). */
  label: string;
  origin: 'demo' | 'hub' | 'local';
  architecture: string;
  configArchitecture: string;
  knownArchitecture: boolean;
  numLayers: number;
  hiddenSize: number | null;
  vocabSize: number | null;
  parameters: number;
  bytes: number;
  byDtype: { dtype: string; parameters: number; bytes: number }[];
  /** A layer-0 tensor name per module group, to place per-layer parameters exactly as the engine does. */
  layerTensors: Partial<Record<ModuleGroup, string>>;
  /** Parameters inside each decoder layer, and outside the layers (embeddings, final norm, head). */
  paramsPerLayer: number[];
  /** An embedding tensor and a final tensor (norm / lm_head), which mergekit plans at the gradient's start. */
  edgeTensors: { pre?: string; post?: string };
  outsideLayerParams: number;
  notices: string[];
}

export interface CompatibilitySummary {
  verdict: 'compatible' | 'compatible-with-adjustments' | 'incompatible';
  problems: string[];
  adjustments: string[];
  /** Whether the vocabularies differ (the same id meaning other text), and the values of the
   * recipe's tokenizer_source that make sense then ('union', 'base', each model). */
  vocab: { tokensDiffer: boolean; choices: string[] };
  /** The full report as text (core's formatCompatibilityReport). */
  text: string;
}

export interface TaskInfo {
  /** Key of the task (its file name). */
  file: string;
  skill: string;
  kind: TaskKind;
  items: number;
  origin: 'demo' | 'dropped' | 'benchmark';
  /** Benchmarks: documents in the evaluation split (items is how many were loaded). */
  of?: number;
}

/** A benchmark to read from its Hub dataset (lm-eval-style task, src/core/benchmarks). */
export interface BenchmarkRequest {
  name: string;
  /** First N documents of each member task (default: all). */
  limit?: number;
  numFewshot?: number;
  hubUrl: string;
  token?: string;
}

export type EvalBackendChoice = 'auto' | 'cpu' | 'webgpu';

export interface EvalRequest {
  recipe: Recipe;
  /** Task files to score. */
  tasks: string[];
  /** Increasing item counts: score a small subset first, then refine (0 or Infinity = all items). */
  stages: number[];
  backend: EvalBackendChoice;
  /** Seed of the nested item order. */
  itemSeed?: number;
}

/** Token sequences to score under a recipe's merged model, exactly as given (no tokenizer). */
export interface TokenScoreRequest {
  recipe: Recipe;
  backend: EvalBackendChoice;
  /** Each sequence's first id is context only; at least two ids each. */
  sequences: number[][];
}

export interface TokenScores {
  /** For each sequence s: log p(s[j] | s[<j]) for j = 1 .. s.length - 1. */
  logprobs: number[][];
  mergeBackend: string;
  evalBackend: string;
  residency?: string;
}

export interface TaskScore {
  task: string;
  /** `<skill>.<metric>`, the name search objectives use (`add.exact_match`). */
  objective: string;
  metric: string;
  value: number;
  /** Items scored (the subset size). */
  items: number;
  /** Items the task has. */
  of: number;
}

export interface EvalStage {
  scores: TaskScore[];
  /** Smallest subset size over the tasks. */
  items: number;
  full: boolean;
  /** Wall seconds of the stage: bringing the merged model to the recipe, then scoring. */
  seconds: number;
  /** Of `seconds`, those spent bringing the merged model to the recipe (merge or re-merge, uploads). */
  mergeSeconds?: number;
  /** Tensors re-merged before this stage (0 when nothing changed). */
  remerged: number;
  mergeBackend: string;
  evalBackend: string;
  /** The live loop's GPU residency ("GPU-resident: 41/47 input tensors, 1.2 GB; 6 streamed; ..."),
   * when merge and scoring run there. */
  residency?: string;
}

export type EngineEvent =
  | { type: 'progress'; progress: Progress }
  | { type: 'stage'; stage: EvalStage };

/** Where an export goes. Every target streams: no whole file and no whole model is held in memory. */
export type ExportTarget =
  /** A folder picked with showDirectoryPicker: files under partial names, renamed when all are written. */
  | { kind: 'directory'; handle: FileSystemDirectoryHandle }
  /** Browser storage (OPFS): `exports/NAME.partial-ID/`, renamed to `exports/NAME/` at the end. */
  | { kind: 'opfs'; name: string }
  /** A streamed download: one tar archive `folder/...` written to `port` (src/core/io/port-stream.ts). */
  | { kind: 'stream'; port: MessagePort; folder: string }
  /** In-process callers only (Node tests): any SinkFactory; it cannot cross to the worker. */
  | { kind: 'sinks'; sinks: SinkFactory }
  /** The whole model in memory, returned as `data`: only for small models (publishing demo-sized
   * merges, tests); exports of real size go to one of the streaming targets above. */
  | { kind: 'memory' };

export interface ExportOutcome {
  files: { name: string; bytes: number }[];
  seconds: number;
  bytesWritten: number;
  backend: string;
  /** Leftovers of interrupted exports removed before this one (partial files or folders). */
  removed: string[];
  /** File contents, for the memory target only. */
  data?: Record<string, Uint8Array>;
}

/** A finished export kept in browser storage. */
export type StoredExportInfo = StoredExport;

export interface SearchRequest {
  spec: Omit<SearchSpec, 'tasks'>;
  /** Task files the objectives read. */
  limit?: number;
  backend: EvalBackendChoice;
}

export type SearchUpdate =
  | { type: 'trial'; trial: TrialRecord<Recipe>; summary: SearchSummary }
  | { type: 'status'; status: SearchStatus; error?: string; summary: SearchSummary };

export interface DamRequest {
  /** The experts merged (loaded model refs); each is distilled on its skill's demo task files. */
  experts: string[];
  steps: number;
  learningRate: number;
  /** Sequences per expert per step. */
  batchSize: number;
  seed: number;
  /** Use at most this many training sequences per expert (keeps the logits cache small). */
  maxSequences?: number;
}

/** Options of the exact DAM export (StudioEngine.exportDam). */
export interface DamExportRequest {
  /** Largest shard in bytes (default: the writer's). */
  shardSize?: number;
  /** The merge's name in the model card. */
  name?: string;
}

/** Mean learned coefficient of one tensor kind in one layer, per model (the heatmap's cells). */
export interface DamCoefficientMean {
  tensor: string;
  kind: string;
  layer: number | null;
  means: number[];
}

export type DamUpdate =
  | { type: 'step'; step: number; steps: number; loss: number }
  | { type: 'status'; status: 'preparing' | 'running' | 'paused' | 'finished' | 'stopped' | 'failed'; error?: string }
  | { type: 'coefficients'; models: string[]; means: DamCoefficientMean[] };
