// From opened expert models and their task files to the DAM objective: training texts (teacher
// forcing on prompt + answer), token sequences, and each expert's logits on its own sequences,
// computed once through the evaluation runtime and cached.
import { mergeToMemory, plan, type Plan } from '../engine/index.ts';
import { MergeStudioError } from '../errors.ts';
import type { CausalLMConfig } from '../eval/config.ts';
import { mergedTokenizer } from '../eval/merged.ts';
import { createRuntime, openEvalModel, type EvalModelFiles } from '../eval/load.ts';
import type { EvalBackend } from '../eval/runtime.ts';
import { sequenceWithAnswer } from '../eval/metrics.ts';
import type { EvalTask, Prompt } from '../eval/tasks.ts';
import type { TextTokenizer } from '../eval/tokenizer.ts';
import { EMBED_TENSOR, LM_HEAD_TENSOR, expectedTensors, hostTensorToF32, readHostTensors } from '../eval/weights.ts';
import type { FileTree } from '../io/types.ts';
import type { MergeMethod } from '../methods/types.ts';
import { openModel } from '../model/handle.ts';
import { loadVocabularies, vocabulariesDiffer, vocabularyOf, type ModelVocabulary } from '../tokenizer/vocab.ts';
import { throwIfAborted, type ProgressCallback } from '../progress.ts';
import { coefficientLayout, type DamScope } from './coefficients.ts';
import { damCarrierRecipe } from './export.ts';
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

/** The experts' vocabularies merged as the export merges them (a union, first expert as base),
 * when their token tables differ; null when they are the same. */
interface UnionVocabulary {
  plan: Plan;
  /** Rows of the merged embedding / lm_head. */
  size: number;
  /** Per expert: its own id -> merged id (-1 for ids no token has, e.g. padding rows). */
  toMerged: Int32Array[];
}

async function unionVocabulary(sources: readonly DamExpertSource[], files: readonly EvalModelFiles[], signal?: AbortSignal): Promise<UnionVocabulary | null> {
  const handles = new Map<string, Awaited<ReturnType<typeof openModel>>>();
  for (const s of sources) handles.set(s.name, await openModel(s.tree, signal, s.name));
  await loadVocabularies(handles.values(), signal);
  const vocabs = [...handles.values()].map(vocabularyOf).filter((v): v is ModelVocabulary => !!v);
  if (vocabs.length < sources.length || !vocabulariesDiffer(vocabs)) return null;
  const p = plan(damCarrierRecipe(sources.map((s) => s.name)), handles);
  const merged = p.vocabulary!.merged;
  const toMerged = sources.map((s, i) => {
    const own = new Int32Array(files[i].config.vocabSize).fill(-1);
    merged.permutations.get(s.name)!.forEach((row, id) => row >= 0 && row < own.length && (own[row] = id));
    return own;
  });
  return { plan: p, size: merged.size, toMerged };
}

/** A method that passes model `index`'s tensor through: its rows in the merged vocabulary's order,
 * with mergekit's rows for the tokens it lacks (the engine's PermutedRows). */
function pickModel(index: number): MergeMethod {
  return { name: 'pick', description: 'one input, as the plan reads it', base: 'none', params: [], mergeCpu: (input) => input.models[index].slice() };
}

/** The teacher's targets in merged ids: its tokens mapped, its logits' vocabulary ids mapped (ids
 * without a merged token get -Infinity before the top-K, so they carry no probability). */
function mergedTargets(seq: Int32Array, logits: Float32Array, toMerged: Int32Array, topK: number): TeacherTargets {
  const V = toMerged.length;
  const masked = logits.slice();
  for (let j = 0; j < V; j++) if (toMerged[j] < 0) for (let r = j; r < masked.length; r += V) masked[r] = -Infinity;
  const t = teacherTargets(seq, masked, V, topK);
  const map = (id: number) => Math.max(0, toMerged[id]);
  const indices = t.indices ? t.indices.map(map) : Int32Array.from({ length: seq.length * V }, (_, i) => map(i % V));
  return { tokens: seq.map((id) => toMerged[id]), k: t.k, indices, logits: t.logits };
}

/** Opens the experts, reads their weights, tokenizes their data and caches every expert's logits on
 * its own sequences. Experts with one vocabulary share the first expert's tokenizer; experts whose
 * vocabularies differ are merged over the union vocabulary, as the export merges them: each expert's
 * data is tokenized by its own tokenizer and mapped to the union's ids, its embed_tokens / lm_head
 * rows are put in the union's order (mergekit's rows for tokens it lacks), and its logits keep only
 * its own tokens. */
export async function prepareDamProblem(sources: readonly DamExpertSource[], opts: DamDataOptions = {}): Promise<DamProblem> {
  if (sources.length < 2) throw new MergeStudioError('dam-too-few-models', `DAM merges at least two experts, found ${sources.length}`, { found: sources.length });
  const files: EvalModelFiles[] = [];
  for (const s of sources) files.push(await openEvalModel(s.tree, opts.signal));
  const union = await unionVocabulary(sources, files, opts.signal);
  const ownConfig = files[0].config;
  const config: CausalLMConfig = union ? { ...ownConfig, vocabSize: union.size } : ownConfig;
  for (const [i, f] of files.entries()) {
    const diff = sameArchitecture(ownConfig, union ? { ...f.config, vocabSize: ownConfig.vocabSize } : f.config);
    if (diff) throw new MergeStudioError('dam-incompatible', `DAM: '${sources[i].name}' does not have the architecture of '${sources[0].name}' (${diff})`, { model: sources[i].name });
    if (sources[i].tasks.length === 0) throw new MergeStudioError('dam-no-data', `DAM: expert '${sources[i].name}' has no task files (its own data is what it is distilled on)`, { model: sources[i].name });
  }
  const tokenizer = union ? (await mergedTokenizer(union.plan, opts.signal)).tokenizer : files[0].tokenizer;
  const maxTokens = opts.maxTokens ?? Math.min(config.maxPositions, 128);
  const topK = opts.topK ?? (config.vocabSize <= 4096 ? 0 : 64);
  const experts: DamExpertData[] = [];
  const tokens: number[] = [];
  const totalSequences: number[] = [];
  const sequencesOf = sources.map((s, i) => {
    const all = trainingSequences(union ? files[i].tokenizer : tokenizer, s.tasks.flatMap(trainingTexts), maxTokens);
    const seqs = opts.maxSequences ? all.slice(0, opts.maxSequences) : all;
    totalSequences.push(seqs.length);
    return seqs;
  });
  const total = totalSequences.reduce((a, b) => a + b, 0);
  let done = 0;
  for (const [i, s] of sources.entries()) {
    throwIfAborted(opts.signal);
    const own = files[i].config;
    const host = await readHostTensors(own, files[i].tensors, s.name, { signal: opts.signal });
    const weights = new Map([...expectedTensors(own).keys()].map((name) => [name, hostTensorToF32(host.get(name)!).slice()]));
    const runtime = await createRuntime(own, weights, opts.teacherBackend);
    const targets: TeacherTargets[] = [];
    try {
      for (const seq of sequencesOf[i]) {
        const logits = await runtime.logits(seq, opts.signal);
        targets.push(union ? mergedTargets(seq, logits, union.toMerged[i], topK) : teacherTargets(seq, logits, own.vocabSize, topK));
        opts.onProgress?.({ phase: 'dam-teacher', done: ++done, total, message: s.name });
      }
    } finally {
      runtime.dispose();
    }
    if (union) {
      // The student reads this expert's embedding / lm_head in the union's order.
      const rows = await mergeToMemory({ ...union.plan, method: pickModel(i) }, { signal: opts.signal, only: (name) => name === EMBED_TENSOR || name === LM_HEAD_TENSOR });
      for (const [name, values] of rows) if (weights.has(name)) weights.set(name, new Float32Array(values));
    }
    experts.push({ name: s.name, weights, targets });
    tokens.push(sequencesOf[i].reduce((a, q) => a + q.length, 0));
  }
  const layout = coefficientLayout(config, sources.length, opts.scope);
  return { objective: new DamObjective(config, layout, experts, opts.precision ?? 'f32'), config, tokenizer, experts: files, tokens };
}
