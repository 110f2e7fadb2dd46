// The bundled demo models (public/zoo) served by the mock Hub and loaded by id: headers only, and
// the inventory reports the studio shows for one family and for a mix of families. Parts whose
// models are not in this checkout yet are skipped.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startMockHub, type MockHub } from '../../../tools/mock-hub/server.ts';
import { openModel } from '../model/handle.ts';
import { compatibilityReport } from '../model/inventory.ts';
import { hubTree } from './tree.ts';

const publicZoo = fileURLToPath(new URL('../../../public/zoo', import.meta.url));
const has = (rel: string) => existsSync(join(publicZoo, rel, 'model.safetensors'));
const anyModel = ['stories260K', 'tiny-llama/base', 'tiny-qwen2/base'].some(has);
let hub: MockHub;

describe.skipIf(!anyModel)('public/zoo through the mock Hub', () => {
  beforeAll(async () => {
    hub = await startMockHub({ port: 0, root: publicZoo });
  });
  afterAll(async () => hub?.close());
  beforeEach(() => hub.resetStats());

  const byId = (id: string) => hubTree({ repo: id, hubUrl: hub.url }).then((tree) => openModel(tree, undefined, id));

  it('serves every demo model folder under zoo/<family>-<model>, and opening one reads its header, not its weights', async () => {
    const ids = [...hub.repos.values()].filter((r) => !['gated', 'bin-only', 'truncated', 'sharded', 'corrupt-shard', 'missing-shard'].some((d) => r.id === `zoo/${d}`));
    expect(ids.length).toBeGreaterThan(0);
    for (const repo of ids) {
      hub.resetStats();
      const model = await byId(repo.id);
      const weights = (await readFile(join(publicZoo, repo.origin, 'model.safetensors'))).byteLength;
      const config = repo.files.get('config.json')!.bytes.byteLength;
      expect(model.tensors.size).toBeGreaterThan(0);
      // config.json whole, plus a 1-byte probe per file and the safetensors header read.
      expect(hub.stats.fileBytes - config, repo.id).toBeLessThan(weights * 0.1);
    }
  });

  it.skipIf(!has('tiny-llama/base'))('tiny-llama base + experts, by id: compatible', async () => {
    const experts = ['add', 'reverse', 'caesar', 'sort'].filter((e) => has(`tiny-llama/${e}`));
    const report = await compatibilityReport([await byId('zoo/tiny-llama-base'), ...(await Promise.all(experts.map((e) => byId(`zoo/tiny-llama-${e}`))))]);
    expect(report.verdict).toBe('compatible');
    expect(report.tokenizer.identical).toBe(true);
  });

  it.skipIf(!has('tiny-llama/base') || !has('tiny-qwen2/base'))('tiny-llama + tiny-qwen2, by id: different architecture, shapes and tied head', async () => {
    const report = await compatibilityReport([await byId('zoo/tiny-llama-base'), await byId('zoo/tiny-qwen2-base')]);
    expect(report.verdict).toBe('incompatible');
    expect(report.sameArchitecture).toBe(false);
    expect(report.shapeMismatches.length).toBeGreaterThan(0);
    expect(report.tensorSets[0].extra.every((n) => n.endsWith('.bias'))).toBe(true);
    expect(report.tensorSets[0].tiedHead).toBe(true);
  });
});
