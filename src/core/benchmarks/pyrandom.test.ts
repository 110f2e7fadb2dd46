// Expected values were printed by CPython 3.11.7 (`random.Random(seed)`, `getrandbits(32)`,
// `_randbelow(n)`, `sample(range(n), k)`) on this machine; the script is in the comment below.
//   import random; r = random.Random(1234); [r.getrandbits(32) for _ in range(5)]; ...
import { describe, expect, it } from 'vitest';
import { PyRandom } from './pyrandom.ts';

describe('PyRandom matches CPython random.Random', () => {
  it('gives the same 32-bit stream for small, zero and multi-word seeds', () => {
    const take = (seed: number, n: number) => { const r = new PyRandom(seed); return Array.from({ length: n }, () => r.getrandbits(32)); };
    expect(take(1234, 5)).toEqual([4150886329, 3342196574, 1892932127, 501869158, 32175636]);
    expect(take(0, 3)).toEqual([3626764237, 1654615998, 3255389356]);
    expect(take(2 ** 40 + 7, 3)).toEqual([2635837658, 3209733218, 3500038837]);
  });

  it('randbelow rejects on bit_length bits as _randbelow_with_getrandbits does', () => {
    const r = new PyRandom(42);
    expect([1, 2, 3, 1000, 2 ** 31 + 5].map((n) => r.randbelow(n))).toEqual([0, 0, 2, 281, 1051802512]);
  });

  it('sample uses the set algorithm on large populations (GSM8K train: 7473 docs, 5 shots, four documents in a row)', () => {
    const r = new PyRandom(1234);
    expect(Array.from({ length: 4 }, () => r.sampleIndices(7473, 5))).toEqual([
      [6374, 3610, 957, 61, 742], [7462, 6610, 4769, 286, 5501], [5677, 687, 806, 6279, 2905], [1939, 142, 252, 6461, 129],
    ]);
  });

  it('sample uses the pool algorithm on small populations', () => {
    const r = new PyRandom(1234);
    expect([r.sampleIndices(20, 5), r.sampleIndices(10, 10), r.sampleIndices(40, 7)]).toEqual([
      [14, 3, 0, 2, 1], [1, 9, 5, 8, 0, 7, 4, 6, 2, 3], [9, 5, 11, 7, 0, 32, 31],
    ]);
  });
});
