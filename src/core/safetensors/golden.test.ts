// Every golden file made by Python/mergekit in ../shared/golden reads back as cases.json describes.
// Skipped when the shared folder is absent (a fresh clone); fixtures/ covers two of them there.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nodeFolderTree } from '../io/node-file.ts';
import { readSafetensorsHeader, readTensorF32 } from './index.ts';

// ../shared/golden next to the repository root.
const GOLDEN = fileURLToPath(new URL('../../../../shared/golden', import.meta.url));
const present = existsSync(join(GOLDEN, 'cases.json'));

interface GoldenCase { id: string; kind: string; shape: number[]; input_names: string[]; output_names: string[]; out_absmax?: number }

describe.skipIf(!present)('shared golden files', () => {
  const cases: GoldenCase[] = present ? JSON.parse(readFileSync(join(GOLDEN, 'cases.json'), 'utf8')) : [];

  it('every inputs/output file parses, with the names and shapes cases.json lists, and out_absmax matches', async () => {
    expect(cases.length).toBeGreaterThan(60);
    for (const c of cases) {
      const tree = nodeFolderTree(join(GOLDEN, 'cases', c.id));
      for (const [file, names] of [['inputs.safetensors', c.input_names], ['output.safetensors', c.output_names]] as const) {
        const { tensors } = await readSafetensorsHeader(await tree.open(file));
        expect([...tensors.keys()].sort(), `${c.id}/${file}`).toEqual([...names].sort());
        for (const t of tensors.values()) {
          expect(t.dtype).toBe('F32');
          expect(t.shape, `${c.id}/${file}/${t.name}`).toEqual(c.shape);
        }
      }
      if (c.kind === 'exact' && c.out_absmax !== undefined) {
        const { tensors } = await readSafetensorsHeader(await tree.open('output.safetensors'));
        const out = await readTensorF32(tensors.get(c.output_names[0])!);
        let max = 0;
        for (const v of out) max = Math.max(max, Math.abs(v));
        expect(max, c.id).toBeCloseTo(c.out_absmax, 6);
      }
    }
  });
});
