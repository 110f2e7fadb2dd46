// From opened expert models and their task files to the DAM objective: training texts (teacher
// forcing on prompt + answer), token sequences, and each expert's logits on its own sequences,
// computed once through the evaluation runtime and cached.
import { MergeStudioError } from '../errors.ts';
import type { CausalLMConfig } from '../eval/config.ts';
import { createRuntime, openEvalModel, type EvalModelFiles } from '../eval/load.ts';
import type { EvalBackend } from '../eval/runtime.ts';
import { sequenceWithAnswer } from '../eval/metrics.ts';
import type { EvalTask, Prompt } from '../eval/tasks.ts';
import type { TextTokenizer } from '../eval/tokenizer.ts';
import { expectedTensors, hostTensorToF32, readHostTensors } from '../eval/weights.ts';
import type { FileTree } from '../io/types.ts';
import { throwIfAborted, type ProgressCallback } from '../progress.ts';
import { coefficientLayout, type DamScope } from './coefficients.ts';
import { teacherTargets, type TeacherTargets } from './loss.ts';
import type { Precision } from './network.ts';
import { DamObjective, type DamExpertData } from './objective.ts';

/** What an expert is distilled on: perplexity texts as they are, generation items as prompt +
 * answer, multiple-choice items as prompt + the right choice (for a chat item, the conversation
 * with the answer as the assistant's turn). */
export interface TrainingText { prompt: Prompt; answer: string }

export function trainingTexts(task: EvalTask): TrainingText[] {
  if (task.kind === 'perplexity') return task.items.map((i) => ({ prompt: i.text, answer: '' }));
  if (task.kind === 'exact_match') return task.items.map((i) => ({ prompt: i.prompt, answer: i.answer }));
  return task.items.map((i) => ({ prompt: i.prompt, answer: i.choices[i.label] }));
}

/** Each text's tokens as the evaluator feeds them (special prefix + tokens, or the rendered chat), cut to `maxTokens`. */
export function trainingSequences(tokenizer: TextTokenizer, texts: readonly TrainingText[], maxTokens: number): Int32Array[] {
  return texts.map((t) => sequenceWithAnswer(tokenizer, t.prompt, t.answer)).filter((ids) => ids.length > 0).map((ids) => ids.slice(0, maxTokens));
}

export interface DamExpertSource {
  name: string;
  tree: FileTree;
  /** The expert's own tasks (its data). */
  tasks: EvalTask[];
}

export interface DamDataOptions {
  /** Longest training sequence in tokens (default: the model's max_position_embeddings, at most 128). */
  maxTokens?: number;
  /** Use at most this many sequences per expert (the first ones), default all. */
  maxSequences?: number;
  /** Teacher logits kept per position: 0 keeps the whole vocabulary (the default up to 4096 tokens), else top-K (default 64 above). */
  topK?: number;
  scope?: DamScope;
  /** Arithmetic of the training pass (default f32). */
  precision?: Precision;
  /** Backend of the teachers' forward passes (default cpu). */
  teacherBackend?: EvalBackend;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
}

export interface DamProblem {
  objective: DamObjective;
  config: CausalLMConfig;
  tokenizer: TextTokenizer;
  experts: EvalModelFiles[];
  /** Tokens per expert in its training sequences. */
  tokens: number[];
}

function sameArchitecture(a: CausalLMConfig, b: CausalLMConfig): string | null {
  const keys: (keyof CausalLMConfig)[] = ['modelType', 'hiddenSize', 'intermediateSize', 'numLayers', 'numHeads', 'numKvHeads', 'headDim', 'vocabSize', 'tiedEmbeddings', 'qkvBias', 'outputBias', 'qkNorm'];
  const diff = keys.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
  return diff.length === 0 ? null : diff.map((k) => `${k} ${JSON.stringify(a[k])} vs ${JSON.stringify(b[k])}`).join(', ');
}

/** Opens the experts, reads their weights, tokenizes their data with the first expert's tokenizer
 * and caches every expert's logits on its own sequences. */
export async function prepareDamProblem(sources: readonly DamExpertSource[], opts: DamDataOptions = {}): Promise<DamProblem> {
  if (sources.length < 2) throw new MergeStudioError('dam-too-few-models', `DAM merges at least two experts, found ${sources.length}`, { found: sources.length });
  const files: EvalModelFiles[] = [];
  for (const s of sources) files.push(await openEvalModel(s.tree, opts.signal));
  const config = files[0].config;
  for (const [i, f] of files.entries()) {
    const diff = sameArchitecture(config, f.config);
    if (diff) throw new MergeStudioError('dam-incompatible', `DAM: '${sources[i].name}' does not have the architecture of '${sources[0].name}' (${diff})`, { model: sources[i].name });
    if (sources[i].tasks.length === 0) throw new MergeStudioError('dam-no-data', `DAM: expert '${sources[i].name}' has no task files (its own data is what it is distilled on)`, { model: sources[i].name });
  }
  const tokenizer = files[0].tokenizer;
  const maxTokens = opts.maxTokens ?? Math.min(config.maxPositions, 128);
  const topK = opts.topK ?? (config.vocabSize <= 4096 ? 0 : 64);
  const experts: DamExpertData[] = [];
  const tokens: number[] = [];
  const totalSequences: number[] = [];
  const sequencesOf = sources.map((s) => {
    const all = trainingSequences(tokenizer, s.tasks.flatMap(trainingTexts), maxTokens);
    const seqs = opts.maxSequences ? all.slice(0, opts.maxSequences) : all;
    totalSequences.push(seqs.length);
    return seqs;
  });
  const total = totalSequences.reduce((a, b) => a + b, 0);
  let done = 0;
  for (const [i, s] of sources.entries()) {
    throwIfAborted(opts.signal);
    const host = await readHostTensors(config, files[i].tensors, s.name, { signal: opts.signal });
    const weights = new Map([...expectedTensors(config).keys()].map((name) => [name, hostTensorToF32(host.get(name)!).slice()]));
    const runtime = await createRuntime(config, weights, opts.teacherBackend);
    const targets: TeacherTargets[] = [];
    try {
      for (const seq of sequencesOf[i]) {
        targets.push(teacherTargets(seq, await runtime.logits(seq, opts.signal), config.vocabSize, topK));
        opts.onProgress?.({ phase: 'dam-teacher', done: ++done, total, message: s.name });
      }
    } finally {
      runtime.dispose();
    }
    experts.push({ name: s.name, weights, targets });
    tokens.push(sequencesOf[i].reduce((a, q) => a + q.length, 0));
  }
  const layout = coefficientLayout(config, sources.length, opts.scope);
  return { objective: new DamObjective(config, layout, experts, opts.precision ?? 'f32'), config, tokenizer, experts: files, tokens };
}
