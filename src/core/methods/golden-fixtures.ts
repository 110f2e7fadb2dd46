/** Test-side access to mergekit's golden cases (copied from ../shared/golden so a fresh clone
 * passes): case records and their tensors, read with the project's safetensors reader. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { nodeFileSource } from '../io/node-file.ts';
import { readSafetensorsHeader, readTensorF32 } from '../safetensors/index.ts';
import type { MergeTensorInput, ParamValue } from './types.ts';

export const GOLDEN_DIR = join(fileURLToPath(new URL('.', import.meta.url)), 'fixtures', 'golden');

interface Stat {
  mean: number;
  std_over_seeds: number;
}

export interface SparsifyStats {
  model: string;
  density: number;
  epsilon?: number;
  keep_fraction: Stat;
  l1_ratio_out_over_in: Stat;
  kept_value_scale: Stat;
  keep_prob_by_row_magnitude_rank_decile: number[];
}

export interface GoldenCase {
  id: string;
  method: string;
  kind: 'exact' | 'statistical';
  global_params: Record<string, ParamValue>;
  per_model_params: Record<string, ParamValue>[];
  base_model: string | null;
  input_names: string[];
  shape: number[];
  notes: string;
  out_absmax?: number;
  n_seeds?: number;
  effective_global_params?: Record<string, ParamValue>;
  merge_stats?: Record<string, Stat>;
  sparsify_stats?: SparsifyStats[];
}

export const GOLDEN_CASES: GoldenCase[] = JSON.parse(readFileSync(join(GOLDEN_DIR, 'cases.json'), 'utf8'));

export async function readGoldenTensors(caseId: string, file: 'inputs' | 'output'): Promise<Map<string, Float32Array>> {
  const source = await nodeFileSource(join(GOLDEN_DIR, 'cases', caseId, `${file}.safetensors`));
  const header = await readSafetensorsHeader(source);
  const tensors = new Map<string, Float32Array>();
  for (const [name, info] of header.tensors) tensors.set(name, await readTensorF32(info));
  return tensors;
}

/** The method input of a case: models m0, m1, ... in order, the base when the case has one. */
export async function goldenInput(c: GoldenCase, seed = 0): Promise<MergeTensorInput> {
  const tensors = await readGoldenTensors(c.id, 'inputs');
  const modelNames = c.input_names.filter((name) => name !== c.base_model);
  return {
    tensorName: `golden.${c.id}`,
    shape: c.shape,
    models: modelNames.map((name) => tensors.get(name)!),
    modelParams: c.per_model_params,
    modelIndices: modelNames.map((_, i) => i),
    base: c.base_model ? tensors.get(c.base_model) : undefined,
    global: c.global_params,
    seed,
  };
}

/** The README's tolerance: about 1e-5 x max(1, max |out|). */
export function goldenTolerance(c: GoldenCase): number {
  return 1e-5 * Math.max(1, c.out_absmax ?? 0);
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= worst)) worst = d; // NaN propagates as the worst
  }
  return worst;
}
