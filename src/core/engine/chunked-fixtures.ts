// Shared by the chunked-merge tests (CPU: chunked.test.ts, WebGPU: streamed.gpu.test.ts): a
// bf16/f32 model zoo whose bf16 task vectors have many tied magnitudes, and at least one recipe
// per method (more where a parameter picks another statistic or layout).
import { openModel, type ModelHandle } from '../model/handle.ts';
import { llamaConfig, llamaTensors, memoryModel, seededValues, type TestTensor } from './test-models.ts';

export const SHAPE = { layers: 2, hidden: 24, vocab: 37 };
/** ~4 rows of the embedding per chunk with five arrays: 10 chunks, the last of one row. */
export const TINY = 2000;

/** Base a (bf16), experts b, c, d = base + small deltas (b stored f32, c and d bf16). */
export async function zoo(): Promise<Map<string, ModelHandle>> {
  const base = llamaTensors({ ...SHAPE, seed: 5 });
  const expert = (seed: number, scale: number, dtype: 'F32' | 'BF16') =>
    Object.fromEntries(
      Object.entries(base).map(([name, t], k): [string, TestTensor] => {
        const noise = seededValues(t.values.length, seed * 100 + k);
        return [name, { shape: t.shape, dtype, values: t.values.map((x, j) => x + scale * noise[j]) }];
      }),
    );
  const models = {
    a: Object.fromEntries(Object.entries(base).map(([name, t]) => [name, { ...t, dtype: 'BF16' as const }])),
    b: expert(6, 0.02, 'F32'),
    c: expert(7, 0.03, 'BF16'),
    d: expert(8, 0.015, 'BF16'),
  };
  const handles = new Map<string, ModelHandle>();
  for (const [name, tensors] of Object.entries(models)) handles.set(name, await openModel(memoryModel(name, llamaConfig(SHAPE.layers, SHAPE.vocab), tensors), undefined, name));
  return handles;
}

const three = (params: (w: number, d: number) => string) => `models:\n  - model: b\n    parameters: ${params(0.7, 0.4)}\n  - model: c\n    parameters: ${params(0.5, 0.6)}\n  - model: d\n    parameters: ${params(0.3, 0.5)}\nbase_model: a\n`;
const weighted = three((w, d) => `{weight: ${w}, density: ${d}}`);

/** At least one recipe per method, more where a parameter picks another statistic or layout. */
export const RECIPES: Record<string, string> = {
  linear: 'models:\n  - model: b\n    parameters: {weight: 0.5}\n  - model: c\n    parameters: {weight: 0.3}\n  - model: d\n    parameters: {weight: 0.2}\nmerge_method: linear\n',
  task_arithmetic: `${weighted}merge_method: task_arithmetic\nparameters: {lambda: 1.2}\n`,
  ties: `${weighted}merge_method: ties\n`,
  'ties (rescale)': `${weighted}merge_method: ties\nparameters: {rescale: true}\n`,
  dare_ties: `${weighted}merge_method: dare_ties\nrandom_seed: 3\n`,
  'dare_ties (no rescale)': `${weighted}merge_method: dare_ties\nrandom_seed: 3\nparameters: {rescale: false}\n`,
  dare_linear: `${weighted}merge_method: dare_linear\nrandom_seed: 4\n`,
  breadcrumbs: `${three((w, d) => `{weight: ${w}, density: ${d}, gamma: 0.05}`)}merge_method: breadcrumbs\n`,
  'breadcrumbs (rescale)': `${three((w, d) => `{weight: ${w}, density: ${d}, gamma: 0.05}`)}merge_method: breadcrumbs\nparameters: {rescale: true}\n`,
  breadcrumbs_ties: `${three((w, d) => `{weight: ${w}, density: ${d}, gamma: 0.1}`)}merge_method: breadcrumbs_ties\n`,
  della: `${three((w, d) => `{weight: ${w}, density: ${d}, epsilon: 0.1}`)}merge_method: della\nrandom_seed: 5\n`,
  della_linear: `${three((w, d) => `{weight: ${w}, density: ${d}, epsilon: 0.15}`)}merge_method: della_linear\nrandom_seed: 6\n`,
  slerp: 'models:\n  - model: b\nbase_model: a\nmerge_method: slerp\nparameters: {t: 0.35}\n',
  nuslerp: 'models:\n  - model: b\n    parameters: {weight: 0.4}\n  - model: c\n    parameters: {weight: 0.6}\nbase_model: a\nmerge_method: nuslerp\n',
  'nuslerp (rows)': 'models:\n  - model: b\n    parameters: {weight: 0.4}\n  - model: c\n    parameters: {weight: 0.6}\nmerge_method: nuslerp\nparameters: {nuslerp_flatten: false}\n',
  'nuslerp (columns)': 'models:\n  - model: b\n    parameters: {weight: 0.4}\n  - model: c\n    parameters: {weight: 0.6}\nbase_model: a\nmerge_method: nuslerp\nparameters: {nuslerp_flatten: false, nuslerp_row_wise: true}\n',
  multislerp: `${three((w) => `{weight: ${w}}`)}merge_method: multislerp\n`,
  'multislerp (no base)': 'models:\n  - model: b\n    parameters: {weight: 0.2}\n  - model: c\n    parameters: {weight: 0.5}\n  - model: d\n    parameters: {weight: 0.3}\nmerge_method: multislerp\n',
  karcher: 'models:\n  - model: b\n  - model: c\n  - model: d\nmerge_method: karcher\nparameters: {max_iter: 4}\n',
  model_stock: 'models:\n  - model: b\n  - model: c\n  - model: d\nbase_model: a\nmerge_method: model_stock\n',
  'model_stock (filter_wise)': 'models:\n  - model: b\n  - model: c\nbase_model: a\nmerge_method: model_stock\nparameters: {filter_wise: true}\n',
  nearswap: 'models:\n  - model: b\nbase_model: a\nmerge_method: nearswap\nparameters: {t: 0.01}\n',
  sce: 'models:\n  - model: b\n  - model: c\n  - model: d\nbase_model: a\nmerge_method: sce\nparameters: {select_topk: 0.7}\n',
  arcee_fusion: 'models:\n  - model: b\nbase_model: a\nmerge_method: arcee_fusion\n',
  ram: 'models:\n  - model: b\n  - model: c\n  - model: d\nbase_model: a\nmerge_method: ram\nparameters: {epsilon: 0.004}\n',
  ramplus_tl: 'models:\n  - model: b\n  - model: c\n  - model: d\nbase_model: a\nmerge_method: ramplus_tl\nparameters: {epsilon: 0.004, r: 0.3, alpha: 0.5}\n',
  passthrough: 'models:\n  - model: c\nmerge_method: passthrough\n',
};
