/** The ask/tell contract every optimizer follows. Optimizers work in the unit cube [0,1]^dim (the
 * search space maps that to recipes) and MINIMISE a loss vector (see objectives.ts). Their whole
 * state is plain JSON, so a paused run can be saved and continued exactly. */

export type OptimizerKind = 'random' | 'cmaes' | 'nsga2' | 'forest';

export interface OptimizerContext {
  /** Number of search dimensions. */
  dim: number;
  /** Number of objectives (losses per observation). */
  objectives: number;
  seed: number;
}

export interface Optimizer {
  readonly kind: OptimizerKind;
  /** The next candidate to evaluate, a point of [0,1]^dim. */
  ask(): number[];
  /** The losses of a candidate obtained from `ask`, measured at `fidelity` (fraction of the
   * task examples, 1 = all). A candidate may be told again at a higher fidelity. */
  tell(x: readonly number[], losses: readonly number[], fidelity: number): void;
  /** JSON-serialisable state; `createOptimizer(spec, ctx, state)` resumes from it. */
  exportState(): unknown;
}

/** Options common to all optimizers; each reads the ones it knows. */
export interface OptimizerSpec {
  kind: OptimizerKind;
  /** NSGA-II population size (default 16). */
  population?: number;
  /** CMA-ES initial step size in unit-cube units (default 0.3). */
  sigma?: number;
  /** Forest: random candidates before the surrogate is used (default max(6, dim/4)). */
  initialDesign?: number;
  /** Forest: fraction of asks answered by a random point, to keep exploring (default 0.2). */
  randomFraction?: number;
}

/** Stable key of a candidate, used to match a `tell` with its `ask` after a JSON round trip. */
export function candidateKey(x: readonly number[]): string {
  return x.join(',');
}

export function clampUnit(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}
