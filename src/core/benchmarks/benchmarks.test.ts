// Benchmarks read from a mock Hub serving synthetic datasets in the real schemas and layouts
// (tools/benchmarks/synthetic.ts), scored on a demo model. The scores are checked against an
// independent computation: every continuation's log-likelihood summed from the runtime's full
// logits over context+continuation (log-softmax here), not through continuationLogProbs.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockHub, type MockHub } from '../../../tools/mock-hub/server.ts';
import { syntheticDatasets } from '../../../tools/benchmarks/synthetic.ts';
import { MOCK_GATED_TOKEN } from '../../../tools/mock-hub/repos.ts';
import { loadCausalLM, type EvalModelFiles } from '../eval/load.ts';
import type { CausalLM } from '../eval/runtime.ts';
import { nodeFolderTree } from '../io/node-file.ts';
import { BENCHMARKS } from './definitions.ts';
import { encodePair, evaluateBenchmark, applyRegexFilter, exactMatch } from './evaluate.ts';
import { openHubDatasetSplit } from './hub-dataset.ts';
import { expandBenchmark, loadBenchmark, type LoadedBenchmark } from './load.ts';
import { checkIfEval, ifevalSupported } from './ifeval.ts';
import { PyRandom } from './pyrandom.ts';

// Evaluation splits of 20000 rows in row groups of 1000, so reading 20 rows touches a small part of a file.
const SIZES = { evalRows: 20000, rowGroupSize: 1000 };
const root = fileURLToPath(new URL('../../../', import.meta.url));
let hub: MockHub;
let model: CausalLM;
let files: EvalModelFiles;

beforeAll(async () => {
  hub = await startMockHub({ root: join(root, 'public/zoo'), datasets: syntheticDatasets(SIZES) });
  ({ model, files } = await loadCausalLM(nodeFolderTree(join(root, 'public/zoo/tiny-llama/caesar'))));
}, 60_000);
afterAll(async () => {
  model?.dispose();
  await hub?.close();
});

const openSplit = (dataset: { path: string; config?: string; files?: Partial<Record<string, string[]>> }, split: string) =>
  openHubDatasetSplit({ id: dataset.path, config: dataset.config, split, files: dataset.files?.[split], hubUrl: hub.url, retries: 2, retryDelayMs: 10 });

/** log p(continuation | context) from full-sequence logits. */
async function referenceLogLik(context: Int32Array, continuation: Int32Array): Promise<number> {
  const ids = new Int32Array(context.length + continuation.length);
  ids.set(context);
  ids.set(continuation, context.length);
  const logits = await model.logits(ids);
  const vocab = logits.length / ids.length;
  let sum = 0;
  for (let j = 0; j < continuation.length; j++) {
    const row = logits.subarray((context.length + j - 1) * vocab, (context.length + j) * vocab);
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    let z = 0;
    for (const v of row) z += Math.exp(v - max);
    sum += row[continuation[j]] - max - Math.log(z);
  }
  return sum;
}

async function referenceAccuracy(loaded: LoadedBenchmark): Promise<{ acc: number; accNorm: number }> {
  let acc = 0;
  let norm = 0;
  for (const req of loaded.requests) {
    if (req.kind !== 'multiple_choice') throw new Error('mc expected');
    const lls: number[] = [];
    for (const p of req.pairs) {
      const e = encodePair(files.tokenizer, p.context, p.continuation);
      lls.push(await referenceLogLik(e.context, e.continuation));
    }
    const best = lls.indexOf(Math.max(...lls));
    const normed = lls.map((l, i) => l / req.choiceLengths[i]);
    const bestNorm = normed.indexOf(Math.max(...normed));
    acc += best === req.gold ? 1 : 0;
    norm += bestNorm === req.gold ? 1 : 0;
  }
  return { acc: acc / loaded.requests.length, accNorm: norm / loaded.requests.length };
}

describe('benchmarks from Hub datasets', () => {
  it('arc_easy --limit 20: reads only the row groups it needs, and scores as the independent reference', async () => {
    hub.resetStats();
    const loaded = await loadBenchmark(BENCHMARKS.get('arc_easy')!, { openSplit, limit: 20 });
    const testFile = hub.stats.requests.filter((r) => r.url.includes('ARC-Easy/test'));
    const served = testFile.reduce((a, r) => a + r.bodyBytes, 0);
    expect(loaded.splitRows).toBe(20000);
    expect(loaded.requests).toHaveLength(20);
    expect(testFile.length).toBeGreaterThan(0);
    // The first 20 rows are in the first of twenty row groups: the footer (64 KB from the end) and that group are read.
    const full = syntheticDatasets(SIZES).find((d) => d.id === 'allenai/ai2_arc')!.files.find(([p]) => p === 'ARC-Easy/test-00000-of-00001.parquet')![1].byteLength;
    expect(served).toBeLessThan(full / 4);
    const first = loaded.requests[0];
    expect(first.kind === 'multiple_choice' && first.pairs[0].context).toMatch(/^Question: rot [a-z]+=\nAnswer:$/);

    const r = await evaluateBenchmark(model, files.tokenizer, loaded);
    const ref = await referenceAccuracy(loaded);
    expect(r.items).toBe(20);
    expect(r.metrics.acc).toBeCloseTo(ref.acc, 12);
    expect(r.metrics.acc_norm).toBeCloseTo(ref.accNorm, 12);
  }, 120_000);

  it('hellaswag is read from the parquet conversion (refs/convert/parquet), winogrande scores one continuation per context', async () => {
    const hs = await loadBenchmark(BENCHMARKS.get('hellaswag')!, { openSplit, limit: 6 });
    expect(hub.stats.requests.some((r) => r.url.includes('refs%2Fconvert%2Fparquet'))).toBe(true);
    const hr = await evaluateBenchmark(model, files.tokenizer, hs);
    expect(hr.metrics.acc).toBeCloseTo((await referenceAccuracy(hs)).acc, 12);

    const wg = await loadBenchmark(BENCHMARKS.get('winogrande')!, { openSplit, limit: 6 });
    const req = wg.requests[0];
    expect(req.kind === 'multiple_choice' && new Set(req.pairs.map((p) => p.continuation)).size).toBe(1);
    const wr = await evaluateBenchmark(model, files.tokenizer, wg);
    expect(wr.metrics.acc).toBeCloseTo((await referenceAccuracy(wg)).acc, 12);
    expect(wr.metrics.acc_norm).toBeUndefined();
  }, 120_000);

  it('gsm8k: five shots drawn as lm-eval draws them (Random(1234).sample per document, in order)', async () => {
    const loaded = await loadBenchmark(BENCHMARKS.get('gsm8k')!, { openSplit, limit: 3 });
    const train = await openSplit({ path: 'openai/gsm8k', config: 'main' }, 'train');
    const rnd = new PyRandom(1234);
    for (const req of loaded.requests) {
      const picks = rnd.sampleIndices(train.rows, 5);
      const shots = await train.read(picks);
      if (req.kind !== 'generate_until') throw new Error('generation expected');
      const expectedPrefix = shots.map((d) => `Question: ${d.question}\nAnswer: ${d.answer}\n\n`).join('');
      expect(req.context.startsWith(expectedPrefix)).toBe(true);
      expect(req.context.slice(expectedPrefix.length)).toMatch(/^Question: add \d+\+\d+=\nAnswer:$/);
    }
    const r = await evaluateBenchmark(model, files.tokenizer, loaded);
    expect(r.items).toBe(3);
    for (const item of r.perItem) {
      const req = loaded.requests[item.index];
      if (req.kind !== 'generate_until') throw new Error('generation expected');
      const strict = applyRegexFilter(item.output!, '#### (\\-?[0-9\\.\\,]+)', 0, '[invalid]');
      expect(item.score).toBe(exactMatch(strict, req.target, BENCHMARKS.get('gsm8k')!.generation!) ? 1 : 0);
      expect(item.output).not.toContain('Question:');
    }
  }, 120_000);

  it('ifeval: prompts as they are (no shots), responses until EOS, lm-eval\'s four accuracies; langdetect/nltk prompts counted apart', async () => {
    const def = BENCHMARKS.get('ifeval')!;
    const loaded = await loadBenchmark(def, { openSplit, limit: 10 });
    const split = await openSplit(def.dataset, 'train');
    const docs = await split.read(Array.from({ length: 10 }, (_, i) => i));
    expect(split.rows).toBe(40);
    const supported = docs.map((d) => ifevalSupported(d));
    expect(supported.filter((x) => !x).length).toBeGreaterThan(0);
    for (const [i, req] of loaded.requests.entries()) {
      if (req.kind !== 'generate_until') throw new Error('generation expected');
      expect(req.context).toBe(docs[i].prompt);
    }
    // ifeval.yaml: until [] and max_gen_toks 1280; capped at 40 tokens here to keep the test short.
    expect(def.generation).toMatchObject({ until: [], maxGenToks: 1280 });
    const capped = { ...loaded, def: { ...def, generation: { ...def.generation!, maxGenToks: 40 } } };
    const r = await evaluateBenchmark(model, files.tokenizer, capped);
    expect(r.metrics.prompts_skipped).toBe(supported.filter((x) => !x).length);
    expect(r.items).toBe(supported.filter(Boolean).length);
    // Recomputed from each response with lm-eval's aggregation (utils.py agg_inst_level_acc: flat mean).
    const strict: boolean[] = [];
    const loose: boolean[] = [];
    let ps = 0;
    let pl = 0;
    for (const item of r.perItem) {
      expect(supported[item.index]).toBe(true);
      const c = checkIfEval(docs[item.index], item.output!);
      strict.push(...c.strict);
      loose.push(...c.loose);
      ps += c.strict.every(Boolean) ? 1 : 0;
      pl += c.loose.every(Boolean) ? 1 : 0;
      expect(item.score).toBe(c.strict.every(Boolean) ? 1 : 0);
    }
    expect(r.metrics.prompt_level_strict_acc).toBeCloseTo(ps / r.items, 12);
    expect(r.metrics.prompt_level_loose_acc).toBeCloseTo(pl / r.items, 12);
    expect(r.metrics.inst_level_strict_acc).toBeCloseTo(strict.filter(Boolean).length / strict.length, 12);
    expect(r.metrics.inst_level_loose_acc).toBeCloseTo(loose.filter(Boolean).length / loose.length, 12);
    // Only EOS ends a response: each is either max_gen_toks long or ends where the model chose EOS.
    for (const item of r.perItem) {
      const ids = files.tokenizer.encode(item.output!);
      expect(ids.length).toBeLessThanOrEqual(40 + 2);
    }
  }, 240_000);

  it('a gated dataset: refused without the token, naming what to do; read with it', async () => {
    const arc = syntheticDatasets().find((d) => d.id === 'allenai/ai2_arc')!;
    const gated = await startMockHub({ root: join(root, 'public/zoo'), datasets: [{ ...arc, id: 'org/gated-arc', gatedToken: MOCK_GATED_TOKEN }] });
    try {
      const open = (accessToken?: string) => openHubDatasetSplit({ id: 'org/gated-arc', config: 'ARC-Easy', split: 'test', hubUrl: gated.url, accessToken, retries: 0 });
      const err = await open().then(() => null, (e: unknown) => e as Error & { code: string });
      expect(err?.code).toMatch(/^hub-(unauthorized|forbidden)$/);
      expect(err?.message).toMatch(/org\/gated-arc.*(gated|token)/s);
      const split = await open(MOCK_GATED_TOKEN);
      const [doc] = await split.read([0]);
      const [want] = await (await openSplit({ path: 'allenai/ai2_arc', config: 'ARC-Easy' }, 'test')).read([0]);
      expect(doc).toEqual(want);
    } finally {
      await gated.close();
    }
  }, 60_000);

  it('mmlu is the 57 subjects; each subject gets its description and first-n dev shots', async () => {
    const subjects = expandBenchmark('mmlu')!;
    expect(subjects).toHaveLength(57);
    const anatomy = await loadBenchmark(BENCHMARKS.get('mmlu_anatomy')!, { openSplit, numFewshot: 2 });
    const dev = await (await openSplit({ path: 'cais/mmlu', config: 'anatomy' }, 'dev')).read([0, 1]);
    const req = anatomy.requests[0];
    if (req.kind !== 'multiple_choice') throw new Error('mc expected');
    const shot = (d: Record<string, unknown>) => {
      const c = d.choices as string[];
      return `${d.question}\nA. ${c[0]}\nB. ${c[1]}\nC. ${c[2]}\nD. ${c[3]}\nAnswer: ${'ABCD'[Number(d.answer)]}\n\n`;
    };
    expect(req.pairs[0].context.startsWith(`The following are multiple choice questions (with answers) about anatomy.\n\n${shot(dev[0])}${shot(dev[1])}`)).toBe(true);
    expect(req.pairs.map((p) => p.continuation)).toEqual([' A', ' B', ' C', ' D']);
  }, 60_000);

  it('says which split is missing and which files the repo has', async () => {
    await expect(openHubDatasetSplit({ id: 'allenai/ai2_arc', config: 'ARC-Easy', split: 'dev', hubUrl: hub.url, retries: 0 })).rejects.toThrow(
      /dataset allenai\/ai2_arc@main: no data files for split 'dev' of config 'ARC-Easy' .*data files present: ARC-Challenge\/test-00000-of-00001\.parquet/,
    );
    await expect(openHubDatasetSplit({ id: 'nobody/nothing', split: 'test', hubUrl: hub.url, retries: 0 })).rejects.toThrow(/nobody\/nothing/);
  });
});

describe('lm-eval filters and exact match', () => {
  // Expected values printed by CPython 3.11 running lm-eval's RegexFilter and exact_match logic
  // (lm_eval/filters/extraction.py, lm_eval/api/metrics.py) on the same strings.
  const cases: [string, string, string, boolean, boolean][] = [
    [' She sells 9 eggs for $2 each, so 9 * 2 = $18.\n#### 18', '18', '18', true, true],
    [' The answer is 1,234.5 dollars.', '[invalid]', '1,234.5', false, false],
    [' no numbers here', '[invalid]', '[invalid]', false, false],
    [' 5 then 7 then -3.', '[invalid]', '-3.', false, false],
    ['#### $1,000', '[invalid]', '$1,000', false, false],
  ];
  const spec = BENCHMARKS.get('gsm8k')!.generation!;
  it.each(cases)('%j', (out, strict, flexible, strictOk, flexOk) => {
    const s = applyRegexFilter(out, spec.filters[0].regex, spec.filters[0].groupSelect, '[invalid]');
    const f = applyRegexFilter(out, spec.filters[1].regex, spec.filters[1].groupSelect, '[invalid]');
    expect([s, f]).toEqual([strict, flexible]);
    expect(exactMatch(s, 'Janet sells...\n#### 18', spec)).toBe(strictOk);
    expect(exactMatch(f, 'Janet sells...\n#### 18', spec)).toBe(flexOk);
  });
});

describe('chat mode (lm-eval --apply_chat_template)', () => {
  it('renders the description as the system message, shots and question as one user message, and drops the target delimiter', async () => {
    const { cp, mkdtemp, readFile, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'ms-chat-bench-'));
    try {
      await cp(join(root, 'public/zoo/tiny-llama/caesar'), dir, { recursive: true });
      const cfgPath = join(dir, 'tokenizer_config.json');
      const cfg = JSON.parse(await readFile(cfgPath, 'utf8')) as Record<string, unknown>;
      cfg.chat_template = '{{ bos_token }}{% for m in messages %}{{ m.role }}:{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}';
      await writeFile(cfgPath, JSON.stringify(cfg));
      const chatModel = await loadCausalLM(nodeFolderTree(dir));
      try {
        const loaded = await loadBenchmark(BENCHMARKS.get('mmlu_anatomy')!, { openSplit, numFewshot: 1, limit: 2 });
        const dev = (await (await openSplit({ path: 'cais/mmlu', config: 'anatomy' }, 'dev')).read([0]))[0];
        const test = (await (await openSplit({ path: 'cais/mmlu', config: 'anatomy' }, 'test')).read([0]))[0];
        const q = (d: Record<string, unknown>) => {
          const c = d.choices as string[];
          return `${d.question}\nA. ${c[0]}\nB. ${c[1]}\nC. ${c[2]}\nD. ${c[3]}\nAnswer:`;
        };
        const req = loaded.requests[0];
        if (req.kind !== 'multiple_choice') throw new Error('mc expected');
        const rendered = chatModel.files.tokenizer.applyChatTemplate([{ role: 'system', content: req.chat.system! }, { role: 'user', content: req.chat.user[0] }], { addGenerationPrompt: true });
        expect(rendered).toBe(`<s>system:The following are multiple choice questions (with answers) about anatomy.\n\n\nuser:${q(dev)} ${'ABCD'[Number(dev.answer)]}\n\n${q(test)}\nassistant:`);
        expect(req.chat.continuation).toEqual(['A', 'B', 'C', 'D']);

        // Scores: the same pairs through the reference log-likelihood (full logits).
        const r = await evaluateBenchmark(chatModel.model, chatModel.files.tokenizer, loaded, { chat: true });
        let acc = 0;
        for (const rq of loaded.requests) {
          if (rq.kind !== 'multiple_choice') throw new Error('mc expected');
          const ctx = chatModel.files.tokenizer.applyChatTemplate([{ role: 'system', content: rq.chat.system! }, { role: 'user', content: rq.chat.user[0] }], { addGenerationPrompt: true });
          const lls: number[] = [];
          for (const cont of rq.chat.continuation!) {
            const e = encodePair(chatModel.files.tokenizer, ctx, cont);
            // One BOS: the template writes it and the prompt encoding adds none on top.
            expect(Array.from(e.context).filter((t) => t === chatModel.files.tokenizer.bosId)).toHaveLength(1);
            const ids = new Int32Array([...e.context, ...e.continuation]);
            const logits = await chatModel.model.logits(ids);
            const vocab = logits.length / ids.length;
            let sum = 0;
            for (let j = 0; j < e.continuation.length; j++) {
              const row = logits.subarray((e.context.length + j - 1) * vocab, (e.context.length + j) * vocab);
              const max = Math.max(...row);
              sum += row[e.continuation[j]] - max - Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0));
            }
            lls.push(sum);
          }
          acc += lls.indexOf(Math.max(...lls)) === rq.gold ? 1 : 0;
        }
        expect(r.metrics.acc).toBeCloseTo(acc / loaded.requests.length, 12);
      } finally {
        chatModel.model.dispose();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
