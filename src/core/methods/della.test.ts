// DELLA's mask, element by element, against an independent evaluation of its contract: rank of |x|
// along dim 1 by a plain sort (ties: lower column first), then keep iff uniform01 < p(rank).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sparseTaskVector } from './sparsify.ts';
import { dellaKeepProbability, dellaKeepRule, maskStreamKey, uniform01 } from './random.ts';

function expectedKeep(delta: Float32Array, shape: number[], density: number, epsilon: number, streamKey: number): boolean[] {
  const rowLength = shape.length < 2 ? delta.length : shape[1];
  const inner = shape.length < 2 ? 1 : shape.slice(2).reduce((a, b) => a * b, 1);
  const outer = delta.length / (rowLength * inner);
  const rule = dellaKeepRule(density, epsilon, rowLength);
  const keep = new Array<boolean>(delta.length);
  for (let o = 0; o < outer; o++) {
    for (let r = 0; r < inner; r++) {
      const at = (j: number) => o * rowLength * inner + j * inner + r;
      const order = Array.from({ length: rowLength }, (_, j) => j).sort((a, b) => Math.abs(delta[at(a)]) - Math.abs(delta[at(b)]) || a - b);
      order.forEach((j, rank) => (keep[at(j)] = uniform01(streamKey, at(j)) < dellaKeepProbability(rule, rank)));
    }
  }
  return keep;
}

const shapes = fc.oneof(
  fc.tuple(fc.integer({ min: 1, max: 200 })),
  fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 2, max: 40 })),
  fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 2, max: 9 }), fc.integer({ min: 1, max: 4 })),
);

describe('della_magprune mask', () => {
  it('keeps exactly the elements the rank rule and the counter-based stream select', () => {
    fc.assert(
      fc.property(shapes, fc.integer({ min: 0, max: 2 ** 31 }), fc.boolean(), (shapeTuple, seed, ties) => {
        const shape = [...shapeTuple];
        const n = shape.reduce((a, b) => a * b, 1);
        const base = new Float32Array(n);
        // With `ties`, few distinct magnitudes (and zeros) so rank ties are common.
        const model = Float32Array.from({ length: n }, (_, i) => (ties ? ((i * 7919 + seed) % 9) - 4 : Math.sin(i * 12.9898 + seed) * 3));
        const streamKey = maskStreamKey(seed, 'model.layers.1.mlp.gate_proj.weight', 2);
        const { values } = sparseTaskVector(model, base, shape, { kind: 'della_magprune', density: 0.4, epsilon: 0.2, streamKey }, false, 'test');
        const keep = expectedKeep(model, shape, 0.4, 0.2, streamKey);
        for (let i = 0; i < n; i++) expect(values[i] !== 0, `element ${i}`).toBe(keep[i] && model[i] !== 0);
      }),
      { numRuns: 200 },
    );
  });
});
