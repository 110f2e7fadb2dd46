// Search throughput for `npm run bench`: trials per minute of a real search on the demo family
// (CPU merge + CPU evaluation, the same objective the CLI uses), per fidelity level and overall.
import { join } from 'node:path';
import { nodeFolderTree } from '../../src/core/io/node-file.ts';
import { createMergeObjective, openSearchModels } from '../../src/core/search/objective.ts';
import { SearchRun } from '../../src/core/search/run.ts';
import { createSpace } from '../../src/core/search/spaces.ts';
import { parseSearchSpec } from '../../src/core/search/spec.ts';
import { memoryTrialStore } from '../../src/core/search/store.ts';

export interface SearchThroughputRow {
  space: string;
  fidelity: string;
  trials: number;
  seconds: number;
  trialsPerMinute: number;
}

/** Runs `trials` trials of each space (global and layer-wise, Hyperband over 9/27/81 items of two
 * tasks) and reports evaluation time per fidelity level. */
export async function benchSearchThroughput(zoo: string, trials: number, log: (line: string) => void): Promise<SearchThroughputRow[]> {
  const family = join(zoo, 'tiny-llama');
  const rows: SearchThroughputRow[] = [];
  const spaces: [string, string][] = [
    ['global', '{ kind: global, methods: [task_arithmetic, ties, dare_ties, linear] }'],
    ['layerwise', '{ kind: layerwise, methods: [linear, task_arithmetic, ties, dare_ties, slerp], block_size: 2 }'],
  ];
  for (const [name, space] of spaces) {
    const spec = parseSearchSpec(
      [
        'base_model: base',
        'models: [reverse, caesar]',
        `space: ${space}`,
        'objectives: [reverse.exact_match, caesar.exact_match]',
        'limit: 81',
        'fidelity: { levels: [0.1111111111111111, 0.3333333333333333, 1], eta: 3, mode: hyperband }',
        'optimizer: forest',
        `budget: { trials: ${trials} }`,
        'seed: 0',
      ].join('\n'),
      'bench',
    );
    const models = await openSearchModels(spec.base, spec.experts, (ref) => nodeFolderTree(join(family, ref)));
    const objective = await createMergeObjective({ models: models.handles, tasks: nodeFolderTree(join(zoo, 'tasks')), objectives: spec.objectives, limit: spec.limit });
    const searchSpace = createSpace(spec.space, { base: spec.base, experts: spec.experts, numLayers: models.numLayers, randomSeed: spec.seed });
    const store = memoryTrialStore();
    const run = await SearchRun.open(spec, searchSpace, objective, { store });
    log(`  search throughput: ${name} space, ${trials} trials ...`);
    const started = performance.now();
    await run.start();
    const wall = (performance.now() - started) / 1000;
    const byFidelity = new Map<number, { trials: number; seconds: number }>();
    for (const t of run.trials) {
      const entry = byFidelity.get(t.fidelity) ?? { trials: 0, seconds: 0 };
      entry.trials += 1;
      entry.seconds += t.seconds;
      byFidelity.set(t.fidelity, entry);
    }
    for (const [fidelity, e] of [...byFidelity].sort((a, b) => a[0] - b[0])) {
      rows.push({ space: name, fidelity: `${Math.round(fidelity * 81)} items/task`, trials: e.trials, seconds: e.seconds, trialsPerMinute: (60 * e.trials) / e.seconds });
    }
    rows.push({ space: name, fidelity: 'all (wall, incl. optimizer)', trials: run.trials.length, seconds: wall, trialsPerMinute: (60 * run.trials.length) / wall });
  }
  return rows;
}
