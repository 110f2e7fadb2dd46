// Batched perplexity scoring (sequenceLogProbs: rows of several sequences in one forward pass, one
// KV cache each) against the one-sequence-at-a-time path (continuationLogProbs of each sequence's
// first token and the rest), on stories260K with the CPU runtime: ragged lengths, a one-token
// sequence (nothing to score), and more rows than one batched pass holds.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { nodeFolderTree } from '../io/node-file.ts';
import { loadCausalLM, type EvalModelFiles } from './load.ts';
import { evaluateTask } from './metrics.ts';
import type { CausalLM } from './runtime.ts';

const DIR = 'public/zoo/stories260K';
const ref = JSON.parse(readFileSync(`${DIR}/reference.json`, 'utf8')) as {
  prompts: { input_ids: number[]; greedy_ids: number[] }[];
  ppl: { text: string; input_ids: number[]; perplexity: number };
};

let files: EvalModelFiles;
let model: CausalLM;
beforeAll(async () => {
  ({ files, model } = await loadCausalLM(nodeFolderTree(DIR), { backend: 'cpu' }));
});

/** Ragged sequences: the reference passage, each prompt followed by its greedy ids, one and two tokens. */
function raggedSequences(): Int32Array[] {
  return [
    Int32Array.from(ref.ppl.input_ids),
    ...ref.prompts.map((p) => Int32Array.from([...p.input_ids, ...p.greedy_ids])),
    Int32Array.from([1]),
    Int32Array.from([1, 403]),
    Int32Array.from(ref.prompts[0].input_ids),
  ];
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('sequenceLogProbs (CPU)', () => {
  it('equals scoring each sequence alone, for ragged lengths over several batched passes', async () => {
    const seqs = raggedSequences();
    // More rows than one pass of 64 holds: the batch is cut between sequences.
    expect(seqs.reduce((a, s) => a + s.length - 1, 0)).toBeGreaterThan(64);
    const batched = await model.sequenceLogProbs(seqs);
    expect(batched.map((lp) => lp.length)).toEqual(seqs.map((s) => s.length - 1));
    for (let i = 0; i < seqs.length; i++) {
      const [alone] = await model.continuationLogProbs(seqs[i].subarray(0, 1), [seqs[i].subarray(1)]);
      expect(maxDiff(batched[i], alone), `sequence ${i}`).toBeLessThan(1e-5);
    }
  });

  it('gives run.c perplexity for the reference passage among other sequences', async () => {
    const seqs = raggedSequences();
    const [lp] = await model.sequenceLogProbs(seqs);
    const ppl = Math.exp(-lp.reduce((a, b) => a + b, 0) / lp.length);
    expect(Math.abs(ppl / ref.ppl.perplexity - 1)).toBeLessThan(1e-3);
  });

  it('refuses an empty sequence by its index', async () => {
    await expect(model.sequenceLogProbs([Int32Array.from([1, 2]), new Int32Array(0)])).rejects.toThrow(/sequence 1 is empty/);
  });

  it('the perplexity task over batched items equals the sum of items scored one by one', async () => {
    const texts = ['Once upon a time', 'The cat sat.', 'A', 'Lily and Ben went to the park to play with the ball.', ref.ppl.text];
    const items = Array.from({ length: 20 }, (_, i) => ({ text: texts[i % texts.length] + (i >= texts.length ? ` ${i}` : '') }));
    const r = await evaluateTask(model, files.tokenizer, { name: 'p', kind: 'perplexity', items });
    let nll = 0, tokens = 0;
    for (const it of items) {
      const ids = files.tokenizer.encodePrompt(it.text);
      const [lp] = await model.continuationLogProbs(ids.subarray(0, 1), [ids.subarray(1)]);
      nll -= lp.reduce((a, b) => a + b, 0);
      tokens += lp.length;
    }
    expect(r.metrics.tokens).toBe(tokens);
    expect(Math.abs(r.metrics.nll_per_token - nll / tokens)).toBeLessThan(1e-6);
  });
});
