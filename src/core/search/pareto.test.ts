import { describe, expect, it } from 'vitest';
import { crowdingDistance, dominates, hypervolume, nonDominatedSort, paretoFront } from './pareto.ts';
import { Prng } from './prng.ts';

/** Independent reference: inclusion-exclusion over all subsets of the points' boxes. */
function hypervolumeByInclusionExclusion(points: number[][], ref: number[]): number {
  const inside = points.filter((p) => p.every((v, k) => v < ref[k]));
  let total = 0;
  for (let mask = 1; mask < 1 << inside.length; mask++) {
    const corner = ref.map((_, k) => Math.max(...inside.filter((_, i) => mask & (1 << i)).map((p) => p[k])));
    const size = corner.reduce((a, c, k) => a * (ref[k] - c), 1);
    const bits = mask.toString(2).split('').filter((b) => b === '1').length;
    total += bits % 2 === 1 ? size : -size;
  }
  return total;
}

describe('Pareto dominance and sorting', () => {
  it('dominance needs no worse everywhere and better somewhere', () => {
    expect(dominates([1, 2], [2, 2])).toBe(true);
    expect(dominates([1, 2], [1, 2])).toBe(false);
    expect(dominates([1, 3], [2, 2])).toBe(false);
  });

  it('sorts a hand-made set into its fronts', () => {
    const pts = [
      [1, 5], // 0 front 0
      [2, 3], // 1 front 0
      [4, 1], // 2 front 0
      [3, 4], // 3 dominated by 1
      [5, 5], // 4 dominated by everything on fronts 0-1
      [2, 3], // 5 duplicate of 1: same front
      [4, 4], // 6 dominated by 1 and 3
    ];
    expect(nonDominatedSort(pts)).toEqual([[0, 1, 2, 5], [3], [6], [4]]);
    expect(paretoFront(pts)).toEqual([0, 1, 2, 5]);
  });

  it('crowding distance: extremes infinite, inner points by normalised neighbour gaps', () => {
    const pts = [
      [0, 4],
      [1, 2],
      [3, 1],
      [4, 0],
    ];
    const d = crowdingDistance(pts, [0, 1, 2, 3]);
    expect(d[0]).toBe(Infinity);
    expect(d[3]).toBe(Infinity);
    expect(d[1]).toBeCloseTo((3 - 0) / 4 + (4 - 1) / 4, 12);
    expect(d[2]).toBeCloseTo((4 - 1) / 4 + (2 - 0) / 4, 12);
  });
});

describe('hypervolume', () => {
  it('matches hand-computed values in 2-D and 3-D', () => {
    // staircase: 3*1 + 2*1 + 1*1
    expect(hypervolume([[1, 3], [2, 2], [3, 1]], [4, 4])).toBeCloseTo(6, 12);
    // a dominated point and one outside the reference add nothing
    expect(hypervolume([[1, 3], [2, 2], [3, 1], [3, 3], [5, 0]], [4, 4])).toBeCloseTo(6, 12);
    expect(hypervolume([[1, 1, 1]], [2, 3, 4])).toBeCloseTo(6, 12);
    // two boxes 2*2*1 and 1*1*2 overlapping in a unit cube
    expect(hypervolume([[0, 0, 1], [1, 1, 0]], [2, 2, 2])).toBeCloseTo(5, 12);
    expect(hypervolume([], [1, 1])).toBe(0);
  });

  it('agrees with inclusion-exclusion on random sets in 2, 3 and 4 objectives', () => {
    const rng = new Prng(7);
    for (const d of [2, 3, 4]) {
      for (let rep = 0; rep < 20; rep++) {
        const n = 1 + rng.int(8);
        const pts = Array.from({ length: n }, () => Array.from({ length: d }, () => Math.round(rng.uniform() * 10) / 10));
        const ref = new Array(d).fill(1);
        expect(hypervolume(pts, ref)).toBeCloseTo(hypervolumeByInclusionExclusion(pts, ref), 10);
      }
    }
  });
});
