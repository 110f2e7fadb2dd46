// Benchmarks in the CLI: `--task arc_easy` (or `mmlu`, or a task YAML) next to JSONL files. Dataset
// splits come from the Hub (the same --hub-url, --token and cache flags as models), or from a local
// folder when the task YAML's dataset_path is one.
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { findSplitFiles, openSplit, type DatasetSplit } from '../core/benchmarks/dataset.ts';
import type { BenchmarkDef } from '../core/benchmarks/definitions.ts';
import { evaluateBenchmark } from '../core/benchmarks/evaluate.ts';
import { openHubDatasetSplit } from '../core/benchmarks/hub-dataset.ts';
import { expandBenchmark, loadBenchmark } from '../core/benchmarks/load.ts';
import { MergeStudioError } from '../core/errors.ts';
import type { TaskResult } from '../core/eval/metrics.ts';
import type { CausalLM } from '../core/eval/runtime.ts';
import type { TextTokenizer } from '../core/eval/tokenizer.ts';
import { nodeHubCache } from '../core/hub/node-cache.ts';
import { DEFAULT_HUB_URL } from '../core/hub/tree.ts';
import { nodeFolderTree } from '../core/io/node-file.ts';
import type { SourceOptions } from './sources.ts';

/** Opens dataset splits for benchmark loading: a local folder, else a Hub dataset repo. */
export function splitOpener(opts: SourceOptions = {}): (dataset: BenchmarkDef['dataset'], split: string) => Promise<DatasetSplit> {
  const env = process.env;
  const cache = opts.noCache ? undefined : nodeHubCache(opts.cacheDir ?? undefined);
  return async (dataset, split) => {
    const local = isAbsolute(dataset.path) || dataset.path.startsWith('.') ? resolve(opts.baseDir ?? process.cwd(), dataset.path) : null;
    if (local || (existsSync(dataset.path) && statSync(dataset.path).isDirectory())) {
      const dir = local ?? resolve(dataset.path);
      if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new MergeStudioError('file-not-found', `${dataset.path}: no such dataset folder`, { file: dataset.path });
      const tree = nodeFolderTree(dir);
      const files = findSplitFiles(await tree.list(), dataset.config, split, dataset.files?.[split]);
      if (!files) throw new MergeStudioError('dataset-split-missing', `${dataset.path}: no data files for split '${split}'${dataset.config ? ` of config '${dataset.config}'` : ''}`, { dataset: dataset.path, split });
      return openSplit(tree, files, `${dataset.path}: ${dataset.config ? `${dataset.config}/` : ''}${split}`, opts.signal);
    }
    return openHubDatasetSplit({
      id: dataset.path,
      config: dataset.config,
      split,
      files: dataset.files?.[split],
      hubUrl: opts.hubUrl ?? env.HF_ENDPOINT ?? DEFAULT_HUB_URL,
      accessToken: opts.token ?? (env.HF_TOKEN || undefined),
      cache,
      offline: opts.offline ?? (env.HF_HUB_OFFLINE === '1' || env.HF_HUB_OFFLINE === 'true'),
      onProgress: opts.onProgress,
      signal: opts.signal,
    });
  };
}

export interface BenchmarkRunOptions {
  /** First N documents of each task (lm-eval's --limit). */
  limit?: number;
  numFewshot?: number;
  /** Prompts through the model's chat template (lm-eval's --apply_chat_template). */
  chat?: boolean;
  sources?: SourceOptions;
  signal?: AbortSignal;
}

/** Evaluates one benchmark name (or group) and returns a result per task, plus the group's
 * aggregate (acc over all documents, as lm-eval's weight_by_size). */
export async function runBenchmark(name: string, defs: BenchmarkDef[], model: CausalLM, tok: TextTokenizer, opts: BenchmarkRunOptions): Promise<TaskResult[]> {
  const open = splitOpener({ ...opts.sources, signal: opts.signal });
  const results: TaskResult[] = [];
  for (const def of defs) {
    const loaded = await loadBenchmark(def, { openSplit: open, limit: opts.limit, numFewshot: opts.numFewshot, signal: opts.signal });
    results.push(await evaluateBenchmark(model, tok, loaded, { signal: opts.signal, chat: opts.chat }));
  }
  if (defs.length > 1) {
    const items = results.reduce((a, r) => a + r.items, 0);
    const acc = results.reduce((a, r) => a + r.metrics.acc * r.items, 0) / items;
    results.push({ task: name, kind: 'multiple_choice', items, metrics: { acc, accuracy: acc }, perItem: [], seconds: results.reduce((a, r) => a + r.seconds, 0) });
  }
  return results;
}

export { expandBenchmark };
