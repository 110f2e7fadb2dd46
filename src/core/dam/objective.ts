// The DAM objective on a batch: fold the coefficients into merged weights, run every expert's
// sequences through the merged model against that expert's cached logits, backpropagate to dL/dW
// and reduce to dL/dc, plus the coefficient regularisers.
import { MergeStudioError } from '../errors.ts';
import type { CausalLMConfig } from '../eval/config.ts';
import { expectedTensors } from '../eval/weights.ts';
import { accumulateBlockGradient, coefficientSimilarity, foldBlock, uniformAverage, type CoefficientLayout } from './coefficients.ts';
import { distillationLoss, type TeacherTargets } from './loss.ts';
import { TrainingNetwork, allocReal, type DeferWeightGrad, type Precision, type Real } from './network.ts';

export interface DamExpertData {
  name: string;
  /** Every tensor the forward pass reads, float32, by checkpoint name. */
  weights: ReadonlyMap<string, Float32Array>;
  /** The expert's own sequences with its logits on them. */
  targets: TeacherTargets[];
}

export interface DamLossSettings {
  /** Softmax temperature of the distillation (default 2). */
  temperature: number;
  /** Weight of the mean pairwise cosine similarity between models' coefficients (default 0.01). */
  similarity: number;
  /** Weights of the mean |c| and mean c^2 penalties (default 0). */
  l1: number;
  l2: number;
}

export const DEFAULT_LOSS_SETTINGS: DamLossSettings = { temperature: 2, similarity: 0.01, l1: 0, l2: 0 };

export interface DamLossResult {
  /** The whole objective. */
  loss: number;
  /** Per expert: T^2 * KL averaged over the batch's tokens of that expert. */
  distillation: number[];
  /** Mean pairwise cosine similarity of the coefficient vectors (before its weight). */
  similarity: number;
  /** dL/dc, parallel to the coefficient array. */
  gradient: Float64Array;
}

/** Takes the linear layers' dL/dW off the CPU (the WebGPU backward) and returns their dL/dc. */
export interface CoefficientGradientOffload {
  defer: DeferWeightGrad;
  /** Adds the deferred weights' dL/dc (at these coefficients' models) into `gradient`, then forgets them. */
  finish(gradient: Float64Array): Promise<void>;
}

export class DamObjective {
  private readonly network: TrainingNetwork;
  private readonly frozen = new Map<string, Real>();
  private readonly modelTensors = new Map<string, Real[]>();

  constructor(readonly config: CausalLMConfig, readonly layout: CoefficientLayout, readonly experts: readonly DamExpertData[], readonly precision: Precision = 'f32') {
    if (experts.length !== layout.numModels) throw new MergeStudioError('dam-layout-mismatch', `DAM: the coefficient layout is for ${layout.numModels} models, ${experts.length} experts were given`, {});
    this.network = new TrainingNetwork(config, precision);
    for (const [name, shape] of expectedTensors(config)) {
      const size = shape.reduce((a, b) => a * b, 1);
      const per = experts.map((e) => {
        const w = e.weights.get(name);
        if (!w) throw new MergeStudioError('eval-tensor-missing', `DAM: expert '${e.name}' has no tensor '${name}'`, { tensor: name, model: e.name });
        if (w.length !== size) throw new MergeStudioError('eval-tensor-shape', `DAM: expert '${e.name}': tensor '${name}' has ${w.length} values, expected ${size} (${JSON.stringify(shape)})`, { tensor: name, model: e.name });
        return w;
      });
      this.modelTensors.set(name, per);
    }
    for (const name of layout.frozen) {
      const out = allocReal(precision, this.modelTensors.get(name)![0].length);
      uniformAverage(this.modelTensors.get(name)!, out);
      this.frozen.set(name, out);
    }
  }

  /** Every weight of the merged model for these coefficients (learned blocks folded, the rest averaged). */
  mergedWeights(coefficients: Float64Array): Map<string, Real> {
    const out = new Map(this.frozen);
    for (const b of this.layout.blocks) {
      const models = this.modelTensors.get(b.tensor)!;
      const merged = allocReal(this.precision, models[0].length);
      foldBlock(b, coefficients, models, merged);
      out.set(b.tensor, merged);
    }
    return out;
  }

  /** The objective and its gradient on `batch` (per expert, indices into its targets), on the CPU. */
  evaluate(coefficients: Float64Array, batch: readonly (readonly number[])[], settings: DamLossSettings = DEFAULT_LOSS_SETTINGS): DamLossResult {
    const r = this.distill(coefficients, batch, settings);
    return this.regularise(coefficients, r.distillation, r.gradient, settings);
  }

  /** The same, with the linear layers' weight gradients and their reduction to dL/dc on `offload`. */
  async evaluateOffloaded(coefficients: Float64Array, batch: readonly (readonly number[])[], settings: DamLossSettings, offload: CoefficientGradientOffload): Promise<DamLossResult> {
    const r = this.distill(coefficients, batch, settings, offload.defer);
    await offload.finish(r.gradient);
    return this.regularise(coefficients, r.distillation, r.gradient, settings);
  }

  private distill(coefficients: Float64Array, batch: readonly (readonly number[])[], settings: DamLossSettings, defer?: DeferWeightGrad) {
    if (coefficients.length !== this.layout.size) throw new MergeStudioError('dam-coefficients-shape', `DAM: ${coefficients.length} coefficients given, the layout has ${this.layout.size}`, {});
    const weights = this.mergedWeights(coefficients);
    const grads = new Map<string, Real>(this.layout.blocks.map((b) => [b.tensor, allocReal(this.precision, b.rows * b.cols)]));
    const lookup = (name: string) => weights.get(name)!;
    const N = this.experts.length, V = this.config.vocabSize;
    const distillation: number[] = [];
    for (let i = 0; i < N; i++) {
      const targets = batch[i].map((s) => this.experts[i].targets[s]);
      const tokens = targets.reduce((a, t) => a + t.tokens.length, 0);
      let sum = 0;
      // Each expert's mean over its tokens counts 1/N of the objective.
      const scale = tokens > 0 ? 1 / (N * tokens) : 0;
      for (const target of targets) {
        sum += this.network.lossAndGrad(target.tokens, lookup, grads, (logits) => distillationLoss(logits, V, target, settings.temperature, scale), defer);
      }
      distillation.push(tokens > 0 ? sum / tokens : 0);
    }
    const gradient = new Float64Array(this.layout.size);
    for (const b of this.layout.blocks) accumulateBlockGradient(b, grads.get(b.tensor)!, this.modelTensors.get(b.tensor)!, gradient);
    return { distillation, gradient };
  }

  /** The experts' tensors of a learned block, in model order. */
  expertTensors(tensor: string): readonly Real[] {
    const t = this.modelTensors.get(tensor);
    if (!t) throw new MergeStudioError('eval-unknown-tensor', `DAM: no tensor named '${tensor}'`, { tensor });
    return t;
  }

  private regularise(coefficients: Float64Array, distillation: number[], gradient: Float64Array, settings: DamLossSettings): DamLossResult {
    const N = this.experts.length;
    const similarity = coefficientSimilarity(this.layout, coefficients, settings.similarity, gradient);
    let loss = distillation.reduce((a, b) => a + b, 0) / N + settings.similarity * similarity;
    if (settings.l1 !== 0 || settings.l2 !== 0) {
      const n = coefficients.length;
      let l1 = 0, l2 = 0;
      for (let e = 0; e < n; e++) {
        const c = coefficients[e];
        l1 += Math.abs(c);
        l2 += c * c;
        gradient[e] += (settings.l1 * Math.sign(c) + 2 * settings.l2 * c) / n;
      }
      loss += (settings.l1 * l1 + settings.l2 * l2) / n;
    }
    return { loss, distillation, similarity, gradient };
  }
}
