import { Prng, type PrngState } from './prng.ts';
import type { Optimizer, OptimizerContext } from './optimizer.ts';

interface RandomSearchState {
  rng: PrngState;
}

/** Uniform random search: the baseline every other optimizer has to beat. */
export class RandomSearch implements Optimizer {
  readonly kind = 'random' as const;
  private readonly rng: Prng;

  constructor(
    private readonly ctx: OptimizerContext,
    state?: RandomSearchState,
  ) {
    this.rng = new Prng(state ? state.rng : ctx.seed);
  }

  ask(): number[] {
    return this.rng.unitVector(this.ctx.dim);
  }

  tell(): void {}

  exportState(): RandomSearchState {
    return { rng: this.rng.state() };
  }
}
