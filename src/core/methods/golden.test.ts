// Every exact golden case: our CPU reference against mergekit's own output, within the golden
// README's tolerance. Cases that record a mergekit bug we deliberately fix are checked against our
// documented behaviour in deviations.test.ts instead.
import { describe, expect, it } from 'vitest';
import { getMethod } from './index.ts';
import { GOLDEN_CASES, goldenInput, goldenTolerance, maxAbsDiff, readGoldenTensors } from './golden-fixtures.ts';

/** Cases whose golden output documents a mergekit bug that we fix on purpose (README "Deviations"). */
export const MERGEKIT_BUG_CASES = new Set(['breadcrumbs_gamma0_zeroes_all_64x48', 'breadcrumbs_default_gamma_small_tensor_7x13']);

const exact = GOLDEN_CASES.filter((c) => c.kind === 'exact' && !MERGEKIT_BUG_CASES.has(c.id));

describe('CPU methods match mergekit golden outputs', () => {
  it('covers every exact case but the documented bug cases', () => {
    expect(exact.length + MERGEKIT_BUG_CASES.size).toBe(GOLDEN_CASES.filter((c) => c.kind === 'exact').length);
    expect(exact.length).toBeGreaterThan(60);
  });

  it.each(exact.map((c) => [c.id, c] as const))('%s', async (_id, c) => {
    const input = await goldenInput(c);
    const expected = (await readGoldenTensors(c.id, 'output')).get('out')!;
    const actual = getMethod(c.method).mergeCpu(input);
    expect(actual.length).toBe(expected.length);
    expect(maxAbsDiff(actual, expected)).toBeLessThanOrEqual(goldenTolerance(c));
    // Into a caller's buffer (pre-filled with NaN, so any element left unwritten shows): same result.
    const out = new Float32Array(expected.length).fill(NaN);
    expect(getMethod(c.method).mergeCpu({ ...input, out })).toBe(out);
    expect(maxAbsDiff(out, actual)).toBe(0);
  });
});
