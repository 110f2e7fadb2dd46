import { MergeStudioError } from '../errors.ts';
import { CmaEs } from './cmaes.ts';
import { ForestOptimizer } from './forest.ts';
import { Nsga2 } from './nsga2.ts';
import type { Optimizer, OptimizerContext, OptimizerKind, OptimizerSpec } from './optimizer.ts';
import { RandomSearch } from './random.ts';

export const OPTIMIZER_KINDS: readonly OptimizerKind[] = ['random', 'cmaes', 'nsga2', 'forest'];

/** Builds an optimizer; with `state` (from `exportState`) it continues where that one stopped. */
export function createOptimizer(spec: OptimizerSpec, ctx: OptimizerContext, state?: unknown): Optimizer {
  switch (spec.kind) {
    case 'random':
      return new RandomSearch(ctx, state as never);
    case 'cmaes':
      return new CmaEs(ctx, { sigma: spec.sigma }, state as never);
    case 'nsga2':
      return new Nsga2(ctx, { population: spec.population }, state as never);
    case 'forest':
      return new ForestOptimizer(ctx, { initialDesign: spec.initialDesign, randomFraction: spec.randomFraction }, state as never);
    default:
      throw new MergeStudioError(
        'search-unknown-optimizer',
        `unknown optimizer '${String((spec as { kind: unknown }).kind)}'; expected one of ${OPTIMIZER_KINDS.join(', ')}`,
        { kind: (spec as { kind: unknown }).kind },
      );
  }
}
