// `merge-studio search SPEC.yml --out DIR`: an automated merge search on the CPU engine. Trials are
// appended to DIR/trials.jsonl as they finish, so Ctrl-C (or a crash) loses at most the trial in
// flight and running the same command again resumes; frontier.json and the best recipes as
// mergekit YAML are rewritten after every trial. Progress goes to stderr.
import { appendFile, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { MergeStudioError } from '../core/errors.ts';
import { renameModels } from '../core/recipe/stages.ts';
import { recipeToYaml } from '../core/recipe/yaml.ts';
import type { Recipe } from '../core/recipe/types.ts';
import {
  createSpace,
  OPTIMIZER_KINDS,
  parseSearchSpec,
  parseTrialLines,
  SearchRun,
  type OptimizerKind,
  type SearchSpec,
  type TrialRecord,
  type TrialStore,
} from '../core/search/index.ts';
import { openSearchModels, createMergeObjective } from '../core/search/objective.ts';
import { nodeFolderTree } from '../core/io/node-file.ts';
import { expandBenchmark, splitOpener } from './benchmarks.ts';
import { parseSourceFlags, SOURCE_FLAGS_HELP, type SourceOptions } from './sources.ts';
import { checkOutDir, makeFolders } from './out-dir.ts';

const USAGE = `usage: merge-studio search SPEC.yml --out DIR [--optimizer random|cmaes|nsga2|forest] [--seed N]
       [--cost N] [--trials N] [--levels 0.111,0.333,1] [--limit N] [--fresh] [--quiet]
  objectives may name benchmarks (arc_easy.acc_norm, mean(arc_easy.acc_norm,gsm8k.exact_match)); their
  datasets are read from the Hub with:
${SOURCE_FLAGS_HELP}`;

interface Options {
  spec: string;
  out: string;
  fresh: boolean;
  quiet: boolean;
  overrides: { optimizer?: OptimizerKind; seed?: number; cost?: number; trials?: number; levels?: number[]; limit?: number };
  /** Where benchmark datasets are read from (--hub-url, --token, cache flags). */
  sources: SourceOptions;
}

function usage(message: string): never {
  throw new MergeStudioError('cli-usage', `${message}\n${USAGE}`);
}

function parseArgs(argvWithSources: string[]): Options {
  const { options: sources, rest: argv } = parseSourceFlags(argvWithSources);
  let spec: string | undefined;
  let out: string | undefined;
  let fresh = false;
  let quiet = false;
  const overrides: Options['overrides'] = {};
  const num = (flag: string, v: string | undefined) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n)) usage(`${flag} needs a number, found ${v === undefined ? 'nothing' : `'${v}'`}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out') out = argv[++i];
    else if (a === '--fresh') fresh = true;
    else if (a === '--quiet') quiet = true;
    else if (a === '--optimizer') {
      const k = argv[++i] as OptimizerKind;
      if (!OPTIMIZER_KINDS.includes(k)) usage(`--optimizer must be one of ${OPTIMIZER_KINDS.join(', ')}, found '${k}'`);
      overrides.optimizer = k;
    } else if (a === '--seed') overrides.seed = num(a, argv[++i]);
    else if (a === '--cost') overrides.cost = num(a, argv[++i]);
    else if (a === '--trials') overrides.trials = num(a, argv[++i]);
    else if (a === '--limit') overrides.limit = num(a, argv[++i]);
    else if (a === '--levels') overrides.levels = (argv[++i] ?? '').split(',').map((s) => num(a, s));
    else if (a.startsWith('--')) usage(`unknown option '${a}'`);
    else if (spec === undefined) spec = a;
    else usage(`unexpected argument '${a}'`);
  }
  if (!spec) usage('no SPEC.yml given');
  if (!out) usage('--out DIR is required');
  return { spec, out, fresh, quiet, overrides, sources };
}

function applyOverrides(spec: SearchSpec, o: Options['overrides']): SearchSpec {
  const s: SearchSpec = structuredClone(spec);
  if (o.optimizer) s.optimizer = { ...s.optimizer, kind: o.optimizer };
  if (o.seed !== undefined) s.seed = o.seed;
  if (o.cost !== undefined) s.budget = { ...s.budget, cost: o.cost };
  if (o.trials !== undefined) s.budget = { ...s.budget, trials: o.trials };
  if (o.levels) s.fidelity = { ...s.fidelity, levels: o.levels };
  if (o.limit !== undefined) s.limit = o.limit;
  return s;
}

/** trials.jsonl, one JSON trial per line, appended as each trial finishes. */
function jsonlTrialStore(path: string): TrialStore {
  return {
    async load() {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw err;
      }
      return parseTrialLines(text, path);
    },
    async append(trial) {
      await appendFile(path, JSON.stringify(trial) + '\n');
    },
  };
}

async function writeAtomically(path: string, text: string): Promise<void> {
  await writeFile(`${path}.partial`, text);
  await rename(`${path}.partial`, path);
}

export async function run(argv: string[]): Promise<number> {
  const options = parseArgs(argv);
  const specPath = resolve(options.spec);
  let specText: string;
  try {
    specText = await readFile(specPath, 'utf8');
  } catch {
    throw new MergeStudioError('file-not-found', `${options.spec}: cannot read the search spec`, { file: options.spec });
  }
  const spec = applyOverrides(parseSearchSpec(specText, options.spec), options.overrides);
  const specDir = dirname(specPath);
  const fromSpec = (p: string) => (isAbsolute(p) ? p : join(specDir, p));
  const outDir = await checkOutDir(options.out, { allowNonEmpty: true });
  // --out is created only once the spec, the models and the tasks have all been checked, so a
  // spec that fails leaves nothing behind.

  // The same output folder resumes only the same search.
  const specRecord = join(outDir, 'spec.json');
  const trialsPath = join(outDir, 'trials.jsonl');
  const effective = JSON.stringify(spec, null, 2);
  // The budget only decides where a run stops, so a larger one continues the same search.
  const identity = (text: string) => JSON.stringify({ ...(JSON.parse(text) as SearchSpec), budget: undefined });
  if (options.fresh) await rm(trialsPath, { force: true });
  const previous = await readFile(specRecord, 'utf8').catch(() => null);
  const hasTrials = ((await readFile(trialsPath, 'utf8').catch(() => '')) as string).trim() !== '';
  if (hasTrials && previous !== null && identity(previous) !== identity(effective)) {
    throw new MergeStudioError(
      'search-out-busy',
      `${options.out} holds trials of a different search spec; pass --fresh to discard them or choose another --out`,
      { out: options.out },
    );
  }

  const log = (line: string) => process.stderr.write(`${line}\n`);
  const models = await openSearchModels(
    spec.base,
    spec.experts,
    (ref) => nodeFolderTree(fromSpec(ref)),
  );
  const space = createSpace(spec.space, { base: spec.base, experts: spec.experts, numLayers: models.numLayers, randomSeed: spec.seed });
  const onlyBenchmarks = spec.objectives.every((o) => (/^mean\((.+)\)$/.exec(o.name)?.[1] ?? o.name).split(',').every((n) => expandBenchmark(n.trim().slice(0, n.trim().lastIndexOf('.'))) !== null));
  if (!spec.tasks && !onlyBenchmarks) throw new MergeStudioError('search-spec', `${options.spec}: 'tasks' (the folder of task JSONL files) is required unless every objective names a benchmark`);
  const objective = await createMergeObjective({
    models: models.handles,
    tasks: spec.tasks ? nodeFolderTree(fromSpec(spec.tasks)) : undefined,
    benchmarks: { openSplit: splitOpener({ ...options.sources, baseDir: dirname(resolve(options.spec)) }) },
    objectives: spec.objectives,
    limit: spec.limit,
  });
  await makeFolders(outDir);
  const started = performance.now();
  const searchRun = await SearchRun.open(spec, space, objective, {
    store: jsonlTrialStore(trialsPath),
    onProgress: options.quiet ? undefined : (p) => log(`[search ${p.done.toFixed(2)}/${p.total}] ${p.message ?? ''}`),
  });
  await writeAtomically(specRecord, effective);
  if (searchRun.trials.length > 0) log(`resuming: ${searchRun.trials.length} trials already in ${options.out}/trials.jsonl`);

  // Recipes in the output folder refer to the models relative to that folder.
  const refForOut = (ref: string) => relative(outDir, fromSpec(ref)) || '.';
  // A multi-stage recipe's final document stays unnamed: mergekit-multi writes that one to --out-path.
  const exportRecipe = (r: Recipe, name: string): Recipe => ({ ...renameModels(r, refForOut), ...(r.stages?.length ? {} : { name }) });
  const writeResults = async () => {
    const summary = searchRun.summary();
    const byId = new Map(searchRun.trials.map((t) => [t.id, t as TrialRecord<Recipe>]));
    const front = summary.front.map((id) => byId.get(id)!);
    await makeFolders(join(outDir, 'front'));
    for (const t of front) await writeAtomically(join(outDir, 'front', `trial-${t.id}.yml`), recipeToYaml(exportRecipe(t.recipe, `search-trial-${t.id}`)));
    for (const [name, best] of Object.entries(summary.best)) {
      const t = byId.get(best.trial)!;
      await writeAtomically(join(outDir, `best-${name}.yml`), recipeToYaml(exportRecipe(t.recipe, `search-best-${name}`)));
    }
    await writeAtomically(
      join(outDir, 'frontier.json'),
      JSON.stringify(
        {
          status: searchRun.status,
          objectives: spec.objectives,
          optimizer: spec.optimizer,
          fidelity: spec.fidelity,
          budget: spec.budget,
          seed: spec.seed,
          trials: summary.trials,
          cost: summary.cost,
          perFidelity: summary.perFidelity,
          hypervolume: summary.hypervolume,
          best: summary.best,
          front: front.map((t) => ({ trial: t.id, objectives: t.objectives, values: t.values, recipe: `front/trial-${t.id}.yml` })),
          history: summary.history,
          wallSeconds: (performance.now() - started) / 1000,
          evaluationSeconds: searchRun.trials.reduce((a, t) => a + t.seconds, 0),
        },
        null,
        2,
      ) + '\n',
    );
  };
  // one write at a time: each finished trial queues a rewrite of the result files
  let writing = Promise.resolve();
  searchRun.subscribe((e) => {
    if (e.type === 'trial' && !e.replayed) writing = writing.then(writeResults);
  });

  const interrupt = new AbortController();
  const onSigint = () => {
    log('interrupted: finishing with the trials so far (run the same command again to resume)');
    interrupt.abort();
  };
  process.once('SIGINT', onSigint);
  try {
    const status = await searchRun.start(interrupt.signal);
    await writing;
    await writeResults();
    const s = searchRun.summary();
    log(
      `${status}: ${s.trials} trials, cost ${s.cost.toFixed(2)} full evaluations, hypervolume ${s.hypervolume.toFixed(4)}; best ${Object.entries(s.best)
        .map(([k, v]) => `${k}=${v.value.toFixed(4)} (trial ${v.trial})`)
        .join(', ')}; results in ${options.out}`,
    );
    return status === 'done' ? 0 : 130;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}
