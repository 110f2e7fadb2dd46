import { describe, expect, it } from 'vitest';
import { MergeStudioError } from '../errors.ts';
import { brackets, promote, validateSchedule } from './schedule.ts';

describe('multi-fidelity schedule', () => {
  it('builds the Hyperband brackets for levels 1/9, 1/3, 1 with eta 3', () => {
    const plan = brackets({ levels: [1 / 9, 1 / 3, 1], eta: 3 });
    expect(plan.map((b) => b.map((r) => [r.fidelity, r.candidates]))).toEqual([
      [[1 / 9, 9], [1 / 3, 3], [1, 1]],
      [[1 / 3, 5], [1, 1]],
      [[1, 3]],
    ]);
    expect(brackets({ levels: [1 / 9, 1 / 3, 1], mode: 'successive-halving' })).toHaveLength(1);
    expect(brackets({ levels: [1] })).toEqual([[{ fidelity: 1, candidates: 1 }]]);
  });

  it('promotes the lowest losses, and by rank then crowding with several objectives', () => {
    expect(promote([[0.5], [0.1], [0.9], [0.3]], 2)).toEqual([1, 3]);
    // front {0, 1, 2} (2 is the crowded middle), then 3
    const losses = [
      [0, 1],
      [1, 0],
      [0.5, 0.5],
      [0.9, 0.9],
    ];
    expect(promote(losses, 2)).toEqual([0, 1]);
    expect(promote(losses, 4)).toEqual([0, 1, 2, 3]);
  });

  it('refuses levels that are not increasing fractions ending at 1', () => {
    expect(() => validateSchedule({ levels: [0.5, 0.25, 1] })).toThrow(/levels must increase/);
    expect(() => validateSchedule({ levels: [0.1, 0.5] })).toThrow(/end with 1/);
    expect(() => validateSchedule({ levels: [0, 1] })).toThrow(MergeStudioError);
    expect(() => validateSchedule({ levels: [1], eta: 1 })).toThrow(/eta/);
  });
});
