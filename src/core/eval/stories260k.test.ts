// Karpathy's stories260K (public/zoo/stories260K) against references taken from llama2.c's run.c:
// tokenizer ids, first-step logits, 50 greedy tokens per prompt, and the perplexity of a passage.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { nodeFolderTree } from '../io/node-file.ts';
import { loadCausalLM, type EvalModelFiles } from './load.ts';
import type { CausalLM } from './runtime.ts';

const DIR = 'public/zoo/stories260K';
interface Reference {
  prompts: { prompt: string; input_ids: number[]; greedy_ids: number[]; greedy_text: string; logits_first_step: number[] }[];
  ppl: { text: string; input_ids: number[]; tokens: number; perplexity: number };
}
const ref = JSON.parse(readFileSync(`${DIR}/reference.json`, 'utf8')) as Reference;

let files: EvalModelFiles;
let model: CausalLM;
beforeAll(async () => {
  ({ files, model } = await loadCausalLM(nodeFolderTree(DIR), { backend: 'cpu' }));
});

describe('stories260K tokenizer (tokenizer.json through @huggingface/tokenizers)', () => {
  it('encodes every prompt and the perplexity passage to run.c input_ids (BOS + dummy-prefix space)', () => {
    for (const p of ref.prompts) expect(Array.from(files.tokenizer.encodePrompt(p.prompt)), p.prompt).toEqual(p.input_ids);
    expect(Array.from(files.tokenizer.encodePrompt(ref.ppl.text))).toEqual(ref.ppl.input_ids);
  });

  it('decodes run.c greedy ids to the text run.c printed', () => {
    for (const p of ref.prompts) {
      const full = files.tokenizer.decode([...p.input_ids, ...p.greedy_ids]);
      expect(full).toBe(p.prompt + p.greedy_text);
    }
  });
});

describe('stories260K CPU runtime vs llama2.c run.c', () => {
  it('first-step logits agree within 1e-4 for every prompt', async () => {
    let worst = 0;
    for (const p of ref.prompts) {
      const all = await model.logits(Int32Array.from(p.input_ids));
      const last = all.subarray((p.input_ids.length - 1) * 512);
      for (let i = 0; i < 512; i++) worst = Math.max(worst, Math.abs(last[i] - p.logits_first_step[i]));
    }
    expect(worst).toBeLessThan(1e-4);
  });

  it('greedy generation with the KV cache reproduces run.c greedy_ids (50 tokens each)', async () => {
    for (const p of ref.prompts) {
      const out = await model.generate(Int32Array.from(p.input_ids), { maxNewTokens: p.greedy_ids.length, stopIds: [1, 2] });
      expect(out, p.prompt).toEqual(p.greedy_ids);
    }
  });

  it('batched generation (prompts of different lengths advanced together) gives the same greedy ids', async () => {
    const outs = await model.generateMany(ref.prompts.map((p) => Int32Array.from(p.input_ids)), { maxNewTokens: 50, stopIds: [1, 2] });
    expect(outs).toEqual(ref.prompts.map((p) => p.greedy_ids));
    // A per-sequence stop rule ends only that sequence.
    const stopped = await model.generateMany(ref.prompts.map((p) => Int32Array.from(p.input_ids)), { maxNewTokens: 50, stop: (g) => g.length === 3 && g[0] === ref.prompts[1].greedy_ids[0] });
    expect(stopped.map((o) => o.length)).toEqual([50, 3, 50]);
  });

  it('calls made concurrently on one runtime give the results they give one at a time', async () => {
    const [a, b] = ref.prompts.map((p) => Int32Array.from(p.input_ids));
    const conts = [Int32Array.from([300, 270, 261]), Int32Array.from([410, 300])];
    const alone = [await model.continuationLogProbs(a, conts), await model.continuationLogProbs(b, conts), await model.generate(a, { maxNewTokens: 10 })];
    const together = await Promise.all([model.continuationLogProbs(a, conts), model.continuationLogProbs(b, conts), model.generate(a, { maxNewTokens: 10 })]);
    expect(together).toEqual(alone);
  });

  it('passage perplexity matches run.c within 0.1%', async () => {
    const ids = Int32Array.from(ref.ppl.input_ids);
    const [lp] = await model.continuationLogProbs(ids.subarray(0, 1), [ids.subarray(1)]);
    expect(lp.length).toBe(ref.ppl.tokens);
    const ppl = Math.exp(-lp.reduce((a, b) => a + b, 0) / lp.length);
    expect(Math.abs(ppl / ref.ppl.perplexity - 1)).toBeLessThan(1e-3);
  });
});
