import { describe, expect, it } from 'vitest';
import { MergeStudioError } from '../errors.ts';
import { hypervolume, paretoFront } from './pareto.ts';
import { Prng } from './prng.ts';
import { SearchRun, type ObjectiveFunction, type SearchConfig } from './run.ts';
import { brackets } from './schedule.ts';
import { decodeAll, type Dimension, type SearchSpace } from './space.ts';
import { keyValueTrialStore, memoryTrialStore, type TrialRecord } from './store.ts';

type ToyRecipe = { weights: number[] };

const dims: Dimension[] = [0, 1, 2].map((i) => ({ name: `w${i}`, kind: 'real', low: 0, high: 1 }));
const toySpace: SearchSpace<ToyRecipe> = {
  kind: 'toy',
  dimensions: dims,
  decode: (x) => {
    const values = decodeAll(dims, x);
    return { values, recipe: { weights: dims.map((d) => values[d.name] as number) } };
  },
};

/** Two competing "accuracies" of a toy merge; low fidelities add deterministic noise that shrinks
 * as more examples are evaluated, like a metric on a subset of a task. */
const toyObjective: ObjectiveFunction<ToyRecipe> = async ({ weights }, fidelity) => {
  const noise = (1 - fidelity) * 0.1 * (new Prng(Math.floor(weights[0] * 1e9) ^ Math.floor(fidelity * 1e6)).uniform() - 0.5);
  const a = 1 - ((weights[0] - 0.2) ** 2 + (weights[1] - 0.5) ** 2 + weights[2] ** 2) + noise;
  const b = 1 - ((weights[0] - 0.8) ** 2 + (weights[1] - 0.5) ** 2 + weights[2] ** 2) - noise;
  return { 'add.exact_match': a, 'reverse.exact_match': b };
};

const moConfig = (over: Partial<SearchConfig> = {}): SearchConfig => ({
  objectives: [
    { name: 'add.exact_match', direction: 'max' },
    { name: 'reverse.exact_match', direction: 'max' },
  ],
  optimizer: { kind: 'nsga2', population: 8 },
  fidelity: { levels: [1 / 9, 1 / 3, 1], eta: 3 },
  budget: { cost: 12 },
  seed: 5,
  ...over,
});

const comparable = (t: TrialRecord) => ({ ...t, seconds: 0, finishedAt: '' });

describe('SearchRun', () => {
  it('follows the Hyperband brackets and promotes the best third of each rung', async () => {
    const config = moConfig({ objectives: [{ name: 'add.exact_match', direction: 'max' }], optimizer: { kind: 'random' } });
    const run = await SearchRun.open(config, toySpace, toyObjective);
    expect(await run.start()).toBe('done');
    const plan = brackets(config.fidelity);
    const trials = run.trials;
    // the first bracket: 9 candidates at 1/9, the best 3 at 1/3, the best one at 1
    const rung = (b: number, r: number) => trials.filter((t) => t.bracket === b && t.rung === r);
    expect(rung(0, 0).map((t) => t.fidelity)).toEqual(new Array(9).fill(1 / 9));
    const bestOf = (ts: readonly TrialRecord[], k: number) =>
      [...ts].sort((p, q) => q.objectives['add.exact_match'] - p.objectives['add.exact_match']).slice(0, k).map((t) => t.candidate);
    expect(rung(0, 1).map((t) => t.candidate).sort()).toEqual(bestOf(rung(0, 0), 3).sort());
    expect(rung(0, 2).map((t) => t.candidate)).toEqual(bestOf(rung(0, 1), 1));
    expect(rung(1, 0)).toHaveLength(plan[1][0].candidates);
    // a promoted candidate is re-evaluated with the same recipe, not a new proposal
    for (const t of rung(0, 1)) expect(t.params).toEqual(rung(0, 0).find((s) => s.candidate === t.candidate)!.params);
    // the cost budget holds
    const cost = trials.reduce((a, t) => a + t.fidelity, 0);
    expect(cost).toBeLessThanOrEqual(12 + 1e-9);
    expect(run.summary().cost).toBeCloseTo(cost, 12);
  });

  it('is reproducible by seed', async () => {
    const a = await SearchRun.open(moConfig(), toySpace, toyObjective);
    const b = await SearchRun.open(moConfig(), toySpace, toyObjective);
    const c = await SearchRun.open(moConfig({ seed: 6 }), toySpace, toyObjective);
    await Promise.all([a.start(), b.start(), c.start()]);
    expect(b.trials.map(comparable)).toEqual(a.trials.map(comparable));
    expect(c.trials.map((t) => t.params)).not.toEqual(a.trials.map((t) => t.params));
  });

  it.each(['random', 'nsga2', 'forest'] as const)(
    '%s: pausing, reloading from the store and resuming gives the trials of an uninterrupted run',
    async (kind) => {
      const config = moConfig({ optimizer: { kind, population: 8 } });
      const reference = await SearchRun.open(config, toySpace, toyObjective);
      await reference.start();

      const storage = new Map<string, string>();
      const kv = { getItem: (k: string) => storage.get(k) ?? null, setItem: (k: string, v: string) => void storage.set(k, v) };
      let calls = 0;
      const first = await SearchRun.open(config, toySpace, async (recipe, fidelity, signal) => {
        if (++calls === 11) first.pause(); // pause while the 11th evaluation is in flight
        const out = await toyObjective(recipe, fidelity, signal);
        return out;
      }, { store: keyValueTrialStore(kv, 'run') });
      const statuses: string[] = [];
      first.subscribe((e) => e.type === 'status' && statuses.push(e.status));
      expect(await first.start()).toBe('paused');
      expect(first.trials).toHaveLength(10); // the interrupted evaluation is discarded, not stored
      expect(statuses).toEqual(['running', 'paused']);

      // a page reload: a new run object over the same storage, counting the evaluations it makes
      let evaluations = 0;
      const reopened = await SearchRun.open(config, toySpace, (r, f, s) => (evaluations++, toyObjective(r, f, s)), {
        store: keyValueTrialStore(kv, 'run'),
      });
      expect(reopened.trials).toHaveLength(10);
      expect(await reopened.start()).toBe('done');
      expect(evaluations).toBe(reference.trials.length - 10);
      expect(reopened.trials.map(comparable)).toEqual(reference.trials.map(comparable));
    },
  );

  it('CMA-ES with one objective resumes identically too, and stop() is final', async () => {
    const config = moConfig({
      objectives: [{ name: 'add.exact_match', direction: 'max' }],
      optimizer: { kind: 'cmaes' },
      fidelity: { levels: [1] },
      budget: { trials: 40 },
    });
    const reference = await SearchRun.open(config, toySpace, toyObjective);
    await reference.start();
    const store = memoryTrialStore();
    const controller = new AbortController();
    let n = 0;
    const first = await SearchRun.open(config, toySpace, async (r, f, s) => {
      if (++n === 17) controller.abort();
      return toyObjective(r, f, s);
    }, { store });
    expect(await first.start(controller.signal)).toBe('paused');
    expect(await first.start()).toBe('done');
    expect(first.trials.map(comparable)).toEqual(reference.trials.map(comparable));
    // the best full-fidelity value beats the first trial's by a clear margin: CMA-ES made progress
    const values = first.trials.map((t) => t.objectives['add.exact_match']);
    expect(Math.max(...values)).toBeGreaterThan(values[0] + 0.05);

    const stopped = await SearchRun.open(config, toySpace, toyObjective);
    stopped.subscribe((e) => e.type === 'trial' && e.trial.id === 4 && stopped.stop());
    expect(await stopped.start()).toBe('stopped');
    expect(await stopped.start()).toBe('stopped');
    expect(stopped.trials).toHaveLength(5);
  });

  it('refuses to resume trials written by a different seed', async () => {
    const store = memoryTrialStore();
    const a = await SearchRun.open(moConfig({ budget: { trials: 5 } }), toySpace, toyObjective, { store });
    await a.start();
    const b = await SearchRun.open(moConfig({ budget: { trials: 8 }, seed: 99 }), toySpace, toyObjective, { store });
    await expect(b.start()).rejects.toThrow(/does not match/);
    expect(b.status).toBe('failed');
  });

  it('summarises the front, hypervolume and best values of the full-fidelity trials', async () => {
    const run = await SearchRun.open(moConfig(), toySpace, toyObjective);
    await run.start();
    const summary = run.summary();
    const full = run.trials.filter((t) => t.fidelity === 1);
    expect(full.length).toBeGreaterThan(2);
    const losses = full.map((t) => [-t.objectives['add.exact_match'], -t.objectives['reverse.exact_match']]);
    expect(summary.front.sort()).toEqual(paretoFront(losses).map((i) => full[i].id).sort());
    expect(summary.hypervolume).toBeCloseTo(hypervolume(losses, [0, 0]), 12);
    expect(summary.history).toHaveLength(run.trials.length);
    for (let i = 1; i < summary.history.length; i++) {
      expect(summary.history[i].hypervolume).toBeGreaterThanOrEqual(summary.history[i - 1].hypervolume);
      // no best before the first full-fidelity trial; never worse after it
      const before = summary.history[i - 1].best['add.exact_match'] ?? -Infinity;
      expect(summary.history[i].best['add.exact_match'] ?? -Infinity).toBeGreaterThanOrEqual(before);
    }
    expect(summary.history.at(-1)!.best['add.exact_match']).toBe(summary.best['add.exact_match'].value);
    expect(summary.best['add.exact_match'].value).toBe(Math.max(...full.map((t) => t.objectives['add.exact_match'])));
    expect(Object.values(summary.perFidelity).reduce((a, b) => a + b, 0)).toBe(run.trials.length);
  });

  it('reports bad configurations and objective results as MergeStudioErrors', async () => {
    await expect(SearchRun.open(moConfig({ budget: {} }), toySpace, toyObjective)).rejects.toThrow(/budget needs trials/);
    await expect(
      SearchRun.open(moConfig({ objectives: [{ name: 'ppl', direction: 'min' }] }), toySpace, toyObjective),
    ).rejects.toThrow(/needs a finite 'ref'/);
    const run = await SearchRun.open(moConfig({ objectives: [{ name: 'sort.exact_match', direction: 'max' }] }), toySpace, toyObjective);
    const failure = run.start();
    await expect(failure).rejects.toThrow(MergeStudioError);
    await expect(failure).rejects.toThrow(/no value for 'sort.exact_match'/);
    expect(run.trials).toHaveLength(0);
  });
});
