// The finite-output check: the word-level scan against Number.isFinite on decoded values, and the
// engine refusing to write or evaluate merges whose tensors hold NaN/Inf, naming the tensor and
// the cause (an input that already holds them, or the parameter that overflowed).
import { describe, expect, it } from 'vitest';
import { decodeToF32, encodeFromF32, type DType } from '../dtype.ts';
import { MergeStudioError } from '../errors.ts';
import { memorySinks } from '../io/memory.ts';
import { openModel, type ModelHandle } from '../model/handle.ts';
import { parseRecipeYaml } from '../recipe/yaml.ts';
import { readSafetensorsHeader, readTensorF32 } from '../safetensors/index.ts';
import { memorySource } from '../io/memory.ts';
import { execute, mergeToMemory } from './execute.ts';
import { bytesAreFinite } from './finite.ts';
import { plan } from './plan.ts';
import { llamaConfig, llamaTensors, memoryModel } from './test-models.ts';

describe('bytesAreFinite', () => {
  const specials = [0, -0, 1, -2.5, 65504, 70000, 3.4e38, Infinity, -Infinity, NaN, 1e-40];
  for (const dtype of ['F32', 'BF16', 'F16'] as DType[]) {
    it(`${dtype}: agrees with Number.isFinite of the decoded values, at every position and alignment`, () => {
      for (const length of [1, 2, 3, 7, 64]) {
        for (let at = 0; at < length; at++) {
          for (const v of specials) {
            const values = new Float32Array(length).fill(0.5);
            values[at] = v;
            const encoded = encodeFromF32(values, dtype);
            const expected = decodeToF32(encoded, dtype).every(Number.isFinite);
            expect(bytesAreFinite(encoded, dtype)).toBe(expected);
            // The same bytes at an odd offset (the slow path).
            const shifted = new Uint8Array(encoded.byteLength + 1);
            shifted.set(encoded, 1);
            expect(bytesAreFinite(shifted.subarray(1), dtype)).toBe(expected);
          }
        }
      }
    });
  }
});

const LAYERS = 2;
const HIDDEN = 8;
const VOCAB = 16;

async function handlesWith(poison?: { model: string; tensor: string; value: number }): Promise<Map<string, ModelHandle>> {
  const handles = new Map<string, ModelHandle>();
  for (const [i, name] of ['a', 'b', 'c'].entries()) {
    const tensors = llamaTensors({ layers: LAYERS, hidden: HIDDEN, vocab: VOCAB, seed: i + 1 });
    if (poison?.model === name) tensors[poison.tensor].values[3] = poison.value;
    handles.set(name, await openModel(memoryModel(name, llamaConfig(LAYERS, VOCAB), tensors), undefined, name));
  }
  return handles;
}

async function errorOf(p: Promise<unknown>): Promise<MergeStudioError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof MergeStudioError) return err;
    throw err;
  }
  throw new Error('expected an error');
}

const TA_OVERFLOW = 'models:\n  - model: b\n    parameters: {weight: 1e308}\nbase_model: a\nmerge_method: task_arithmetic\ndtype: float32\n';

describe('finite-output check in the export and in-memory merges', () => {
  it('task_arithmetic with weight 1e308: the export fails naming the tensor and the parameter, and leaves no file', async () => {
    const p = plan(parseRecipeYaml(TA_OVERFLOW), await handlesWith());
    const sinks = memorySinks();
    const err = await errorOf(execute(p, { sinks }));
    expect(err.code).toBe('merge-non-finite');
    expect(err.message).toMatch(
      /^tensor 'model\.embed_tokens\.weight': 128 of 128 merged values \(100%\) are NaN or infinite \(first: element 0 = -?Infinity\); the inputs are finite, so the recipe's parameters overflowed: check task_arithmetic weight 1e\+308 on model 'b'; nothing was written \(allow non-finite values knowingly with --allow-non-finite, or the engine option allowNonFinite\)$/,
    );
    expect([...sinks.files.keys()]).toEqual([]);
  });

  it('bfloat16 output (streamed/tile paths) is checked too', async () => {
    const p = plan(parseRecipeYaml(TA_OVERFLOW.replace('float32', 'bfloat16')), await handlesWith());
    for (const chunkBytes of [256, 1 << 30]) {
      const sinks = memorySinks();
      const err = await errorOf(execute(p, { sinks, chunkBytes }));
      expect(err.message).toContain("tensor 'model.embed_tokens.weight': ");
      expect(err.message).toContain("check task_arithmetic weight 1e+308 on model 'b'");
      expect([...sinks.files.keys()]).toEqual([]);
    }
  });

  it('a finite float32 merge that overflows float16 when written names the dtype range', async () => {
    const p = plan(parseRecipeYaml('models:\n  - model: b\n    parameters: {weight: 1e6}\nbase_model: a\nmerge_method: task_arithmetic\ndtype: float16\n'), await handlesWith());
    const err = await errorOf(execute(p, { sinks: memorySinks() }));
    expect(err.message).toContain("check task_arithmetic weight 1000000 on model 'b'; float16 tops out at 65504, so larger values overflow when written (use dtype: bfloat16 or float32)");
  });

  it('allowNonFinite writes them knowingly', async () => {
    const p = plan(parseRecipeYaml(TA_OVERFLOW), await handlesWith());
    const sinks = memorySinks();
    await execute(p, { sinks, allowNonFinite: true });
    const header = await readSafetensorsHeader(memorySource(sinks.files.get('model.safetensors')!));
    const values = await readTensorF32(header.tensors.get('model.embed_tokens.weight')!);
    expect(values.some((v) => !Number.isFinite(v))).toBe(true);
    expect(sinks.files.has('config.json')).toBe(true);
  });

  it('mergeToMemory (evaluation without export) refuses them too, unless allowed', async () => {
    const p = plan(parseRecipeYaml(TA_OVERFLOW), await handlesWith());
    const err = await errorOf(mergeToMemory(p));
    expect(err.message).toContain("tensor 'model.embed_tokens.weight': 128 of 128 merged values (100%) are NaN or infinite");
    const merged = await mergeToMemory(p, { allowNonFinite: true });
    expect(merged.get('model.embed_tokens.weight')!.some((v) => !Number.isFinite(v))).toBe(true);
  });

  // The methods that turn a few NaN/Inf input values into a tensor of NaN (norms, dot products,
  // magnitude ranks over the whole tensor): the error names the input that caused it.
  const TENSOR = 'model.layers.1.mlp.down_proj.weight';
  const RECIPES: Record<string, string> = {
    slerp: 'models: [{model: a}, {model: b}]\nbase_model: a\nmerge_method: slerp\nparameters: {t: 0.5}\n',
    nuslerp: 'models: [{model: a, parameters: {weight: 1}}, {model: b, parameters: {weight: 1}}]\nmerge_method: nuslerp\n',
    multislerp: 'models: [{model: a, parameters: {weight: 1}}, {model: b, parameters: {weight: 1}}, {model: c, parameters: {weight: 1}}]\nmerge_method: multislerp\n',
    karcher: 'models: [{model: a}, {model: b}, {model: c}]\nmerge_method: karcher\n',
    model_stock: 'models: [{model: b}, {model: c}]\nbase_model: a\nmerge_method: model_stock\n',
    dare_linear: 'models: [{model: b, parameters: {weight: 1, density: 0.5}}, {model: c, parameters: {weight: 1, density: 0.5}}]\nbase_model: a\nmerge_method: dare_linear\n',
    della_linear: 'models: [{model: b, parameters: {weight: 1, density: 0.5, epsilon: 0.1}}, {model: c, parameters: {weight: 1, density: 0.5, epsilon: 0.1}}]\nbase_model: a\nmerge_method: della_linear\n',
  };
  for (const [method, yaml] of Object.entries(RECIPES)) {
    for (const value of [NaN, Infinity]) {
      it(`${method}: an input with one ${value} fails naming that input tensor and model`, async () => {
        const p = plan(parseRecipeYaml(`${yaml}dtype: float32\n`), await handlesWith({ model: 'b', tensor: TENSOR, value }));
        const sinks = memorySinks();
        const err = await errorOf(execute(p, { sinks }));
        expect(err.code).toBe('merge-non-finite');
        expect(err.message).toMatch(new RegExp(`^tensor '${TENSOR.replaceAll('.', '\\.')}': \\d+ of 128 merged values \\(\\d+%\\) are NaN or infinite \\(first: element \\d+ = -?(NaN|Infinity)\\); cause: the input tensor '${TENSOR.replaceAll('.', '\\.')}' of model 'b' \\(model\\.safetensors\\) already holds 1 non-finite value\\(s\\) of 128 \\(first: element 3 = ${value}\\); nothing was written`));
        expect([...sinks.files.keys()]).toEqual([]);
      });
    }
  }
});
