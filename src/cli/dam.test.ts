// `merge-studio dam` end to end on stories260K and a perturbed copy of it: the folder it writes is a
// loadable model whose weights are the experts folded with the coefficients it also writes.
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCausalLM } from '../core/eval/load.ts';
import { nodeFolderTree } from '../core/io/node-file.ts';
import { openSafetensorsModel, readTensorF32, serializeSafetensors } from '../core/safetensors/index.ts';
import { Prng } from '../core/search/prng.ts';
import { main } from './main.ts';
import { parseDamArgs, runDam } from './dam.ts';

const DIR = resolve('public/zoo/stories260K');
let work = '';

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'dam-cli-'));
  // Expert B: stories260K with every weight nudged, so the two experts disagree.
  await cp(DIR, join(work, 'b'), { recursive: true });
  const st = await openSafetensorsModel(nodeFolderTree(DIR));
  const rng = new Prng(4);
  const tensors = [];
  for (const [name, info] of st.tensors) {
    const w = await readTensorF32(info);
    const nudged = Float32Array.from(w, (v) => v * (1 + 0.3 * rng.normal()));
    tensors.push({ name, dtype: 'F32' as const, shape: info.shape, data: new Uint8Array(nudged.buffer) });
  }
  await writeFile(join(work, 'b', 'model.safetensors'), serializeSafetensors(tensors));
  await writeFile(join(work, 'spec.yml'), [
    'name: dam-test',
    'models:',
    `  - model: ${DIR}`,
    `    data: [${DIR}/tasks/story.gen.jsonl, ${DIR}/tasks/story.ppl.jsonl]`,
    '  - model: b',
    '    data: b/tasks/story.gen.jsonl',
    'steps: 3',
    'lr: 0.01',
    'batch_size: 2',
    'max_tokens: 24',
    'seed: 1',
  ].join('\n'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('merge-studio dam', () => {
  it('trains, then writes a model folder, the coefficients and the loss curve', async () => {
    const out = join(work, 'out');
    const lines: string[] = [];
    const result = await runDam(parseDamArgs([join(work, 'spec.yml'), '--out', out]), { log: (l) => lines.push(l) });
    expect(result.steps).toBe(3);
    expect(lines.some((l) => l.startsWith('[dam] step 3/3 loss'))).toBe(true);
    const files = (await readdir(out)).sort();
    expect(files).toEqual(['README.md', 'config.json', 'dam', 'generation_config.json', 'mergekit_config.yml', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json']);
    expect((await readdir(join(out, 'dam'))).sort()).toEqual(['coefficients.safetensors', 'training.json']);
    const training = JSON.parse(await readFile(join(out, 'dam', 'training.json'), 'utf8'));
    expect(training.history).toHaveLength(3);
    expect(await readFile(join(out, 'mergekit_config.yml'), 'utf8')).toMatch(/merge_method: dam/);

    // The written weights are the experts folded with the written coefficients.
    const tree = nodeFolderTree(out);
    const merged = await openSafetensorsModel(tree);
    const coeffs = await openSafetensorsModel(nodeFolderTree(join(out, 'dam')));
    const experts = [await openSafetensorsModel(nodeFolderTree(DIR)), await openSafetensorsModel(nodeFolderTree(join(work, 'b')))];
    for (const name of ['model.layers.2.self_attn.k_proj.weight', 'model.embed_tokens.weight', 'model.layers.0.mlp.down_proj.weight']) {
      const c = await readTensorF32(coeffs.tensors.get(name)!);
      const [rows, cols] = merged.tensors.get(name)!.shape;
      expect(coeffs.tensors.get(name)!.shape).toEqual([2, cols]);
      const [wa, wb] = await Promise.all(experts.map((e) => readTensorF32(e.tensors.get(name)!)));
      const got = await readTensorF32(merged.tensors.get(name)!);
      for (let r = 0; r < rows; r += 7) {
        for (let j = 0; j < cols; j++) expect(got[r * cols + j]).toBeCloseTo(c[j] * wa[r * cols + j] + c[cols + j] * wb[r * cols + j], 5);
      }
      // Training moved the coefficients off 1/2.
      expect(Math.max(...Array.from(c, (v) => Math.abs(v - 0.5)))).toBeGreaterThan(1e-3);
    }
    // Norms are not learned by default: plain averages.
    const norm = 'model.layers.1.input_layernorm.weight';
    expect(coeffs.tensors.has(norm)).toBe(false);
    const [na, nb] = await Promise.all(experts.map((e) => readTensorF32(e.tensors.get(norm)!)));
    const got = await readTensorF32(merged.tensors.get(norm)!);
    got.forEach((v, i) => expect(v).toBeCloseTo((na[i] + nb[i]) / 2, 6));
    // And the folder loads as a model.
    const { model } = await loadCausalLM(tree);
    expect((await model.logits(Int32Array.from([1, 400, 300]))).length).toBe(3 * 512);
  });

  it('refuses a spec with a misspelt key or an expert without data, naming them, and writes nothing', async () => {
    await writeFile(join(work, 'typo.yml'), `models:\n  - model: ${DIR}\n    data: x.jsonl\n  - model: b\n    data: y.jsonl\nlearning_rate: 0.1\n`);
    const errors: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => (errors.push(String(s)), true)) as typeof process.stderr.write;
    try {
      expect(await main(['dam', join(work, 'typo.yml'), '--out', join(work, 'never')])).toBe(1);
    } finally {
      process.stderr.write = write;
    }
    expect(errors.join('')).toMatch(/typo\.yml: unknown key 'learning_rate'/);
    await writeFile(join(work, 'nodata.yml'), `models:\n  - model: ${DIR}\n    data: []\n  - model: b\n    data: y.jsonl\n`);
    await expect(runDam(parseDamArgs([join(work, 'nodata.yml'), '--out', join(work, 'never')]))).rejects.toThrow(/'models\[0\]\.data' must name the expert's task files/);
    await writeFile(join(work, 'missing.yml'), `models:\n  - model: ${DIR}\n    data: nowhere.jsonl\n  - model: b\n    data: b/tasks/story.gen.jsonl\n`);
    await expect(runDam(parseDamArgs([join(work, 'missing.yml'), '--out', join(work, 'never')]))).rejects.toThrow(/nowhere\.jsonl: cannot read the task file of expert/);
    expect((await readdir(work)).filter((f) => f.startsWith('never'))).toEqual([]);
  });
});
