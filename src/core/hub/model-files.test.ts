import { describe, expect, it } from 'vitest';
import { MergeStudioError } from '../errors.ts';
import { memoryTree } from '../io/memory.ts';
import { checkHasSafetensors, checkLocalModelFiles } from './model-files.ts';

const code = (f: () => unknown) => {
  try {
    f();
    return null;
  } catch (e) {
    return e instanceof MergeStudioError ? [e.code, e.message] : e;
  }
};

describe('model file checks', () => {
  it('accepts top-level safetensors or an index, and explains every other case', () => {
    expect(code(() => checkHasSafetensors('m', ['config.json', 'model.safetensors'], 'hub'))).toBeNull();
    expect(code(() => checkHasSafetensors('m', ['config.json', 'model.safetensors.index.json'], 'hub'))).toBeNull();
    const bin = code(() => checkHasSafetensors('org/m@main', ['config.json', 'pytorch_model-00001-of-00002.bin', 'pytorch_model-00002-of-00002.bin'], 'hub')) as string[];
    expect(bin[0]).toBe('hub-no-safetensors');
    expect(bin[1]).toContain('pytorch_model-00001-of-00002.bin');
    expect(bin[1]).toMatch(/does not read \.bin/);
    const nested = code(() => checkHasSafetensors('/models/sd', ['unet/diffusion_pytorch_model.safetensors'], 'model')) as string[];
    expect(nested[0]).toBe('model-no-safetensors');
    expect(nested[1]).toContain('subfolders (unet/diffusion_pytorch_model.safetensors)');
    const empty = code(() => checkHasSafetensors('x', ['README.md'], 'model')) as string[];
    expect(empty[1]).toContain('no weights were found (files: README.md)');
  });

  it('reads a local index and names the missing shard', async () => {
    const index = { weight_map: { 'a.weight': 'model-00001-of-00002.safetensors', 'b.weight': 'model-00002-of-00002.safetensors' } };
    const files = new Map([
      ['model.safetensors.index.json', new TextEncoder().encode(JSON.stringify(index))],
      ['model-00001-of-00002.safetensors', new Uint8Array(8)],
    ]);
    const err = await checkLocalModelFiles(memoryTree(files, 'folder')).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(MergeStudioError);
    expect((err as MergeStudioError).code).toBe('model-missing-shard');
    expect((err as MergeStudioError).message).toContain("'model-00002-of-00002.safetensors' (holding 1 tensors, e.g. 'b.weight')");
  });
});
