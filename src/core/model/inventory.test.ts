// The compatibility inventory on real model folders: generated fixtures of the zoo's two families
// (always), the trained demo zoo in public/zoo when it is present, and stories260K (a different
// tokenizer). Expected values come from the config files and headers on disk, read independently.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_LLAMA, FIXTURE_QWEN2, fixtureTensorShapes, writeFixtureZoo } from '../../../tools/mock-hub/fixture-zoo.ts';
import { nodeFolderTree } from '../io/node-file.ts';
import { openModel } from './handle.ts';
import { compatibilityReport, formatCompatibilityReport, incompatibilityError } from './inventory.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const publicZoo = join(repoRoot, 'public', 'zoo');
let zoo: string;

beforeAll(async () => {
  zoo = await mkdtemp(join(tmpdir(), 'ms-inventory-'));
  await writeFixtureZoo(zoo);
});
afterAll(async () => rm(zoo, { recursive: true, force: true }));

const openAt = (root: string, rel: string) => openModel(nodeFolderTree(join(root, rel)), undefined, rel);

describe('inventory of one family (base + experts)', () => {
  it('is compatible, with per-tensor layers and modules, parameters and bytes per dtype', async () => {
    const report = await compatibilityReport([await openAt(zoo, 'tiny-llama/base'), await openAt(zoo, 'tiny-llama/add'), await openAt(zoo, 'tiny-llama/reverse')]);
    expect(report.verdict).toBe('compatible');
    expect(report.problems).toEqual([]);
    expect(report.shapeMismatches).toEqual([]);
    expect(report.tensorSets.every((s) => s.missing.length === 0 && s.extra.length === 0 && !s.tiedHead)).toBe(true);
    expect(report.tokenizer.identical).toBe(true);
    expect(report.vocab.same).toBe(true);

    const base = report.models[0];
    const shapes = fixtureTensorShapes(FIXTURE_LLAMA);
    expect(base.architecture).toBe('llama');
    expect(base.configArchitecture).toBe('LlamaForCausalLM');
    expect(base.numLayers).toBe(FIXTURE_LLAMA.layers);
    expect(base.vocabSize).toBe(FIXTURE_LLAMA.vocab.length);
    expect(base.parameters).toBe(shapes.reduce((s, [, sh]) => s + sh.reduce((a, b) => a * b, 1), 0));
    expect(base.byDtype).toEqual([{ dtype: 'BF16', tensors: shapes.length, parameters: base.parameters, bytes: 2 * base.parameters }]);
    const role = (n: string) => base.tensors.find((t) => t.name === n)!;
    expect([role('model.layers.1.self_attn.k_proj.weight').layer, role('model.layers.1.self_attn.k_proj.weight').module]).toEqual([1, 'attention']);
    expect([role('model.layers.0.mlp.up_proj.weight').layer, role('model.layers.0.mlp.up_proj.weight').module]).toEqual([0, 'mlp']);
    expect([role('model.layers.0.input_layernorm.weight').module, role('model.norm.weight').layer]).toEqual(['norm', null]);
    expect([role('model.embed_tokens.weight').module, role('lm_head.weight').module]).toEqual(['embedding', 'head']);
    // The file on disk is the reference for the byte total: header + data = file size.
    const file = await readFile(join(zoo, 'tiny-llama/base/model.safetensors'));
    expect(base.bytes).toBe(file.byteLength - 8 - Number(file.readBigUInt64LE(0)));
    expect(formatCompatibilityReport(report)).toContain('COMPATIBLE');
    expect(incompatibilityError(report)).toBeNull();
  });
});

describe('inventory across families (llama + qwen2)', () => {
  it('reports different architectures, extra bias tensors, the tied head, and shape mismatches', async () => {
    const report = await compatibilityReport([await openAt(zoo, 'tiny-llama/base'), await openAt(zoo, 'tiny-qwen2/base')]);
    expect(report.verdict).toBe('incompatible');
    expect(report.sameArchitecture).toBe(false);
    expect(report.problems[0]).toMatch(/different architectures: LlamaForCausalLM \(tiny-llama\/base\) vs Qwen2ForCausalLM \(tiny-qwen2\/base\)/);
    const set = report.tensorSets[0];
    expect(set.missing).toEqual([]);
    expect(set.extra.sort()).toEqual(fixtureTensorShapes(FIXTURE_QWEN2).map(([n]) => n).filter((n) => n.endsWith('.bias')).sort());
    expect(set.tiedHead).toBe(true);
    // hidden 64 vs 48: every weight differs except none; norms are [hidden] too.
    const mismatched = new Set(report.shapeMismatches.map((s) => s.tensor));
    const llama = new Map(fixtureTensorShapes(FIXTURE_LLAMA));
    const qwen = new Map(fixtureTensorShapes(FIXTURE_QWEN2));
    const expected = [...llama].filter(([n, s]) => qwen.has(n) && qwen.get(n)!.join() !== s.join()).map(([n]) => n);
    expect([...mismatched].sort()).toEqual(expected.sort());
    expect(report.shapeMismatches.find((s) => s.tensor === 'model.embed_tokens.weight')!.vocabOnly).toBe(false);
    expect(report.vocab.same).toBe(true);
    const text = formatCompatibilityReport(report);
    expect(text).toContain('NOT COMPATIBLE');
    expect(text).toContain('lm_head tied to the embedding');
    const err = incompatibilityError(report)!;
    expect(err.code).toBe('models-incompatible');
    expect(err.message).toMatch(/^tiny-llama\/base, tiny-qwen2\/base cannot be merged:\n {2}- different architectures/);
  });
});

describe.skipIf(!existsSync(join(publicZoo, 'tiny-llama', 'base', 'model.safetensors')))('the trained demo zoo', () => {
  it('tiny-llama base + experts: compatible', async () => {
    const experts = ['add', 'reverse', 'caesar', 'sort'].filter((e) => existsSync(join(publicZoo, 'tiny-llama', e)));
    const report = await compatibilityReport([await openAt(publicZoo, 'tiny-llama/base'), ...(await Promise.all(experts.map((e) => openAt(publicZoo, `tiny-llama/${e}`))))]);
    expect(report.verdict).toBe('compatible');
    expect(report.tokenizer.identical).toBe(true);
    const config = JSON.parse(await readFile(join(publicZoo, 'tiny-llama/base/config.json'), 'utf8'));
    expect(report.models[0].numLayers).toBe(config.num_hidden_layers);
    expect(report.models[0].vocabSize).toBe(config.vocab_size);
  });

  it.skipIf(!existsSync(join(publicZoo, 'tiny-qwen2', 'base')))('tiny-llama + tiny-qwen2: different architecture and shapes', async () => {
    const report = await compatibilityReport([await openAt(publicZoo, 'tiny-llama/base'), await openAt(publicZoo, 'tiny-qwen2/base')]);
    expect(report.verdict).toBe('incompatible');
    expect(report.sameArchitecture).toBe(false);
    expect(report.shapeMismatches.length).toBeGreaterThan(0);
    expect(report.tensorSets[0].tiedHead).toBe(true);
  });
});

describe.skipIf(!existsSync(join(publicZoo, 'stories260K', 'model.safetensors')))('a model with another tokenizer (stories260K)', () => {
  it('reports the vocabulary difference and what the merge does about it', async () => {
    const report = await compatibilityReport([await openAt(zoo, 'tiny-llama/base'), await openAt(publicZoo, 'stories260K')]);
    const stories = JSON.parse(await readFile(join(publicZoo, 'stories260K/config.json'), 'utf8'));
    expect(report.vocab.sizes['stories260K']).toBe(stories.vocab_size);
    expect(report.vocab.same).toBe(false);
    expect(report.vocab.tokensDiffer).toBe(true);
    expect(report.vocab.choices).toEqual(['union', 'base', 'tiny-llama/base', 'stories260K']);
    expect(report.vocab.action).toMatch(/union vocabulary \(recipe 'tokenizer_source: union'/);
    expect(report.tokenizer.identical).toBe(false);
    expect(report.tokenizer.note).toMatch(/tokens differ in id or presence/);
    // The tokens are no problem any more (the union handles them); the hidden sizes still are.
    expect(report.problems.some((p) => /tokens differ/.test(p))).toBe(false);
    expect(report.verdict).toBe('incompatible');
  });
});
