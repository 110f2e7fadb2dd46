// Evaluating merges without writing them: the runtime built from the engine's in-memory merge
// equals one built from hand-averaged weights, and a partial re-merge replaces only the named tensors.
import { cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFromF32 } from '../dtype.ts';
import { plan } from '../engine/index.ts';
import { nodeFolderTree } from '../io/node-file.ts';
import { openModel, type ModelHandle } from '../model/handle.ts';
import { parseRecipeYaml } from '../recipe/index.ts';
import { serializeSafetensors } from '../safetensors/index.ts';
import { CpuCausalLM } from './cpu.ts';
import { openEvalModel } from './load.ts';
import { remergeInto, runtimeForPlan } from './merged.ts';
import { readHostTensors, hostTensorToF32 } from './weights.ts';

let dir: string;
let weightsA: Map<string, Float32Array>;
let weightsB: Map<string, Float32Array>;
let handles: Map<string, ModelHandle>;
const PROBE = Int32Array.from([1, 403, 407, 261, 378, 300, 270]);

function linearRecipe(wa: number, wb: number) {
  return parseRecipeYaml(`merge_method: linear\ndtype: float32\nmodels:\n  - model: a\n    parameters:\n      weight: ${wa}\n  - model: b\n    parameters:\n      weight: ${wb}\n`, { source: 'test.yml' });
}

function blend(wa: number, wb: number, names?: Set<string>, fallback?: Map<string, Float32Array>): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, a] of weightsA) {
    if (names && !names.has(name)) { out.set(name, fallback!.get(name)!); continue; }
    const b = weightsB.get(name)!;
    // mergekit's linear: sum(w_i x_i) / sum(w_i), in float32.
    out.set(name, Float32Array.from(a, (x, i) => (wa * x + wb * b[i]) / (wa + wb)));
  }
  return out;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'eval-merged-'));
  await cp('public/zoo/stories260K', join(dir, 'a'), { recursive: true });
  await cp('public/zoo/stories260K', join(dir, 'b'), { recursive: true });
  const files = await openEvalModel(nodeFolderTree(join(dir, 'a')));
  const host = await readHostTensors(files.config, files.tensors, 'a');
  weightsA = new Map([...host].map(([n, t]) => [n, hostTensorToF32(t)]));
  // Model b: every weight moved by a deterministic, tensor-specific amount.
  weightsB = new Map([...weightsA].map(([n, a], k) => [n, Float32Array.from(a, (x, i) => x * (1 + 0.3 * Math.sin(i * 0.7 + k)) + 0.01 * Math.cos(i + k))]));
  const specs = [...weightsB].sort(([x], [y]) => (x < y ? -1 : 1)).map(([name, data]) => ({ name, dtype: 'F32' as const, shape: files.tensors.get(name)!.shape, data: encodeFromF32(data, 'F32') }));
  await writeFile(join(dir, 'b', 'model.safetensors'), serializeSafetensors(specs));
  handles = new Map([
    ['a', await openModel(nodeFolderTree(join(dir, 'a')), undefined, 'a')],
    ['b', await openModel(nodeFolderTree(join(dir, 'b')), undefined, 'b')],
  ]);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function maxDiff(x: Float32Array, y: Float32Array): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

describe('merged-model evaluation without writing files', () => {
  it('evaluates the in-memory merge exactly as hand-averaged weights, and writes nothing', async () => {
    const before = await readdir(dir, { recursive: true });
    const merged = await runtimeForPlan(plan(linearRecipe(0.3, 0.7), handles));
    const reference = new CpuCausalLM(merged.config, blend(0.3, 0.7));
    const got = await merged.model.logits(PROBE), want = await reference.logits(PROBE);
    expect(maxDiff(got, want)).toBeLessThan(1e-4);
    // The merge really moved the model: it differs from model a by far more than the tolerance.
    expect(maxDiff(got, await new CpuCausalLM(merged.config, weightsA).logits(PROBE))).toBeGreaterThan(0.05);
    expect(Array.from(merged.tokenizer.encodePrompt('Once upon a time'))).toEqual([1, 403, 407, 261, 378]);
    expect(await readdir(dir, { recursive: true })).toEqual(before);
  });

  it('re-merges only the changed tensors into the live runtime', async () => {
    const first = await runtimeForPlan(plan(linearRecipe(0.3, 0.7), handles));
    const changed = new Set(['model.layers.0.mlp.up_proj.weight', 'model.layers.3.self_attn.q_proj.weight', 'model.norm.weight']);
    const replaced = await remergeInto(first.model, plan(linearRecipe(0.9, 0.1), handles), changed);
    expect(replaced).toBe(3);
    // Expected: the new blend on the changed tensors, the old blend everywhere else.
    const hybrid = blend(0.9, 0.1, changed, blend(0.3, 0.7));
    const want = await new CpuCausalLM(first.config, hybrid).logits(PROBE);
    expect(maxDiff(await first.model.logits(PROBE), want)).toBeLessThan(1e-4);
    const everything = await new CpuCausalLM(first.config, blend(0.9, 0.1)).logits(PROBE);
    expect(maxDiff(want, everything)).toBeGreaterThan(1e-3);
  });
});
