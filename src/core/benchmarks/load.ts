// A benchmark's requests for the first `limit` documents of its evaluation split (lm-eval's
// `--limit`: the first N documents in dataset order), reading only those rows and the few-shot rows
// they need. Few-shot examples are drawn as lm-eval draws them: one `Random(fewshot_seed)` (1234 by
// default, lm_eval/evaluator.py) shared by the documents in order, `sample(fewshot_docs, k)` each
// (lm_eval/api/samplers.py ContextSampler), or the first k for `first_n` samplers (MMLU). The draws
// for document i depend only on i, so every document's prompt equals the one lm-eval builds for it in
// a full run.
import { MergeStudioError } from '../errors.ts';
import { throwIfAborted, type ProgressCallback } from '../progress.ts';
import type { DatasetSplit } from './dataset.ts';
import { BENCHMARKS, BENCHMARK_GROUPS, type BenchmarkDef, type Doc } from './definitions.ts';
import { buildRequest, type BenchmarkRequest } from './prompt.ts';
import { PyRandom } from './pyrandom.ts';

export const DEFAULT_FEWSHOT_SEED = 1234;

export interface LoadedBenchmark {
  def: BenchmarkDef;
  numFewshot: number;
  /** Documents in the evaluation split (all of them, not just the ones loaded). */
  splitRows: number;
  requests: BenchmarkRequest[];
}

export interface LoadBenchmarkOptions {
  /** Opens a split of the benchmark's dataset (Hub or local). */
  openSplit: (dataset: BenchmarkDef['dataset'], split: string) => Promise<DatasetSplit>;
  /** First N documents (default: all). */
  limit?: number;
  /** Shots (default: the task's own num_fewshot). */
  numFewshot?: number;
  fewshotSeed?: number;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
}

/** The benchmark names a `--task` value stands for: one task, or a group's members (`mmlu`). */
export function expandBenchmark(name: string): BenchmarkDef[] | null {
  const group = BENCHMARK_GROUPS.get(name);
  if (group) return group.map((n) => BENCHMARKS.get(n)!);
  const def = BENCHMARKS.get(name);
  return def ? [def] : null;
}

export async function loadBenchmark(def: BenchmarkDef, opts: LoadBenchmarkOptions): Promise<LoadedBenchmark> {
  const numFewshot = opts.numFewshot ?? def.numFewshot;
  if (!Number.isInteger(numFewshot) || numFewshot < 0) throw new MergeStudioError('benchmark-fewshot-invalid', `${def.name}: the number of shots must be a non-negative integer, found ${numFewshot}`, { task: def.name });
  const split = await opts.openSplit(def.dataset, def.evalSplit);
  const n = opts.limit === undefined ? split.rows : Math.min(split.rows, opts.limit);
  if (opts.limit !== undefined && (!Number.isInteger(opts.limit) || opts.limit < 1)) throw new MergeStudioError('eval-limit-invalid', `limit must be a positive integer, found ${opts.limit}`, { found: opts.limit });
  if (n === 0) throw new MergeStudioError('benchmark-empty', `${split.name}: the split has no rows`, { task: def.name });
  opts.onProgress?.({ phase: 'dataset', done: 0, total: n, message: `${def.name}: reading ${n} of ${split.rows} documents` });
  const docs = await split.read(Array.from({ length: n }, (_, i) => i), opts.signal);

  let shots: Doc[][] = docs.map(() => []);
  if (numFewshot > 0) {
    throwIfAborted(opts.signal);
    const pool = await opts.openSplit(def.dataset, def.fewshotSplit);
    if (pool.rows < numFewshot) throw new MergeStudioError('benchmark-fewshot-invalid', `${def.name}: ${numFewshot} shots asked but the few-shot split '${def.fewshotSplit}' has ${pool.rows} documents`, { task: def.name });
    let picks: number[][];
    if (def.sampler === 'first_n') picks = docs.map(() => Array.from({ length: numFewshot }, (_, i) => i));
    else {
      const rnd = new PyRandom(opts.fewshotSeed ?? DEFAULT_FEWSHOT_SEED);
      picks = docs.map(() => rnd.sampleIndices(pool.rows, numFewshot));
    }
    const unique = [...new Set(picks.flat())].sort((a, b) => a - b);
    const read = await pool.read(unique, opts.signal);
    const byRow = new Map(unique.map((row, i) => [row, read[i]]));
    shots = picks.map((p) => p.map((row) => byRow.get(row)!));
  }
  const requests = docs.map((doc, i) => buildRequest(def, doc, shots[i]));
  return { def, numFewshot, splitRows: split.rows, requests };
}
