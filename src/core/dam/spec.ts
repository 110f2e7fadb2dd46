// A DAM run as written in SPEC.yml (`merge-studio dam`): the experts with their own task files,
// and the training settings. Paths stay as written; the CLI resolves them against the spec's folder.
import { parse } from 'yaml';
import { MergeStudioError } from '../errors.ts';
import { didYouMean } from '../recipe/suggest.ts';
import type { DamScope } from './coefficients.ts';
import { DEFAULT_TRAIN_SETTINGS, type DamTrainSettings } from './train.ts';

export interface DamSpecExpert {
  model: string;
  /** Task files (`<skill>.{gen,mc,ppl}.jsonl`) this expert is distilled on. */
  data: string[];
}

export interface DamSpec {
  name?: string;
  /** The experts' common base; optional, checked to share the experts' architecture. */
  baseModel?: string;
  experts: DamSpecExpert[];
  train: DamTrainSettings;
  scope: DamScope;
  /** Longest training sequence in tokens. */
  maxTokens?: number;
  /** Sequences per expert (the first ones of its data). */
  maxSequences?: number;
  /** Teacher logits kept per position (0: the whole vocabulary). */
  topK?: number;
  /** mergekit dtype of the written weights (default: the experts'). */
  dtype?: string;
}

const TOP_KEYS = ['name', 'base_model', 'models', 'steps', 'lr', 'batch_size', 'temperature', 'lambda', 'l1', 'l2', 'weight_decay', 'seed', 'max_tokens', 'max_sequences', 'top_k', 'train_norms', 'train_embeddings', 'dtype'];
const MODEL_KEYS = ['model', 'data'];
const DTYPES = ['float32', 'float16', 'bfloat16', 'fp32', 'fp16', 'bf16'];

type Obj = Record<string, unknown>;

function fail(where: string, message: string): never {
  throw new MergeStudioError('dam-spec', `${where}: ${message}`, { file: where });
}

function mapping(v: unknown, path: string, where: string, keys: string[]): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(where, `${path} must be a mapping, found ${JSON.stringify(v)}`);
  for (const k of Object.keys(v as Obj)) {
    if (!keys.includes(k)) fail(where, `unknown key '${path === 'the spec' ? '' : `${path}.`}${k}'${didYouMean(k, keys)} (valid: ${keys.join(', ')})`);
  }
  return v as Obj;
}

function text(v: unknown, path: string, where: string): string {
  if (typeof v !== 'string' || v.trim() === '') fail(where, `'${path}' must be a non-empty string, found ${JSON.stringify(v)}`);
  return v;
}

/** Parses SPEC.yml; `where` names the file in messages. */
export function parseDamSpec(source: string, where = 'DAM spec'): DamSpec {
  let raw: unknown;
  try {
    raw = parse(source);
  } catch (err) {
    fail(where, `not valid YAML (${err instanceof Error ? err.message : String(err)})`);
  }
  const top = mapping(raw, 'the spec', where, TOP_KEYS);
  if (!Array.isArray(top.models) || top.models.length < 2) fail(where, `'models' must list at least two experts (each {model, data}), found ${JSON.stringify(top.models ?? null)}`);
  const experts = (top.models as unknown[]).map((m, i) => {
    const o = mapping(m, `models[${i}]`, where, MODEL_KEYS);
    const data = typeof o.data === 'string' ? [o.data] : o.data;
    if (!Array.isArray(data) || data.length === 0) fail(where, `'models[${i}].data' must name the expert's task files (a path or a list of paths), found ${JSON.stringify(o.data ?? null)}`);
    return { model: text(o.model, `models[${i}].model`, where), data: data.map((d, j) => text(d, `models[${i}].data[${j}]`, where)) };
  });
  const num = (key: string, fallback: number, check: (n: number) => boolean, expected: string): number => {
    const v = top[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !check(v)) fail(where, `'${key}' must be ${expected}, found ${JSON.stringify(v)}`);
    return v;
  };
  const int = (n: number) => Number.isSafeInteger(n);
  const positive = (n: number) => n > 0 && Number.isFinite(n);
  const nonNegative = (n: number) => n >= 0 && Number.isFinite(n);
  const optionalInt = (key: string, check: (n: number) => boolean, expected: string) => (top[key] === undefined ? undefined : num(key, 0, check, expected));
  const flag = (key: string): boolean => {
    const v = top[key];
    if (v === undefined) return false;
    if (typeof v !== 'boolean') fail(where, `'${key}' must be true or false, found ${JSON.stringify(v)}`);
    return v;
  };
  const d = DEFAULT_TRAIN_SETTINGS;
  const train: DamTrainSettings = {
    ...d,
    steps: num('steps', d.steps, (n) => int(n) && n > 0, 'a positive integer'),
    learningRate: num('lr', d.learningRate, positive, 'a positive number'),
    batchSize: num('batch_size', d.batchSize, (n) => int(n) && n > 0, 'a positive integer'),
    temperature: num('temperature', d.temperature, positive, 'a positive number'),
    similarity: num('lambda', d.similarity, nonNegative, 'a non-negative number'),
    l1: num('l1', d.l1, nonNegative, 'a non-negative number'),
    l2: num('l2', d.l2, nonNegative, 'a non-negative number'),
    weightDecay: num('weight_decay', d.weightDecay, nonNegative, 'a non-negative number'),
    seed: num('seed', d.seed, (n) => int(n) && n >= 0, 'a non-negative integer'),
  };
  if (top.dtype !== undefined && !DTYPES.includes(String(top.dtype))) fail(where, `'dtype' must be one of ${DTYPES.join(', ')}, found ${JSON.stringify(top.dtype)}`);
  return {
    ...(top.name !== undefined ? { name: text(top.name, 'name', where) } : {}),
    ...(top.base_model !== undefined ? { baseModel: text(top.base_model, 'base_model', where) } : {}),
    experts,
    train,
    scope: { norms: flag('train_norms'), embeddings: flag('train_embeddings') },
    maxTokens: optionalInt('max_tokens', (n) => int(n) && n > 1, 'an integer above 1'),
    maxSequences: optionalInt('max_sequences', (n) => int(n) && n > 0, 'a positive integer'),
    topK: optionalInt('top_k', (n) => int(n) && n >= 0, 'a non-negative integer'),
    ...(top.dtype !== undefined ? { dtype: String(top.dtype) } : {}),
  };
}
