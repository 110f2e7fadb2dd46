// The real objective of a merge search: merge the candidate recipe in memory with the engine, build
// an evaluation runtime over the merged tensors, and score the tasks the objectives name on the
// first `fidelity` fraction of their seeded item order (smaller fidelities are prefixes).
import type { DatasetSplit } from '../benchmarks/dataset.ts';
import type { BenchmarkDef } from '../benchmarks/definitions.ts';
import { evaluateBenchmark } from '../benchmarks/evaluate.ts';
import { expandBenchmark, loadBenchmark, type LoadedBenchmark } from '../benchmarks/load.ts';
import { mergeToMemory, plan, type MergeBackend, type Plan } from '../engine/index.ts';
import { MergeStudioError } from '../errors.ts';
import { parseCausalLMConfig } from '../eval/config.ts';
import { createRuntime } from '../eval/load.ts';
import { mergedTokenizer, mergedTokenizerKey } from '../eval/merged.ts';
import { evaluateTask } from '../eval/metrics.ts';
import type { EvalBackend } from '../eval/runtime.ts';
import { itemOrder, parseTaskJsonl, type EvalTask } from '../eval/tasks.ts';
import type { TextTokenizer } from '../eval/tokenizer.ts';
import { expectedTensors } from '../eval/weights.ts';
import type { FileTree } from '../io/types.ts';
import { openModel, type ModelHandle } from '../model/handle.ts';
import { loadVocabularies } from '../tokenizer/vocab.ts';
import type { Recipe } from '../recipe/types.ts';
import { didYouMean } from '../recipe/suggest.ts';
import type { ObjectiveSpec } from './objectives.ts';
import type { ObjectiveFunction } from './run.ts';

export interface SearchModels {
  /** Opened models keyed by the reference the recipes use. */
  handles: Map<string, ModelHandle>;
  numLayers: number;
}

/** Opens the base and the experts (headers only) and checks they share a layer count. */
export async function openSearchModels(
  base: string,
  experts: readonly string[],
  treeOf: (ref: string) => FileTree,
  signal?: AbortSignal,
): Promise<SearchModels> {
  const handles = new Map<string, ModelHandle>();
  for (const ref of [base, ...experts]) handles.set(ref, await openModel(treeOf(ref), signal, ref));
  await loadVocabularies(handles.values(), signal);
  const numLayers = handles.get(base)!.numLayers;
  for (const ref of experts) {
    const n = handles.get(ref)!.numLayers;
    if (n !== numLayers) {
      throw new MergeStudioError('search-models', `${ref} has ${n} layers but the base ${base} has ${numLayers}; a search merges models of one family`, {
        model: ref,
      });
    }
  }
  return { handles, numLayers };
}

/** Which task file kind holds each metric. */
const KIND_OF_METRIC: Record<string, 'gen' | 'mc' | 'ppl'> = {
  exact_match: 'gen',
  accuracy: 'mc',
  accuracy_norm: 'mc',
  perplexity: 'ppl',
  nll_per_token: 'ppl',
};

/** Metrics of benchmark tasks (lm-eval's names; exact_match is GSM8K's strict match). */
const BENCHMARK_METRICS = ['acc', 'acc_norm', 'exact_match', 'exact_match_flexible'];

export interface MergeObjectiveOptions {
  models: ReadonlyMap<string, ModelHandle>;
  /** Folder of `<task>.{gen,mc,ppl}.jsonl` files (optional when every objective is a benchmark). */
  tasks?: FileTree;
  /** Benchmarks (`arc_easy.acc_norm`, `mean(arc_easy.acc_norm,gsm8k.exact_match)`): how to open
   * their dataset splits. A task file of the same name in `tasks` wins. */
  benchmarks?: { openSplit: (dataset: BenchmarkDef['dataset'], split: string) => Promise<DatasetSplit>; numFewshot?: number };
  objectives: readonly ObjectiveSpec[];
  /** Items per task at fidelity 1 (default: all). */
  limit?: number;
  /** Seed of the item order (default 0, as `merge-studio eval`). */
  itemSeed?: number;
  backend?: EvalBackend;
  mergeBackend?: MergeBackend;
  /** Told how many items of a task each evaluation actually ran (reused ones excluded). */
  onItemsEvaluated?: (task: string, items: number) => void;
}

/** Objective names are `<task>.<metric>`, e.g. `add.exact_match`, `add.accuracy`, `add.perplexity`,
 * or `mean(<task>.<metric>,...)`, the average of several. */
export async function createMergeObjective(options: MergeObjectiveOptions): Promise<ObjectiveFunction<Recipe>> {
  const files = options.tasks ? await options.tasks.list() : [];
  const tasks = new Map<string, EvalTask>();
  /** Benchmarks by name: the loaded documents of each member task (one, or a group's subjects). */
  const benchmarks = new Map<string, LoadedBenchmark[]>();
  const wanted: { objective: string; parts: { file: string; metric: string }[] }[] = [];
  const metricSource = async (objective: string, name: string) => {
    const dot = name.lastIndexOf('.');
    const metric = name.slice(dot + 1);
    const taskName = name.slice(0, dot);
    const defs = dot > 0 && options.benchmarks ? expandBenchmark(taskName) : null;
    if (defs && !files.some((f) => f.startsWith(`${taskName}.`))) {
      if (!BENCHMARK_METRICS.includes(metric)) {
        throw new MergeStudioError('search-objective-name', `objective '${objective}': benchmark ${taskName} has the metrics ${defs[0].metrics.join(', ')}${didYouMean(metric, BENCHMARK_METRICS)}`, { objective });
      }
      const wantsGen = metric.startsWith('exact_match');
      if (defs.some((d) => (d.outputType === 'generate_until') !== wantsGen || (metric === 'acc_norm' && !d.metrics.includes('acc_norm')))) {
        throw new MergeStudioError('search-objective-name', `objective '${objective}': benchmark ${taskName} has the metrics ${defs[0].metrics.join(', ')}`, { objective });
      }
      if (!benchmarks.has(taskName)) {
        const loaded: LoadedBenchmark[] = [];
        for (const def of defs) loaded.push(await loadBenchmark(def, { openSplit: options.benchmarks!.openSplit, limit: options.limit, numFewshot: options.benchmarks!.numFewshot }));
        benchmarks.set(taskName, loaded);
      }
      return { file: `benchmark:${taskName}`, metric };
    }
    const kind = KIND_OF_METRIC[metric];
    if (dot <= 0 || !kind) {
      throw new MergeStudioError(
        'search-objective-name',
        `objective '${objective}' must be <task>.<metric> (or mean(<task>.<metric>,...)) with metric one of ${Object.keys(KIND_OF_METRIC).join(', ')}${dot > 0 ? didYouMean(metric, Object.keys(KIND_OF_METRIC)) : ''}`,
        { objective },
      );
    }
    const file = `${name.slice(0, dot)}.${kind}.jsonl`;
    if (!options.tasks || !files.includes(file)) {
      throw new MergeStudioError(
        'search-task-missing',
        `objective '${objective}' needs ${options.tasks ? `${options.tasks.name}/` : 'a tasks folder with '}${file}, which does not exist${didYouMean(file, files.filter((f) => f.endsWith('.jsonl')))}`,
        { objective, file },
      );
    }
    if (!tasks.has(file)) {
      const source = await options.tasks.open(file);
      tasks.set(file, parseTaskJsonl(new TextDecoder().decode(await source.read(0, source.size)), `${options.tasks.name}/${file}`));
    }
    return { file, metric };
  };
  for (const o of options.objectives) {
    // mean(a.exact_match,b.exact_match): one scalar over several tasks, for single-objective runs
    const mean = /^mean\((.+)\)$/.exec(o.name);
    const names = mean ? mean[1].split(',').map((s) => s.trim()) : [o.name];
    const parts = [];
    for (const name of names) parts.push(await metricSource(o.name, name));
    wanted.push({ objective: o.name, parts });
  }

  // Exact match and accuracy are means of per-item scores, so a candidate promoted to a higher
  // fidelity only needs the items its lower fidelity did not cover (the subsets nest).
  const incremental = new Set(
    [...tasks.keys()].filter((file) =>
      wanted.every((w) => w.parts.every((p) => p.file !== file || p.metric === 'exact_match' || p.metric === 'accuracy')),
    ),
  );
  const itemScores = new Map<string, Map<string, Map<number, number>>>();

  // The merged model's tokenizer (its vocabulary and chat template, as the export writes them) and
  // generation limit, read once per distinct tokenizer.
  const tokenizers = new Map<string, Promise<{ tokenizer: TextTokenizer; maxNewTokens?: number }>>();
  const tokenizerOf = (p: Plan) => {
    const key = mergedTokenizerKey(p);
    let t = tokenizers.get(key);
    if (!t) {
      t = mergedTokenizer(p);
      tokenizers.set(key, t);
      t.catch(() => tokenizers.delete(key));
    }
    return t;
  };

  return async (recipe, fidelity, signal) => {
    const mergePlan = plan(recipe, options.models, { stageBackend: options.mergeBackend });
    const config = parseCausalLMConfig(mergePlan.config, `${mergePlan.tokenizerModel.id} (merged config.json)`);
    const needed = expectedTensors(config);
    const weights = await mergeToMemory(mergePlan, { backend: options.mergeBackend, signal, only: (name) => needed.has(name) });
    const { tokenizer, maxNewTokens } = await tokenizerOf(mergePlan);
    const model = await createRuntime(config, weights, options.backend);
    const seed = options.itemSeed ?? 0;
    const known = itemScores.get(JSON.stringify(recipe)) ?? new Map<string, Map<number, number>>();
    try {
      const results = new Map<string, Record<string, number>>();
      for (const [file, task] of tasks) {
        const full = Math.min(task.items.length, options.limit ?? task.items.length);
        const limit = Math.max(1, Math.round(fidelity * full));
        if (!incremental.has(file)) {
          const r = await evaluateTask(model, tokenizer, task, { limit, seed, maxNewTokens, signal });
          options.onItemsEvaluated?.(task.name, r.items);
          results.set(file, r.metrics);
          continue;
        }
        // Nested subsets: items this recipe was already scored on (at a lower fidelity) are reused
        const indices = Array.from(itemOrder(task.items.length, seed).subarray(0, limit));
        const scores = known.get(file) ?? new Map<number, number>();
        const missing = indices.filter((i) => !scores.has(i));
        if (missing.length > 0) {
          const part = { ...task, items: missing.map((i) => task.items[i]) } as EvalTask;
          const r = await evaluateTask(model, tokenizer, part, { maxNewTokens, signal });
          for (const item of r.perItem) scores.set(missing[item.index], item.score);
        }
        options.onItemsEvaluated?.(task.name, missing.length);
        known.set(file, scores);
        const value = indices.reduce((a, i) => a + scores.get(i)!, 0) / indices.length;
        results.set(file, { [task.kind === 'exact_match' ? 'exact_match' : 'accuracy']: value });
      }
      for (const [name, members] of benchmarks) {
        // Each member task at this fidelity: a prefix of the seeded order of its loaded documents.
        let items = 0;
        const sums: Record<string, number> = {};
        for (const loaded of members) {
          const limit = Math.max(1, Math.round(fidelity * loaded.requests.length));
          const r = await evaluateBenchmark(model, tokenizer, loaded, { limit, seed, signal });
          options.onItemsEvaluated?.(r.task, r.items);
          items += r.items;
          for (const [k, v] of Object.entries(r.metrics)) sums[k] = (sums[k] ?? 0) + v * r.items;
        }
        results.set(`benchmark:${name}`, Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / items])));
      }
      itemScores.set(JSON.stringify(recipe), known);
      return Object.fromEntries(
        wanted.map((w) => [w.objective, w.parts.reduce((a, p) => a + results.get(p.file)![p.metric], 0) / w.parts.length]),
      );
    } finally {
      model.dispose();
    }
  };
}
