import { describe, expect, it } from 'vitest';
import { MergeStudioError } from '../errors.ts';
import { CmaEs } from './cmaes.ts';
import type { Optimizer, OptimizerSpec } from './optimizer.ts';
import { createOptimizer } from './optimizers.ts';
import { hypervolume, paretoFront } from './pareto.ts';
import { Prng } from './prng.ts';

const shiftedSphere = (centre: number[]) => (x: readonly number[]) => x.reduce((a, v, i) => a + (v - centre[i]) ** 2, 0);

/** ZDT1 (Zitzler, Deb, Thiele 2000): convex front f2 = 1 - sqrt(f1) at x2..xn = 0. */
function zdt1(x: readonly number[]): number[] {
  const g = 1 + (9 * x.slice(1).reduce((a, b) => a + b, 0)) / (x.length - 1);
  return [x[0], g * (1 - Math.sqrt(x[0] / g))];
}

function drive(opt: Optimizer, f: (x: readonly number[]) => number[], evaluations: number): number[][] {
  const seen: number[][] = [];
  for (let i = 0; i < evaluations; i++) {
    const x = opt.ask();
    const y = f(x);
    opt.tell(x, y, 1);
    seen.push(y);
  }
  return seen;
}

const ZDT_REF = [1.1, 1.1];
// the true front's hypervolume: integral_0^1 (1.1 - (1 - sqrt(t))) dt + the strip f1 in [1, 1.1] of height 1.1
const ZDT_OPTIMUM_HV = 0.1 + 2 / 3 + 0.1 * 1.1;
const frontHypervolume = (ys: number[][]) => hypervolume(paretoFront(ys).map((i) => ys[i]), ZDT_REF);

describe('seeded PRNG', () => {
  it('is reproducible by seed and resumable from its state', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const seqA = Array.from({ length: 5 }, () => a.uniform());
    expect(Array.from({ length: 5 }, () => b.uniform())).toEqual(seqA);
    expect(new Prng(43).uniform()).not.toBe(seqA[0]);
    const c = new Prng(a.state());
    expect(c.uniform()).toBe(a.uniform());
  });

  it('draws uniform values with the right mean and normals with unit variance', () => {
    const rng = new Prng(1);
    const u = Array.from({ length: 20000 }, () => rng.uniform());
    expect(u.reduce((s, v) => s + v, 0) / u.length).toBeCloseTo(0.5, 2);
    const z = Array.from({ length: 20000 }, () => rng.normal());
    const mean = z.reduce((s, v) => s + v, 0) / z.length;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(z.reduce((s, v) => s + (v - mean) ** 2, 0) / z.length).toBeCloseTo(1, 1);
  });
});

describe('optimizers', () => {
  it('random search is reproducible by seed', () => {
    const ctx = { dim: 4, objectives: 1, seed: 9 };
    const a = createOptimizer({ kind: 'random' }, ctx);
    const b = createOptimizer({ kind: 'random' }, ctx);
    const c = createOptimizer({ kind: 'random' }, { ...ctx, seed: 10 });
    const asks = (o: Optimizer) => Array.from({ length: 10 }, () => o.ask());
    const fromA = asks(a);
    expect(asks(b)).toEqual(fromA);
    expect(asks(c)).not.toEqual(fromA);
    for (const x of fromA) for (const v of x) expect(v >= 0 && v < 1).toBe(true);
  });

  it('CMA-ES converges on a shifted sphere', () => {
    const centre = [0.31, 0.72, 0.55, 0.18, 0.9, 0.42];
    const f = shiftedSphere(centre);
    const opt = new CmaEs({ dim: 6, objectives: 1, seed: 3 });
    const seen = drive(opt, (x) => [f(x)], 2400).map((y) => y[0]);
    expect(Math.min(...seen)).toBeLessThan(1e-10);
    opt.mean.forEach((m, i) => expect(m).toBeCloseTo(centre[i], 4));
    // and it beats random search by orders of magnitude for the same budget
    const random = drive(createOptimizer({ kind: 'random' }, { dim: 6, objectives: 1, seed: 3 }), (x) => [f(x)], 2400);
    expect(Math.min(...random.map((y) => y[0]))).toBeGreaterThan(1e-4);
  });

  it('CMA-ES refuses several objectives with a clear error', () => {
    expect(() => new CmaEs({ dim: 3, objectives: 2, seed: 0 })).toThrow(MergeStudioError);
    expect(() => new CmaEs({ dim: 3, objectives: 2, seed: 0 })).toThrow(/nsga2/);
  });

  it('NSGA-II approaches the ZDT1 front and beats random search for the same budget', () => {
    const budget = 3000;
    const nsga = drive(createOptimizer({ kind: 'nsga2', population: 40 }, { dim: 8, objectives: 2, seed: 5 }), zdt1, budget);
    const random = drive(createOptimizer({ kind: 'random' }, { dim: 8, objectives: 2, seed: 5 }), zdt1, budget);
    const hvNsga = frontHypervolume(nsga);
    const hvRandom = frontHypervolume(random);
    expect(hvNsga).toBeGreaterThan(0.95 * ZDT_OPTIMUM_HV);
    expect(hvNsga).toBeLessThanOrEqual(ZDT_OPTIMUM_HV + 1e-9);
    expect(hvRandom).toBeLessThan(0.85 * ZDT_OPTIMUM_HV);
  });

  it('the forest optimizer with ParEGO scalarisations beats random search on ZDT1 for a small budget', () => {
    const budget = 120;
    const forest = drive(createOptimizer({ kind: 'forest' }, { dim: 4, objectives: 2, seed: 11 }), zdt1, budget);
    const random = drive(createOptimizer({ kind: 'random' }, { dim: 4, objectives: 2, seed: 11 }), zdt1, budget);
    expect(frontHypervolume(forest)).toBeGreaterThan(frontHypervolume(random) + 0.02);
  });

  it('the forest optimizer minimises a single objective better than random search', () => {
    const f = shiftedSphere([0.2, 0.8, 0.6, 0.4]);
    // mean over three seeds of the best value found in 80 evaluations
    const meanBest = (spec: OptimizerSpec) =>
      [1, 2, 3]
        .map((seed) => Math.min(...drive(createOptimizer(spec, { dim: 4, objectives: 1, seed }), (x) => [f(x)], 80).map((y) => y[0])))
        .reduce((a, b) => a + b, 0) / 3;
    expect(meanBest({ kind: 'forest' })).toBeLessThan(meanBest({ kind: 'random' }) / 3);
  });

  it.each(['random', 'cmaes', 'nsga2', 'forest'] as const)('%s resumes from its exported state exactly', (kind) => {
    const ctx = { dim: 3, objectives: kind === 'cmaes' ? 1 : 2, seed: 21 };
    const f = (x: readonly number[]) => (ctx.objectives === 1 ? [shiftedSphere([0.3, 0.3, 0.3])(x)] : zdt1(x));
    const uninterrupted = createOptimizer({ kind, population: 8 }, ctx);
    const first = createOptimizer({ kind, population: 8 }, ctx);
    const expected = drive(uninterrupted, f, 60);
    const part1 = drive(first, f, 25);
    const state = JSON.parse(JSON.stringify(first.exportState()));
    const resumed = createOptimizer({ kind, population: 8 }, ctx, state);
    expect([...part1, ...drive(resumed, f, 35)]).toEqual(expected);
  });
});
