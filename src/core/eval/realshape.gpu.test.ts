// The WebGPU runtime at real shapes: Qwen2.5-0.5B- and Llama-3.2-1B-shaped models cut to 2 layers
// (full hidden size, tied 151936 / 128256-row bf16 embeddings: 272 MB and 525 MB, over the 128 MiB
// binding budget, so they run in row slices) against the independent PyTorch evaluator
// (fixtures/realshape-ppl.json) and against the CPU runtime on the same weights. SwiftShader's
// matmul is slow: one sequence (5 predicted tokens) per family.
import { beforeAll, describe, expect, it } from 'vitest';
import { requireGpu, type GpuContext } from '../gpu/device.ts';
import { CpuCausalLM } from './cpu.ts';
import { REALSHAPE_REFERENCE, generateRealshapeFamilies, readRealshapeWeights, realshapeRoot } from './fixtures/realshape-fixture.ts';
import { GpuCausalLM } from './gpu.ts';

/** |Δ log p| per token allowed against PyTorch and between the two runtimes. */
const LOGPROB_TOLERANCE = 1e-4;

/** The Llama-3.2-1B shape (0.74 GB, minutes on this 2-core machine) runs only with REALSHAPE_EVAL_ALL=1. */
const ALL = process.env.REALSHAPE_EVAL_ALL === '1';

let gpu: GpuContext;
let dirs: Record<string, string>;
beforeAll(async () => {
  gpu = await requireGpu();
  dirs = await generateRealshapeFamilies(realshapeRoot('gpu'), ALL ? undefined : ['qwen2.5-0.5b']);
}, 300_000);

describe('WebGPU runtime on real-shaped models vs PyTorch and vs the CPU runtime', () => {
  for (const [family, ref] of Object.entries(REALSHAPE_REFERENCE.families).filter(([f]) => ALL || f.startsWith('qwen'))) {
    it(`${family} (2 layers, vocab ${ref.vocab_size}): embedding in row slices, log-probs within ${LOGPROB_TOLERANCE} of PyTorch and of the CPU`, async () => {
      const { config, weights } = await readRealshapeWeights(dirs[family]);
      const embedBytes = weights.get('model.embed_tokens.weight')!.data.byteLength;
      expect(embedBytes).toBeGreaterThan(gpu.capabilities.bindingBudget);
      const lm = new GpuCausalLM(gpu, config, weights);
      try {
        const item = ref.items[0];
        const ids = Int32Array.from(item.ids);
        const [[g], [c]] = [await lm.continuationLogProbs(ids.subarray(0, 1), [ids.subarray(1)]), await new CpuCausalLM(config, weights).continuationLogProbs(ids.subarray(0, 1), [ids.subarray(1)])];
        let vsRef = 0, vsCpu = 0;
        g.forEach((v, j) => {
          vsRef = Math.max(vsRef, Math.abs(v - item.logprobs[j]));
          vsCpu = Math.max(vsCpu, Math.abs(v - c[j]));
        });
        const ppl = Math.exp(-g.reduce((a, b) => a + b, 0) / g.length);
        console.log(`${family} on WebGPU: max |Δ log p| vs PyTorch ${vsRef.toExponential(2)}, vs CPU ${vsCpu.toExponential(2)}; perplexity ${ppl.toFixed(3)} vs ${item.perplexity}`);
        expect(vsRef).toBeLessThan(LOGPROB_TOLERANCE);
        expect(vsCpu).toBeLessThan(LOGPROB_TOLERANCE);
        expect(Math.abs(ppl / item.perplexity - 1)).toBeLessThan(1e-4);
      } finally {
        lm.dispose();
      }
    }, 300_000);
  }
});
