// Every method merged in chunks of a few rows (a tiny memory budget, so each large tensor spans
// many chunks and the last one is short) writes exactly the bytes of the whole-tensor merge (a
// huge budget), with bf16 and f32 stored inputs whose bf16 task vectors have many tied magnitudes.
import { describe, expect, it } from 'vitest';
import { memorySinks } from '../io/memory.ts';
import { METHODS } from '../methods/index.ts';
import { parseRecipeYaml } from '../recipe/index.ts';
import { chunkRows, execute } from './execute.ts';
import { plan } from './plan.ts';
import { RECIPES, SHAPE, TINY, zoo } from './chunked-fixtures.ts';

describe('chunked merges equal whole-tensor merges bit for bit', () => {
  it('covers every method', () => {
    const covered = new Set(Object.values(RECIPES).map((yaml) => parseRecipeYaml(yaml).merge_method));
    expect([...covered].sort()).toEqual(Object.keys(METHODS).sort());
  });

  for (const [name, yaml] of Object.entries(RECIPES)) {
    it(`${name}: every file of a tiny-budget export equals the whole-tensor export, in bf16 and f32`, async () => {
      const p = plan(parseRecipeYaml(yaml), await zoo());
      const streamed = p.steps.filter((s) => chunkRows(s, TINY) > 0);
      // The embedding, lm_head and every 2-D weight span several chunks.
      expect(streamed.length).toBeGreaterThanOrEqual(2 + 7 * SHAPE.layers);
      for (const dtype of ['BF16', 'F32'] as const) {
        const whole = memorySinks();
        const wholeResult = await execute(p, { sinks: whole, dtype, chunkBytes: Infinity });
        expect(wholeResult.chunked).toBe(0);
        const chunked = memorySinks();
        const result = await execute(p, { sinks: chunked, dtype, chunkBytes: TINY });
        expect(result.chunked, 'tensors that streamed').toBe(streamed.length);
        expect([...chunked.files.keys()].sort()).toEqual([...whole.files.keys()].sort());
        for (const [file, bytes] of whole.files) expect(Buffer.from(chunked.files.get(file)!).equals(Buffer.from(bytes)), `${file} as ${dtype}`).toBe(true);
      }
    });
  }
});
