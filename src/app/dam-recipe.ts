// A trained DAM merge as a recipe the engine runs. DAM scales every expert's weights per input
// channel (merged[r, j] = sum_i c_i[j] * W_i[r, j]); a mergekit recipe has one weight per model per
// tensor at most. The recipe here is therefore an approximation: `linear` without normalisation,
// each learned tensor weighted by the mean of its per-channel coefficients (a `{filter, value}`
// entry per tensor, filter = the tensor's checkpoint name) and every other tensor averaged (1/N),
// as DAM itself does with tensors that have no coefficients. Exact where a tensor's coefficients
// are equal across its channels (as at the start, 1/N everywhere).
import type { ParamCondition, Recipe } from '../core/recipe/index.ts';
import type { DamCoefficientMean } from '../worker/protocol.ts';

/** Rounded to 6 significant digits: enough for the weights, short enough for links and YAML. */
function round(v: number): number {
  return Number(v.toPrecision(6));
}

export function damRecipe(experts: readonly string[], means: readonly DamCoefficientMean[]): Recipe {
  if (experts.length < 2) throw new Error('a DAM merge has at least two experts');
  for (const m of means) {
    if (m.means.length !== experts.length) throw new Error(`DAM coefficients of ${m.tensor}: ${m.means.length} values for ${experts.length} experts`);
  }
  const uniform = round(1 / experts.length);
  return {
    merge_method: 'linear',
    parameters: { normalize: false },
    models: experts.map((model, i) => {
      const weight: ParamCondition[] = [...means.map((m) => ({ filter: m.tensor, value: round(m.means[i]) })), { value: uniform }];
      return { model, parameters: { weight } };
    }),
  };
}

/** How far the per-tensor means are from the learned per-channel merge, in words for the page. */
export const DAM_APPROXIMATION_NOTE = 'Approximation: a recipe holds one weight per model per tensor, so each tensor\'s per-channel DAM coefficients are replaced by their mean (linear, not normalised; tensors DAM does not learn are averaged). The exact per-channel merge is written by `merge-studio dam` (the CLI).';
