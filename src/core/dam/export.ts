// Writing a DAM merge: the coefficients folded into ordinary weights and streamed through the
// engine's export (shards, tokenizer files, model card, config.json last), plus the coefficients
// themselves as dam/coefficients.safetensors ([models, channels] float32 per learned tensor). The
// coefficients sit in a subfolder because loaders read every top-level .safetensors file of a
// folder without an index as weights, and these tensors carry the weights' names.
import { execute, plan, type ExportResult, type Plan } from '../engine/index.ts';
import { MergeStudioError } from '../errors.ts';
import type { SinkFactory } from '../io/types.ts';
import type { MergeMethod } from '../methods/types.ts';
import type { ModelHandle } from '../model/handle.ts';
import type { ProgressCallback } from '../progress.ts';
import type { Recipe } from '../recipe/types.ts';
import { serializeSafetensors } from '../safetensors/index.ts';
import { loadVocabularies } from '../tokenizer/vocab.ts';
import { foldBlock, uniformAverage, type CoefficientLayout } from './coefficients.ts';

export const COEFFICIENTS_FILE = 'dam/coefficients.safetensors';

/** The coefficients as safetensors: one [numModels, width] float32 tensor per learned tensor,
 * named after it; the models' order in the metadata. */
export function coefficientsSafetensors(layout: CoefficientLayout, coefficients: Float64Array, models: readonly string[]): Uint8Array {
  return serializeSafetensors(layout.blocks.map((b) => {
    const values = Float32Array.from(coefficients.subarray(b.offset, b.offset + b.width * layout.numModels));
    return { name: b.tensor, dtype: 'F32' as const, shape: [layout.numModels, b.width], data: new Uint8Array(values.buffer) };
  }), { format: 'dam', models: JSON.stringify(models), kinds: JSON.stringify(Object.fromEntries(layout.blocks.map((b) => [b.tensor, b.kind]))) });
}

/** A merge method that folds learned coefficients (and averages the tensors without any). */
function damMethod(layout: CoefficientLayout, coefficients: Float64Array): MergeMethod {
  const blocks = new Map(layout.blocks.map((b) => [b.tensor, b]));
  return {
    name: 'dam',
    description: 'Differentiable Adaptive Merging: each linear layer is a sum of the experts\' weights scaled per input channel by coefficients trained so that the merge matches each expert\'s outputs on its own data (arXiv 2410.08371); the coefficients are in `dam/coefficients.safetensors`, tensors without coefficients are averaged.',
    base: 'none',
    params: [],
    mergeCpu(input) {
      const out = input.out ?? new Float32Array(input.models[0].length);
      const block = blocks.get(input.tensorName);
      if (block) foldBlock(block, coefficients, input.models, out);
      else uniformAverage(input.models, out);
      return out;
    },
  };
}

export interface DamExportOptions {
  /** The experts, opened with the engine's openModel, in the order of the coefficients. */
  experts: readonly ModelHandle[];
  layout: CoefficientLayout;
  coefficients: Float64Array;
  sinks: SinkFactory;
  /** mergekit dtype name of the output (default: the experts' dtype). */
  dtype?: string;
  name?: string;
  /** More files for the folder (a training log), written before the weights. */
  extraFiles?: ReadonlyMap<string, Uint8Array>;
  /** Largest shard in bytes (default: the engine's). */
  shardSize?: number;
  /** How the model card and mergekit_config.yml name each expert (default: its id). */
  modelRef?: (ref: string) => string;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
}

/** The carrier recipe of a DAM merge: every expert in order, no base. Its plan decides the merged
 * vocabulary when the experts' vocabularies differ (a union with the first expert as its base, as
 * the engine merges any recipe: src/core/tokenizer/README.md), for training and export alike. */
export function damCarrierRecipe(experts: readonly string[], opts: { dtype?: string; name?: string } = {}): Recipe {
  return {
    ...(opts.name ? { name: opts.name } : {}),
    merge_method: 'linear',
    models: experts.map((model) => ({ model, parameters: { weight: 1 } })),
    ...(opts.dtype ? { dtype: opts.dtype } : {}),
  };
}

/** The engine plan of a DAM merge: the experts' tensors in, the folding method on each. Read the
 * experts' vocabularies first (loadVocabularies) when they may differ. */
export function damPlan(opts: Pick<DamExportOptions, 'experts' | 'layout' | 'coefficients' | 'dtype' | 'name'>): Plan {
  if (opts.experts.length !== opts.layout.numModels) throw new MergeStudioError('dam-layout-mismatch', `DAM export: ${opts.experts.length} experts for coefficients of ${opts.layout.numModels} models`, {});
  const handles = new Map(opts.experts.map((h) => [h.id, h]));
  const recipe = damCarrierRecipe(opts.experts.map((h) => h.id), opts);
  const p = plan(recipe, handles);
  // Vocabulary rows as the coefficients were trained on (a union when the vocabularies differ).
  const learned = opts.layout.blocks.find((b) => b.kind === 'embedding' || b.tensor === 'lm_head.weight');
  const rows = learned && p.steps.find((s) => s.output === learned.tensor)?.shape[0];
  if (learned && rows !== undefined && rows !== learned.rows) {
    throw new MergeStudioError('dam-layout-mismatch', `DAM export: '${learned.tensor}' has ${rows} rows in the merge but ${learned.rows} in the coefficients' layout (the experts' vocabularies were not read before planning?)`, { tensor: learned.tensor });
  }
  // The recipe recorded in the card and mergekit_config.yml names the real method, not the carrier.
  // The weights are folded with the coefficients as written (float32), so that the folder's
  // dam/coefficients.safetensors and the experts reproduce it bit for bit.
  return { ...p, recipe: { ...recipe, merge_method: 'dam' }, method: damMethod(opts.layout, Float64Array.from(opts.coefficients, Math.fround)) };
}

/** Writes the merged model folder and the coefficients file. */
export async function exportDamMerge(opts: DamExportOptions): Promise<ExportResult> {
  // Differing vocabularies are merged over their union, as in training (prepareDamProblem).
  await loadVocabularies(opts.experts, opts.signal);
  const p = damPlan(opts);
  const files = new Map([[COEFFICIENTS_FILE, coefficientsSafetensors(opts.layout, opts.coefficients, opts.experts.map((h) => h.id))], ...(opts.extraFiles ?? [])]);
  const written: string[] = [];
  try {
    for (const [name, bytes] of files) {
      // With its size: a streamed .tar writes each header before the bytes.
      const sink = await opts.sinks.create(name, bytes.length);
      written.push(name);
      try {
        await sink.write(bytes);
        await sink.close();
      } catch (err) {
        await sink.abort().catch(() => undefined);
        throw err;
      }
    }
    const result = await execute(p, { sinks: opts.sinks, signal: opts.signal, onProgress: opts.onProgress, shardSize: opts.shardSize, modelRef: opts.modelRef });
    return { ...result, files: [...written, ...result.files] };
  } catch (err) {
    for (const name of written) await opts.sinks.remove?.(name).catch(() => undefined);
    throw err;
  }
}
