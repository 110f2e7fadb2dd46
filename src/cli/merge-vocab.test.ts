// Union merges end to end through `merge-studio merge`: the demo zoo's tiny-llama base and two
// experts, each given added tokens (with new embedding and lm_head rows) the others lack, merged
// with task arithmetic over the union vocabulary. The expected rows are computed here from the
// input files by mergekit's rules (mergekit/tokenizer/embed.py, read for src/core/tokenizer/
// README.md), the merged tokenizer is loaded with @huggingface/tokenizers.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { main } from './main.ts';
import { parseMergeArgs, runMerge } from './merge.ts';
import { parseEvalArgs, runEval } from './eval.ts';
import { parseDamArgs, runDam } from './dam.ts';
import { initialCoefficients, prepareDamProblem } from '../core/dam/index.ts';
import { createMergeObjective, openSearchModels } from '../core/search/objective.ts';
import { parseTaskJsonl } from '../core/eval/tasks.ts';
import { seededValues, writeModelFolder, type TestTensor } from '../core/engine/test-models.ts';
import { nodeFolderTree } from '../core/io/node-file.ts';
import { openSafetensorsModel, readTensorF32 } from '../core/safetensors/index.ts';
import { execute, plan } from '../core/engine/index.ts';
import { memorySinks } from '../core/io/memory.ts';
import { openModel } from '../core/model/handle.ts';
import { parseRecipeYaml } from '../core/recipe/index.ts';
import { loadVocabularies } from '../core/tokenizer/vocab.ts';
import { loadTokenizer } from '../core/eval/tokenizer.ts';
import { runtimeForPlan } from '../core/eval/merged.ts';
import { CHAT_TEMPLATES } from '../core/tokenizer/chat-templates.ts';
import { StudioEngine } from '../worker/engine.ts';

const ZOO = resolve(process.env.ZOO_DIR ?? 'public/zoo', 'tiny-llama');
const EMBED = 'model.embed_tokens.weight';
const HEAD = 'lm_head.weight';
const work = mkdtempSync(join(tmpdir(), 'vocab-merge-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Built {
  tensors: Record<string, TestTensor>;
  /** token -> row */
  vocab: Map<string, number>;
}

/** A zoo model with `added` special tokens appended (new rows drawn from `seed`), written to `dir`. */
async function withAddedTokens(zooModel: string, dir: string, added: string[], seed: number): Promise<Built> {
  const src = join(ZOO, zooModel);
  const st = await openSafetensorsModel(nodeFolderTree(src));
  const tensors: Record<string, TestTensor> = {};
  for (const [name, info] of st.tensors) tensors[name] = { shape: info.shape, values: await readTensorF32(info) };
  const rows0 = tensors[EMBED].shape[0];
  const cols = tensors[EMBED].shape[1];
  for (const name of [EMBED, HEAD]) {
    const t = tensors[name];
    const values = new Float32Array((rows0 + added.length) * cols);
    values.set(t.values);
    values.set(seededValues(added.length * cols, seed + (name === HEAD ? 100 : 0)), rows0 * cols);
    tensors[name] = { shape: [rows0 + added.length, cols], values };
  }
  const tok = JSON.parse(await readFile(join(src, 'tokenizer.json'), 'utf8'));
  added.forEach((content, i) => tok.added_tokens.push({ id: rows0 + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  const config = JSON.parse(await readFile(join(src, 'config.json'), 'utf8'));
  config.vocab_size = rows0 + added.length;
  await writeModelFolder(dir, config, tensors, {
    'tokenizer.json': JSON.stringify(tok),
    'tokenizer_config.json': await readFile(join(src, 'tokenizer_config.json'), 'utf8'),
  });
  const vocab = new Map<string, number>(Object.entries(tok.model.vocab as Record<string, number>));
  for (const a of tok.added_tokens) vocab.set(a.content, a.id);
  return { tensors, vocab };
}

async function readMerged(dir: string): Promise<Map<string, { shape: number[]; values: Float32Array }>> {
  const st = await openSafetensorsModel(nodeFolderTree(dir));
  const out = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const [name, info] of st.tensors) out.set(name, { shape: info.shape, values: await readTensorF32(info) });
  return out;
}

const row = (t: TestTensor, r: number) => t.values.subarray(r * t.shape[1], (r + 1) * t.shape[1]);

function expectRowsClose(actual: Float32Array, expected: ArrayLike<number>, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  expect(worst, what).toBeLessThan(1e-5);
}

describe.skipIf(!existsSync(join(ZOO, 'base', 'model.safetensors')))('union vocabulary merges (mergekit rules) through the CLI', () => {
  const W = { reverse: 0.7, sort: 0.5 };
  let base: Built;
  let reverse: Built;
  let sort: Built;

  beforeAll(async () => {
    base = await withAddedTokens('base', join(work, 'base'), ['<tool>'], 1);
    reverse = await withAddedTokens('reverse', join(work, 'reverse'), ['<|im_start|>', '<|im_end|>'], 2);
    sort = await withAddedTokens('sort', join(work, 'sort'), ['<|im_end|>'], 3);
  }, 60_000);

  const recipe = (tail: string) =>
    `models:\n  - model: reverse\n    parameters: {weight: ${W.reverse}}\n  - model: sort\n    parameters: {weight: ${W.sort}}\nmerge_method: task_arithmetic\nbase_model: base\ndtype: float32\n${tail}`;

  /** Task arithmetic of one row given each model's row in merged order. */
  const taskArithmetic = (b: ArrayLike<number>, r: ArrayLike<number>, s: ArrayLike<number>) => Float32Array.from(b, (x, i) => x + W.reverse * (r[i] - x) + W.sort * (s[i] - x));

  it('tokenizer_source: union gives the rows mergekit gives, a tokenizer that encodes every model\'s special tokens, and vocab_size', async () => {
    const yml = join(work, 'union.yml');
    await writeFile(yml, recipe('tokenizer_source: union\n'));
    const out = join(work, 'out-union');
    expect(await main(['merge', yml, '--out', out])).toBe(0);
    const merged = await readMerged(out);
    // The union: the base's 48 ids, then the experts' added tokens in model order.
    const order = [...[...base.vocab].sort((a, b) => a[1] - b[1]).map(([t]) => t), '<|im_start|>', '<|im_end|>'];
    expect(order.length).toBe(50);
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    expect(config.vocab_size).toBe(50);
    for (const name of [EMBED, HEAD]) {
      const m = merged.get(name)!;
      expect(m.shape).toEqual([50, base.tensors[name].shape[1]]);
      order.forEach((tok, id) => {
        const has = (b: Built) => b.vocab.get(tok);
        const [rb, rr, rs] = [has(base), has(reverse), has(sort)];
        const own = (b: Built, r: number | undefined) => (r === undefined ? undefined : row(b.tensors[name], r));
        let [xb, xr, xs] = [own(base, rb), own(reverse, rr), own(sort, rs)];
        const present = [xb, xr, xs].filter((x): x is Float32Array => x !== undefined);
        // embed.py: the only owner's row; else the base's; else the mean of the owners'.
        const fill = present.length === 1 ? present[0] : xb ?? Float32Array.from(present[0], (_, i) => present.reduce((s, p) => s + p[i], 0) / present.length);
        xb ??= fill;
        xr ??= fill;
        xs ??= fill;
        expectRowsClose(m.values.subarray(id * m.shape[1], (id + 1) * m.shape[1]), taskArithmetic(xb, xr, xs), `${name} row ${id} (${tok})`);
      });
      // The shared token the base lacks: base row = mean of the experts' rows, so the merge moves off it.
      const avg = Float32Array.from(row(reverse.tensors[name], 48), (x, i) => (x + row(sort.tensors[name], 47)[i]) / 2);
      expect(Math.abs(m.values[49 * m.shape[1]] - avg[0])).toBeGreaterThan(1e-4);
    }
    // Other tensors merge as before.
    const q = 'model.layers.1.self_attn.q_proj.weight';
    expectRowsClose(merged.get(q)!.values, taskArithmetic(base.tensors[q].values, reverse.tensors[q].values, sort.tensors[q].values), q);

    const tokJson = JSON.parse(await readFile(join(out, 'tokenizer.json'), 'utf8'));
    const tokCfg = JSON.parse(await readFile(join(out, 'tokenizer_config.json'), 'utf8'));
    const tok = new Tokenizer(tokJson, tokCfg);
    expect(tok.encode('<|im_start|>ab<|im_end|><tool>', { add_special_tokens: false }).ids).toEqual([48, 16, 17, 49, 47]);
    for (const [t, id] of order.map((t, i) => [t, i] as const)) expect(tok.token_to_id(t)).toBe(id);
    expect(tokJson.added_tokens.filter((a: { content: string }) => a.content.startsWith('<|')).map((a: { id: number; special: boolean }) => [a.id, a.special])).toEqual([[48, true], [49, true]]);
    // The recipe the export records reproduces the merge in mergekit.
    expect(parseYaml(await readFile(join(out, 'mergekit_config.yml'), 'utf8')).tokenizer_source).toBe('union');
  }, 120_000);

  it('differing vocabularies with no tokenizer setting merge as a union (not cut to the smallest) and the export says so', async () => {
    const yml = join(work, 'implicit.yml');
    await writeFile(yml, recipe(''));
    const out = join(work, 'out-implicit');
    await runMerge(parseMergeArgs([yml, '--out', out]));
    const merged = await readMerged(out);
    const union = await readMerged(join(work, 'out-union'));
    expect(merged.get(EMBED)!.shape).toEqual([50, 128]);
    expect(Array.from(merged.get(EMBED)!.values)).toEqual(Array.from(union.get(EMBED)!.values));
    expect(parseYaml(await readFile(join(out, 'mergekit_config.yml'), 'utf8')).tokenizer_source).toBe('union');
  }, 120_000);

  it('tokens: overrides (zero, model_token with force) and pad_to_multiple_of', async () => {
    const yml = join(work, 'overrides.yml');
    await writeFile(
      yml,
      recipe(
        'tokenizer:\n  source: union\n  pad_to_multiple_of: 16\n  tokens:\n    <|im_start|>:\n      source: {kind: zero}\n    <tool>:\n      source: {kind: model_token, model: reverse, token: </s>}\n      force: true\n    <|im_end|>:\n      source: reverse\n',
      ),
    );
    const out = join(work, 'out-overrides');
    expect(await main(['merge', yml, '--out', out])).toBe(0);
    const merged = await readMerged(out);
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    expect(config.vocab_size).toBe(64);
    for (const name of [EMBED, HEAD]) {
      const m = merged.get(name)!;
      const cols = m.shape[1];
      expect(m.shape).toEqual([64, cols]);
      const at = (id: number) => m.values.subarray(id * cols, (id + 1) * cols);
      const zero = new Float32Array(cols);
      const rEnd = row(reverse.tensors[name], 48);
      // <tool> (47), forced to reverse's </s> row in every model, the base's own row included.
      const eos = row(reverse.tensors[name], 2);
      expectRowsClose(at(47), taskArithmetic(eos, eos, eos), `${name} <tool>`);
      // <|im_start|> (48): zero where a model lacks it (base, sort), reverse keeps its own.
      expectRowsClose(at(48), taskArithmetic(zero, row(reverse.tensors[name], 47), zero), `${name} <|im_start|>`);
      // <|im_end|> (49): reverse's row where lacking (the base), sort keeps its own.
      expectRowsClose(at(49), taskArithmetic(rEnd, rEnd, row(sort.tensors[name], 47)), `${name} <|im_end|>`);
      // Padding rows 50..63: each model's mean row over its 50 merged-order rows, then merged.
      const means = (['base', 'reverse', 'sort'] as const).map((who) => {
        const b = { base, reverse, sort }[who];
        const mean = new Float64Array(cols);
        for (let id = 0; id < 47; id++) for (let c = 0; c < cols; c++) mean[c] += row(b.tensors[name], id)[c];
        const extra = who === 'base' ? [eos, zero, rEnd] : who === 'reverse' ? [eos, row(reverse.tensors[name], 47), rEnd] : [eos, zero, row(sort.tensors[name], 47)];
        for (const x of extra) for (let c = 0; c < cols; c++) mean[c] += x[c];
        return Float32Array.from(mean, (s) => s / 50);
      });
      for (let id = 50; id < 64; id++) expectRowsClose(at(id), taskArithmetic(means[0], means[1], means[2]), `${name} pad row ${id}`);
    }
  }, 120_000);

  it('tokenizer_source: base keeps the base vocabulary; a model keeps that model\'s', async () => {
    for (const [source, rows, owner] of [['base', 48, base], ['reverse', 49, reverse]] as const) {
      const yml = join(work, `${source}.yml`);
      await writeFile(yml, recipe(`tokenizer_source: ${source}\n`));
      const out = join(work, `out-${source}`);
      expect(await main(['merge', yml, '--out', out])).toBe(0);
      const merged = await readMerged(out);
      expect(merged.get(EMBED)!.shape).toEqual([rows, 128]);
      expect(JSON.parse(await readFile(join(out, 'config.json'), 'utf8')).vocab_size).toBe(rows);
      // The tokenizer is the source's own file, copied as it is.
      expect(await readFile(join(out, 'tokenizer.json'), 'utf8')).toBe(await readFile(join(work, source, 'tokenizer.json'), 'utf8'));
      expect(owner.vocab.size).toBe(rows);
    }
  }, 120_000);

  it('bad tokens: entries name the recipe key', async () => {
    const cases: [string, RegExp][] = [
      ['tokenizer:\n  tokens:\n    <tool>:\n      source: sort\n', /tokenizer\.tokens\."<tool>"\.source: token '<tool>' is not in the vocabulary of 'sort'/],
      ['tokenizer:\n  tokens:\n    <tool>:\n      source: {kind: model_token, model: sort, token: <nope>}\n', /tokenizer\.tokens\."<tool>"\.source\.token: token '<nope>' is not in the vocabulary of 'sort'/],
      ['tokenizer:\n  tokens:\n    <tool>:\n      source: {kind: model_token, model: sort, token_id: 480}\n', /token_id: row 480 is past the 48 rows of 'sort'/],
      ['tokenizer:\n  tokens:\n    <tool>:\n      source: sortt\n', /line \d+: tokenizer\.tokens\.<tool>\.source: token '<tool>': 'sortt' is not one of the recipe's models; did you mean 'sort'\?/],
    ];
    for (const [tail, message] of cases) {
      const yml = join(work, 'bad.yml');
      await writeFile(yml, recipe(tail));
      const out = join(work, 'out-bad');
      const err = await runMerge(parseMergeArgs([yml, '--out', out])).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(message);
      expect(existsSync(out)).toBe(false);
    }
  }, 60_000);

  it('row-block streaming gives the same bytes as the whole-tensor merge (padding rows included)', async () => {
    const text = await readFile(join(work, 'overrides.yml'), 'utf8');
    const handles = new Map(await Promise.all(['base', 'reverse', 'sort'].map(async (m) => [m, await openModel(nodeFolderTree(join(work, m)), undefined, m)] as const)));
    await loadVocabularies(handles.values());
    const p = plan(parseRecipeYaml(text), handles);
    const sinks = memorySinks();
    // A 4 KiB budget: a couple of 128-wide rows per chunk, so chunks straddle the added tokens and the padding.
    const result = await execute(p, { sinks, chunkBytes: 4096 });
    expect(result.chunked).toBeGreaterThan(0);
    const whole = await readFile(join(work, 'out-overrides', 'model.safetensors'));
    expect(Buffer.from(sinks.files.get('model.safetensors')!).equals(whole)).toBe(true);
  }, 60_000);

  it('the studio: the compatibility report offers the union, and its export equals the CLI\'s', async () => {
    const engine = new StudioEngine({ zooUrl: 'http://127.0.0.1:9/zoo/', gpu: false });
    for (const name of ['base', 'reverse', 'sort']) {
      const folder = join(work, name);
      const files = await Promise.all((await readdir(folder)).map(async (f) => ({ path: `${name}/${f}`, file: new File([await readFile(join(folder, f))], f) })));
      await engine.addModel({ kind: 'files', files });
    }
    const report = (await engine.compatibility(['base', 'reverse', 'sort']))!;
    expect(report.verdict).toBe('compatible-with-adjustments');
    expect(report.adjustments.join('\n')).toMatch(/union vocabulary \(recipe 'tokenizer_source: union'/);
    expect(report.vocab).toEqual({ tokensDiffer: true, choices: ['union', 'base', 'reverse', 'sort'] });
    const r = parseRecipeYaml(await readFile(join(work, 'union.yml'), 'utf8'));
    const check = engine.check(r);
    expect(check.ok && check.notices.join('\n')).toMatch(/tokenizer_source 'union': embed_tokens and lm_head follow the merged vocabulary of 50 tokens, 2 added/);
    const out = await engine.exportModel(r, { kind: 'memory' }, 'export', () => undefined);
    const cli = join(work, 'out-union');
    for (const name of ['model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'config.json', 'mergekit_config.yml']) {
      expect(Buffer.from(out.data![name]).equals(await readFile(join(cli, name))), name).toBe(true);
    }
  }, 60_000);

  it('chat_template: a built-in name or auto is written into tokenizer_config.json', async () => {
    const yml = join(work, 'chat.yml');
    await writeFile(yml, recipe('tokenizer_source: base\nchat_template: chatml\n'));
    const out = join(work, 'out-chat');
    expect(await main(['merge', yml, '--out', out])).toBe(0);
    const cfg = JSON.parse(await readFile(join(out, 'tokenizer_config.json'), 'utf8'));
    expect(cfg.chat_template).toBe(CHAT_TEMPLATES.chatml);
    expect(cfg.bos_token).toBe('<s>');
    // auto: the template most inputs carry (two experts' chat_template.jinja against the base's).
    const mine = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}";
    await writeFile(join(work, 'reverse', 'chat_template.jinja'), mine);
    await writeFile(join(work, 'sort', 'chat_template.jinja'), `${mine}\n`);
    await writeFile(join(work, 'base', 'chat_template.jinja'), CHAT_TEMPLATES.llama3);
    await writeFile(yml, recipe('tokenizer_source: base\nchat_template: auto\n'));
    const outAuto = join(work, 'out-chat-auto');
    expect(await main(['merge', yml, '--out', outAuto])).toBe(0);
    expect(JSON.parse(await readFile(join(outAuto, 'tokenizer_config.json'), 'utf8')).chat_template).toBe(mine);
    // The base's own template file is not copied next to it (transformers would prefer it).
    expect(existsSync(join(outAuto, 'chat_template.jinja'))).toBe(false);
  }, 60_000);
  it('eval in memory (CLI, search and studio) scores a union recipe with the merged tokenizer, exactly as its exported folder', async () => {
    // chatml's <|im_start|>/<|im_end|> are added tokens of the experts, not of the base whose
    // tokenizer files the merge starts from; the base has no chat template at all.
    const yml = join(work, 'eval-union.yml');
    await writeFile(yml, recipe('tokenizer_source: union\nchat_template: chatml\n'));
    const out = join(work, 'out-eval-union');
    expect(await main(['merge', yml, '--out', out])).toBe(0);
    const tasks = join(work, 'tasks');
    await mkdir(tasks, { recursive: true });
    const files = {
      'turns.ppl.jsonl': ['<|im_start|>user\nab<|im_end|>\n<|im_start|>assistant\nba<|im_end|>\n', '<|im_start|>user\ncab<|im_end|>\n'].map((text) => JSON.stringify({ text })),
      'chat.gen.jsonl': [['ab', 'ba'], ['abc', 'cba'], ['ca', 'ac']].map(([q, a]) => JSON.stringify({ messages: [{ role: 'user', content: q }], answer: a })),
      'chat.mc.jsonl': [['ab', ['ab', 'ba'], 1], ['bca', ['acb', 'bca', 'cab'], 0]].map(([q, choices, label]) => JSON.stringify({ messages: [{ role: 'user', content: q }], choices, label })),
    };
    for (const [name, lines] of Object.entries(files)) await writeFile(join(tasks, name), `${lines.join('\n')}\n`);
    const taskArg = Object.keys(files).map((f) => join(tasks, f)).join(',');
    const inMemory = await runEval(parseEvalArgs([yml, '--task', taskArg, '--max-new-tokens', '4']));
    const exported = await runEval(parseEvalArgs([out, '--task', taskArg, '--max-new-tokens', '4']));
    expect(inMemory.results.map((r) => [r.task, r.items, r.metrics])).toEqual(exported.results.map((r) => [r.task, r.items, r.metrics]));
    expect(inMemory.results.map((r) => r.perItem)).toEqual(exported.results.map((r) => r.perItem));
    // The perplexity text was read with each chat token as one token (the union's ids 48, 49), which
    // the base's own tokenizer cannot do: it spells them out character by character.
    const mergedTok = await loadTokenizer(nodeFolderTree(out));
    const baseTok = await loadTokenizer(nodeFolderTree(join(work, 'base')));
    const texts = files['turns.ppl.jsonl'].map((l) => JSON.parse(l).text as string);
    expect(mergedTok.encode(texts[1]).filter((id) => id >= 48)).toEqual([48, 49]);
    const predicted = (t: typeof mergedTok) => texts.reduce((n, x) => n + t.encodePrompt(x).length - 1, 0);
    expect(inMemory.results[0].metrics.tokens).toBe(predicted(mergedTok));
    expect(predicted(baseTok)).toBeGreaterThan(predicted(mergedTok));

    // Search scores candidates the same way (its default generation length, as eval's).
    const search = await openSearchModels('base', ['reverse', 'sort'], (ref) => nodeFolderTree(join(work, ref)));
    const objective = await createMergeObjective({
      models: search.handles,
      tasks: nodeFolderTree(tasks),
      objectives: [{ name: 'chat.exact_match', direction: 'max' }, { name: 'chat.accuracy_norm', direction: 'max' }, { name: 'turns.perplexity', direction: 'min' }],
    });
    const searchRecipe = parseRecipeYaml(await readFile(yml, 'utf8'));
    const searched = await objective(searchRecipe, 1, new AbortController().signal);
    const plain = await runEval(parseEvalArgs([yml, '--task', taskArg]));
    const metricOf = (task: string, m: string) => plain.results.find((r) => r.task === task)!.metrics[m];
    expect(searched).toEqual({ 'chat.exact_match': metricOf('chat.gen', 'exact_match'), 'chat.accuracy_norm': metricOf('chat.mc', 'accuracy_norm'), 'turns.perplexity': metricOf('turns.ppl', 'perplexity') });
    await expect(objective({ ...searchRecipe, chat_template: "{{ raise_exception('the search used this template') }}" }, 1, new AbortController().signal)).rejects.toThrow(/the search used this template/);

    // The studio's live evaluation: the same numbers, and a chat_template change alone (same
    // weights, nothing re-merged) changes the tokenizer the resident model is scored with.
    const engine = new StudioEngine({ zooUrl: 'http://127.0.0.1:9/zoo/', gpu: false });
    for (const name of ['base', 'reverse', 'sort']) {
      const folder = join(work, name);
      const own = await Promise.all((await readdir(folder)).map(async (f) => ({ path: `${name}/${f}`, file: new File([await readFile(join(folder, f))], f) })));
      await engine.addModel({ kind: 'files', files: own });
    }
    for (const [name, lines] of Object.entries(files)) engine.addTaskFile(name, `${lines.join('\n')}\n`);
    const studioRecipe = parseRecipeYaml(await readFile(yml, 'utf8'));
    const studio = async (r: typeof studioRecipe) => (await engine.evaluate({ recipe: r, tasks: Object.keys(files), stages: [Infinity], backend: 'cpu' }, 'eval', () => undefined)).at(-1)!.scores;
    const scores = await studio(studioRecipe);
    const cliValue = (rs: typeof exported.results, task: string, metric: string) => rs.find((r) => `${r.task}.jsonl` === task)?.metrics[metric];
    expect(new Set(scores.map((s) => s.task))).toEqual(new Set(Object.keys(files)));
    for (const s of scores) expect(s.value, `${s.task} ${s.metric}`).toBe(cliValue(exported.results, s.task, s.metric));
    const alpaca = await studio({ ...studioRecipe, chat_template: 'alpaca' });
    const alpacaCli = join(work, 'eval-alpaca.yml');
    await writeFile(alpacaCli, recipe('tokenizer_source: union\nchat_template: alpaca\n'));
    const alpacaMemory = await runEval(parseEvalArgs([alpacaCli, '--task', taskArg, '--max-new-tokens', '4']));
    for (const s of alpaca) expect(s.value, `alpaca ${s.task} ${s.metric}`).toBe(cliValue(alpacaMemory.results, s.task, s.metric));
    // The swap is seen: a template that refuses to render fails the chat tasks (nothing re-merged).
    const refusing = "{{ raise_exception('the swapped template was used') }}";
    await expect(studio({ ...studioRecipe, chat_template: refusing })).rejects.toThrow(/the swapped template was used/);
    // runtimeForPlan gives the merged tokenizer directly too (DAM's bench and other callers).
    const handles = new Map(await Promise.all(['base', 'reverse', 'sort'].map(async (m) => [m, await openModel(nodeFolderTree(join(work, m)), undefined, m)] as const)));
    await loadVocabularies(handles.values());
    const rt = await runtimeForPlan(plan(studioRecipe, handles));
    try {
      expect(rt.tokenizer.applyChatTemplate([{ role: 'user', content: 'ab' }], { addGenerationPrompt: true })).toBe('<|im_start|>user\nab<|im_end|>\n<|im_start|>assistant\n');
      expect(rt.tokenizer.vocabSize).toBe(50);
    } finally {
      rt.model.dispose();
    }
  }, 180_000);
  it('a stage of a multi-document recipe merges over its own vocabulary and chat template, and later documents read it back', async () => {
    // mergekit-multi writes each stage with its tokenizer and the next document reads that folder.
    const stage = (tail: string) => `name: experts\n${recipe('tokenizer_source: union\nchat_template: chatml\n')}---\n${tail}`;
    const one = join(work, 'stage-one.yml');
    await writeFile(one, stage('merge_method: linear\nmodels:\n  - model: experts\n    parameters: {weight: 1}\ndtype: float32\n'));
    const outOne = join(work, 'out-stage-one');
    expect(await main(['merge', one, '--out', outOne])).toBe(0);
    const singleYml = join(work, 'stage-single.yml');
    await writeFile(singleYml, recipe('tokenizer_source: union\nchat_template: chatml\n'));
    const single = join(work, 'out-stage-single');
    expect(await main(['merge', singleYml, '--out', single])).toBe(0);
    // The stage passed through unchanged is the single-document union merge: rows and tokenizer files.
    const staged = await readMerged(outOne);
    const direct = await readMerged(single);
    for (const name of [EMBED, HEAD]) {
      expect(staged.get(name)!.shape).toEqual([50, 128]);
      expect(Array.from(staged.get(name)!.values), name).toEqual(Array.from(direct.get(name)!.values));
    }
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) expect(await readFile(join(outOne, f), 'utf8'), f).toBe(await readFile(join(single, f), 'utf8'));
    expect(JSON.parse(await readFile(join(outOne, 'config.json'), 'utf8')).vocab_size).toBe(50);

    // The stage next to the base (48 tokens) in the final document: the union of the two is the
    // stage's vocabulary; ids 48 and 49 only the stage has, so they keep its rows (embed.py).
    const mixed = join(work, 'stage-mixed.yml');
    await writeFile(mixed, stage('merge_method: linear\nmodels:\n  - model: experts\n    parameters: {weight: 1}\n  - model: base\n    parameters: {weight: 1}\ndtype: float32\n'));
    const outMixed = join(work, 'out-stage-mixed');
    expect(await main(['merge', mixed, '--out', outMixed])).toBe(0);
    const m = await readMerged(outMixed);
    for (const name of [EMBED, HEAD]) {
      const got = m.get(name)!;
      expect(got.shape).toEqual([50, 128]);
      const d = direct.get(name)!;
      const expected = Float32Array.from(d.values, (x, i) => (i < 48 * 128 ? (x + base.tensors[name].values[i]) / 2 : x));
      expectRowsClose(got.values, expected, name);
    }
    // The export records the union the final document took without asking, as the single merge does.
    const recorded = parseRecipeYaml(await readFile(join(outMixed, 'mergekit_config.yml'), 'utf8'));
    expect([recorded.tokenizer_source, recorded.stages?.[0].tokenizer_source, recorded.stages?.[0].chat_template]).toEqual(['union', 'union', 'chatml']);
    expect(await readFile(join(outMixed, 'tokenizer.json'), 'utf8')).toBe(await readFile(join(single, 'tokenizer.json'), 'utf8'));
    expect(JSON.parse(await readFile(join(outMixed, 'tokenizer_config.json'), 'utf8')).chat_template).toBe(CHAT_TEMPLATES.chatml);

    // A bad setting inside a stage names the stage and the key, and writes nothing.
    const bad = join(work, 'stage-bad.yml');
    await writeFile(bad, `name: experts\n${recipe('tokenizer:\n  tokens:\n    <tool>:\n      source: sort\n')}---\nmerge_method: linear\nmodels:\n  - model: experts\n    parameters: {weight: 1}\n`);
    const badOut = join(work, 'out-stage-bad');
    const err = await runMerge(parseMergeArgs([bad, '--out', badOut])).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/stage 'experts': tokenizer\.tokens\."<tool>"\.source: token '<tool>' is not in the vocabulary of 'sort'/);
    expect(existsSync(badOut)).toBe(false);

    // Evaluated in memory, the staged recipe scores as its exported folder, chat tokens and template included.
    const tasks = join(work, 'stage-tasks');
    await mkdir(tasks, { recursive: true });
    await writeFile(join(tasks, 'turns.ppl.jsonl'), `${JSON.stringify({ text: '<|im_start|>user\nab<|im_end|>\n' })}\n`);
    await writeFile(join(tasks, 'chat.mc.jsonl'), `${JSON.stringify({ messages: [{ role: 'user', content: 'ab' }], choices: ['ab', 'ba'], label: 1 })}\n`);
    const taskArg = ['turns.ppl.jsonl', 'chat.mc.jsonl'].map((f) => join(tasks, f)).join(',');
    const inMemory = await runEval(parseEvalArgs([mixed, '--task', taskArg]));
    const exported = await runEval(parseEvalArgs([outMixed, '--task', taskArg]));
    expect(inMemory.results.map((r) => r.metrics)).toEqual(exported.results.map((r) => r.metrics));
    // <s> <|im_start|> u s e r \n a b <|im_end|> \n: 11 ids, 10 predicted (the chat tokens whole).
    expect(inMemory.results[0].metrics.tokens).toBe(10);
  }, 180_000);
  it('DAM over experts whose vocabularies differ trains and exports over the union vocabulary', async () => {
    // reverse has <|im_start|> (47) and <|im_end|> (48); sort has only <|im_end|>, at 47.
    const data = join(work, 'dam-data');
    await mkdir(data, { recursive: true });
    const chat = (q: string, a: string) => JSON.stringify({ messages: [{ role: 'user', content: q }], choices: [a, q], label: 0 });
    await writeFile(join(data, 'reverse.mc.jsonl'), `${[chat('ab', 'ba'), chat('abc', 'cba')].join('\n')}\n`);
    await writeFile(join(data, 'sort.ppl.jsonl'), `${['ca<|im_end|>ac<|im_end|>', 'bca<|im_end|>abc'].map((text) => JSON.stringify({ text })).join('\n')}\n`);
    // chatml renders the reverse expert's chat items with its own chat tokens.
    await writeFile(join(work, 'reverse', 'chat_template.jinja'), CHAT_TEMPLATES.chatml);
    const sources = [
      { name: 'reverse', tree: nodeFolderTree(join(work, 'reverse')), tasks: [parseTaskJsonl(await readFile(join(data, 'reverse.mc.jsonl'), 'utf8'), 'reverse.mc.jsonl')] },
      { name: 'sort', tree: nodeFolderTree(join(work, 'sort')), tasks: [parseTaskJsonl(await readFile(join(data, 'sort.ppl.jsonl'), 'utf8'), 'sort.ppl.jsonl')] },
    ];
    const problem = await prepareDamProblem(sources, { maxTokens: 24 });
    expect(problem.config.vocabSize).toBe(49);
    // sort's <|im_end|> (its 47) is the union's 48; <|im_start|>, which sort lacks, gets no teacher probability.
    const sortTargets = problem.objective.experts[1].targets;
    expect(sortTargets.every((t) => !t.tokens.includes(47))).toBe(true);
    expect(sortTargets.some((t) => t.tokens.includes(48))).toBe(true);
    for (const t of sortTargets) for (let j = 0; j < t.indices!.length; j++) if (t.indices![j] === 47) expect(t.logits[j]).toBe(-Infinity);
    // reverse's chat items arrive with its chat tokens whole.
    expect(problem.objective.experts[0].targets.every((t) => t.tokens.includes(47) && t.tokens.includes(48))).toBe(true);
    // At DAM's start (1/N each) the student is the engine's linear merge over the union: the
    // experts' rows were permuted with the same rules the export uses.
    const lin = join(work, 'dam-linear.yml');
    await writeFile(lin, 'models:\n  - model: reverse\n    parameters: {weight: 1}\n  - model: sort\n    parameters: {weight: 1}\nmerge_method: linear\ndtype: float32\n');
    const linOut = join(work, 'out-dam-linear');
    expect(await main(['merge', lin, '--out', linOut])).toBe(0);
    const linear = await readMerged(linOut);
    const start = problem.objective.mergedWeights(initialCoefficients(problem.objective.layout));
    for (const name of [EMBED, HEAD]) expectRowsClose(Float32Array.from(start.get(name)!), linear.get(name)!.values, name);

    // merge-studio dam end to end: the folder's tokenizer is the union, its rows the union's.
    await writeFile(join(work, 'dam.yml'), ['models:', '  - model: reverse', '    data: dam-data/reverse.mc.jsonl', '  - model: sort', '    data: dam-data/sort.ppl.jsonl', 'steps: 2', 'lr: 0.01', 'batch_size: 2', 'seed: 1', 'dtype: float32'].join('\n'));
    const damOut = join(work, 'out-dam');
    const result = await runDam(parseDamArgs([join(work, 'dam.yml'), '--out', damOut]), { log: () => undefined });
    expect(result.steps).toBe(2);
    expect(JSON.parse(await readFile(join(damOut, 'config.json'), 'utf8')).vocab_size).toBe(49);
    const tok = await loadTokenizer(nodeFolderTree(damOut));
    expect(tok.encode('<|im_start|>a<|im_end|>')).toEqual([47, 16, 48]);
    expect(parseYaml(await readFile(join(damOut, 'mergekit_config.yml'), 'utf8'))).toMatchObject({ merge_method: 'dam', tokenizer_source: 'union' });
    // The written lm_head is the union-ordered experts folded with the written coefficients.
    const coeffs = await readMerged(join(damOut, 'dam'));
    const written = await readMerged(damOut);
    const rev = problem.objective.experts[0].weights.get(HEAD)!;
    const srt = problem.objective.experts[1].weights.get(HEAD)!;
    const c = coeffs.get(HEAD)!.values;
    const cols = 128;
    const folded = Float32Array.from(rev, (x, i) => c[i % cols] * x + c[cols + (i % cols)] * srt[i]);
    expectRowsClose(written.get(HEAD)!.values, folded, 'folded lm_head');

    // The studio's DAM takes the same chat and perplexity files for the same experts.
    const engine = new StudioEngine({ zooUrl: 'http://127.0.0.1:9/zoo/', gpu: false });
    for (const name of ['reverse', 'sort']) {
      const folder = join(work, name);
      const own = await Promise.all((await readdir(folder)).map(async (f) => ({ path: `${name}/${f}`, file: new File([await readFile(join(folder, f))], f) })));
      await engine.addModel({ kind: 'files', files: own });
    }
    for (const f of ['reverse.mc.jsonl', 'sort.ppl.jsonl']) engine.addTaskFile(f, await readFile(join(data, f), 'utf8'));
    const updates: { type: string; status?: string; error?: string; loss?: number }[] = [];
    await engine.startDam({ experts: ['reverse', 'sort'], steps: 2, learningRate: 0.01, batchSize: 2, seed: 1 }, (u) => updates.push(u as (typeof updates)[number]));
    expect(updates.filter((u) => u.type === 'status').map((u) => u.error ?? u.status)).toEqual(['preparing', 'running', 'finished']);
    // Its first step's loss is the CLI's (same data, seed and union).
    expect(updates.find((u) => u.type === 'step')!.loss).toBeCloseTo(result.history[0].loss, 10);
  }, 180_000);
});
