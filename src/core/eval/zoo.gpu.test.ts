// The WebGPU runtime on one demo model per family (bf16 weights kept packed on the GPU) against
// the PyTorch logits in public/zoo/references, and against the CPU runtime on a task.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireGpu, type GpuContext } from '../gpu/device.ts';
import { nodeFileSource, nodeFolderTree } from '../io/node-file.ts';
import { readSafetensorsHeader, readTensorBytes, readTensorF32 } from '../safetensors/index.ts';
import { CpuCausalLM } from './cpu.ts';
import { GpuCausalLM } from './gpu.ts';
import { openEvalModel } from './load.ts';
import { evaluateTask } from './metrics.ts';
import { parseTaskJsonl } from './tasks.ts';
import { readHostTensors } from './weights.ts';

const ZOO = process.env.ZOO_DIR ?? 'public/zoo';
const manifestPath = join(ZOO, 'manifest.json');
const manifest = existsSync(manifestPath)
  ? (JSON.parse(readFileSync(manifestPath, 'utf8')) as { tasks: Record<string, { files: Record<string, string> }>; families: Record<string, { models: Record<string, { path: string; skill: string | null; reference: { path: string } }> }> })
  : null;
// The first expert of each family: it has a skill to evaluate.
const picks = manifest ? Object.entries(manifest.families).map(([family, f]) => ({ family, m: Object.values(f.models).find((x) => x.skill) ?? Object.values(f.models)[0] })) : [];

let gpu: GpuContext;
beforeAll(async () => {
  if (manifest) gpu = await requireGpu();
});

describe.skipIf(!manifest)('demo zoo on WebGPU', () => {
  for (const { family, m } of picks) {
    it(`${family}/${m.path.split('/').pop()}: GPU logits match PyTorch within 1e-4, and a task scores as on the CPU`, async () => {
      const dir = join(ZOO, m.path);
      const files = await openEvalModel(nodeFolderTree(dir));
      const host = await readHostTensors(files.config, files.tensors, dir);
      const lm = new GpuCausalLM(gpu, files.config, host);
      try {
        const ref = await readSafetensorsHeader(await nodeFileSource(join(ZOO, m.reference.path)));
        let worst = 0;
        for (const [name, info] of ref.tensors) {
          if (!name.startsWith('input_ids.')) continue;
          const ids = new Int32Array((await readTensorBytes(info)).slice().buffer);
          const want = await readTensorF32(ref.tensors.get(`logits.${name.slice('input_ids.'.length)}`)!);
          const got = await lm.logits(ids);
          for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
        }
        expect(worst).toBeLessThan(1e-4);
        // Three multiple-choice items: the GPU's log-softmax kernel against the CPU path.
        const skill = m.skill ?? Object.keys(manifest!.tasks)[0];
        const file = manifest!.tasks[skill].files.mc;
        const task = parseTaskJsonl(readFileSync(join(ZOO, file), 'utf8'), file);
        const [g, c] = [await evaluateTask(lm, files.tokenizer, task, { limit: 3 }), await evaluateTask(new CpuCausalLM(files.config, host), files.tokenizer, task, { limit: 3 })];
        expect(g.perItem.map((p) => p.output)).toEqual(c.perItem.map((p) => p.output));
      } finally {
        lm.dispose();
      }
    });
  }
});
