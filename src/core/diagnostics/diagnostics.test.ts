import { describe, expect, it } from 'vitest';
import { nodeFolderTree } from '../io/node-file.ts';
import { openModel, type ModelHandle } from '../model/handle.ts';
import { readTensorF32 } from '../safetensors/index.ts';
import { taskVectorDiagnostics } from './index.ts';

const open = (p: string) => openModel(nodeFolderTree(`public/zoo/tiny-llama/${p}`));

/** A straightforward reference: whole tensors, every layer's task vector concatenated, then
 * norms, cosines and sign conflicts by their definitions. */
async function reference(base: ModelHandle, models: ModelHandle[]) {
  const vectors = new Map<number | null, number[][]>();
  for (const [name, info] of base.tensors) {
    const b = await readTensorF32(info);
    const layer = base.layerOf(name);
    const list = vectors.get(layer) ?? models.map(() => []);
    vectors.set(layer, list);
    for (let i = 0; i < models.length; i++) {
      const m = await readTensorF32(models[i].tensors.get(name)!);
      for (let e = 0; e < b.length; e++) list[i].push(Math.fround(m[e] - b[e]));
    }
  }
  return new Map([...vectors].map(([layer, vs]) => {
    const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    const dot = (a: number[], b: number[]) => a.reduce((s, x, k) => s + x * b[k], 0);
    const len = vs[0].length;
    let any = 0;
    for (let e = 0; e < len; e++) {
      const signs = new Set(vs.map((v) => Math.sign(v[e])).filter((s) => s !== 0));
      if (signs.size > 1) any++;
    }
    const opposite = (a: number[], b: number[]) => a.filter((x, k) => Math.sign(x) * Math.sign(b[k]) < 0).length / len;
    return [layer, { norms: vs.map(norm), cos01: dot(vs[0], vs[1]) / (norm(vs[0]) * norm(vs[1])), opp01: opposite(vs[0], vs[1]), conflicts: any / len, elements: len }];
  }));
}

describe('task-vector diagnostics (CPU path)', () => {
  it('equals a straightforward computation on the demo models, per layer', async () => {
    const base = await open('base');
    const models = [await open('caesar'), await open('reverse'), await open('sort')];
    // Small blocks, so tensors are read in several row blocks and the sums are added up.
    const got = await taskVectorDiagnostics(base, models, { blockValues: 5000 });
    const want = await reference(base, models);
    expect(got.backend).toBe('cpu');
    expect(got.skipped).toEqual([]);
    expect(got.layers.map((l) => l.layer)).toEqual([0, 1, 2, 3, null]);
    for (const l of got.layers) {
      const w = want.get(l.layer)!;
      expect(l.elements).toBe(w.elements);
      l.norms.forEach((v, i) => expect(v).toBeCloseTo(w.norms[i], 6));
      expect(l.norms.every((v) => v > 0)).toBe(true);
      expect(got.pairs[0]).toEqual([0, 1]);
      expect(l.cosines[0]).toBeCloseTo(w.cos01, 9);
      expect(l.pairConflicts[0]).toBeCloseTo(w.opp01, 12);
      expect(l.conflicts).toBeCloseTo(w.conflicts, 12);
      expect(l.conflicts).toBeGreaterThan(0);
    }
  });

  it('names the problem when there is nothing to compare', async () => {
    const base = await open('base');
    await expect(taskVectorDiagnostics(base, [])).rejects.toThrow(/at least one model besides the base/);
  });
});
