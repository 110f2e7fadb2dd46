// Radix-select rank cuts against a full stable sort, on inputs full of ties and signed zeros.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { descendingRankCut, f32Bits, valueAtAscendingRank } from './select.ts';

/** Members of the `count` largest |x| by sorting (ties: lowest index first). */
function sortedTopK(values: Float32Array, count: number): Set<number> {
  const order = Array.from(values.keys()).sort((a, b) => Math.abs(values[b]) - Math.abs(values[a]) || a - b);
  return new Set(order.slice(0, count));
}

function selectedTopK(values: Float32Array, count: number): Set<number> {
  const bits = f32Bits(values);
  const cut = descendingRankCut(bits, count, 0x7fffffff);
  const chosen = new Set<number>();
  let tied = 0;
  for (let i = 0; i < values.length; i++) {
    const key = bits[i] & 0x7fffffff;
    if (key > cut.threshold || (key === cut.threshold && tied < cut.tiedInside)) chosen.add(i);
    if (key === cut.threshold) tied++;
  }
  return chosen;
}

// Few distinct magnitudes (many ties), both signs, zeros, and wide exponents.
const values = fc.array(fc.oneof(fc.integer({ min: -6, max: 6 }).map((x) => x / 4), fc.float({ noNaN: true, noDefaultInfinity: true })), { minLength: 1, maxLength: 300 });

describe('descendingRankCut', () => {
  it('selects exactly the sorted top-k, ties resolved by lowest index', () => {
    fc.assert(
      fc.property(values, fc.nat(), (xs, k) => {
        const v = Float32Array.from(xs);
        const count = k % (v.length + 2);
        const chosen = selectedTopK(v, count);
        expect(chosen.size).toBe(Math.min(count, v.length));
        expect([...chosen].sort((a, b) => a - b)).toEqual([...sortedTopK(v, count)].sort((a, b) => a - b));
      }),
      { numRuns: 300 },
    );
  });

  it('handles keys that share their high 16 bits', () => {
    const v = Float32Array.from({ length: 1000 }, (_, i) => 1 + (i % 37) * 2 ** -20);
    for (const count of [1, 36, 500, 999]) expect(selectedTopK(v, count)).toEqual(sortedTopK(v, count));
  });
});

describe('valueAtAscendingRank', () => {
  it('equals the sorted array at that rank, signed values included', () => {
    fc.assert(
      fc.property(values, fc.nat(), (xs, r) => {
        const v = Float32Array.from(xs);
        const rank = r % v.length;
        const sorted = Float32Array.from(v).sort();
        // Typed-array sort orders -0 before +0, as the ordered keys do.
        expect(Object.is(valueAtAscendingRank(v, rank), sorted[rank])).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
