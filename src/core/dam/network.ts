// The Llama-family forward pass with saved activations, and its reverse-mode backward, for one
// token sequence at positions 0..T-1. It produces dL/dW for every weight named in `grads` given
// dL/dlogits; DAM turns those into coefficient gradients (coefficients.ts). Arrays are float32
// in training and float64 in the finite-difference tests (the arithmetic is the same code).
import { MergeStudioError } from '../errors.ts';
import type { CausalLMConfig } from '../eval/config.ts';
import { RopeTables, ropeInverseFrequencies } from '../eval/rope.ts';
import { EMBED_TENSOR, FINAL_NORM_TENSOR, LM_HEAD_TENSOR, layerTensorName, type LayerTensorRole } from '../eval/weights.ts';

export type Real = Float32Array | Float64Array;
export type Precision = 'f32' | 'f64';

export function allocReal(precision: Precision, n: number): Real {
  return precision === 'f64' ? new Float64Array(n) : new Float32Array(n);
}

/** out[t, o] = sum_i x[t, i] * w[o, i] + bias[o]. Four token rows share each pass over a weight
 * row, so the weights stream from memory once per four tokens. */
export function linearForward(out: Real, x: Real, rows: number, inDim: number, w: Real, outDim: number, bias: Real | null): void {
  for (let o = 0; o < outDim; o++) {
    const wo = o * inDim, b = bias ? bias[o] : 0;
    let t = 0;
    for (; t + 4 <= rows; t += 4) {
      const x0 = t * inDim, x1 = x0 + inDim, x2 = x1 + inDim, x3 = x2 + inDim;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let i = 0; i < inDim; i++) {
        const wv = w[wo + i];
        s0 += wv * x[x0 + i];
        s1 += wv * x[x1 + i];
        s2 += wv * x[x2 + i];
        s3 += wv * x[x3 + i];
      }
      out[t * outDim + o] = s0 + b;
      out[(t + 1) * outDim + o] = s1 + b;
      out[(t + 2) * outDim + o] = s2 + b;
      out[(t + 3) * outDim + o] = s3 + b;
    }
    for (; t < rows; t++) {
      const xt = t * inDim;
      let s = 0;
      for (let i = 0; i < inDim; i++) s += w[wo + i] * x[xt + i];
      out[t * outDim + o] = s + b;
    }
  }
}

/** dx[t, i] += sum_o dy[t, o] * w[o, i], four token rows per pass over a weight row. */
export function linearInputGrad(dx: Real, dy: Real, rows: number, inDim: number, w: Real, outDim: number): void {
  for (let o = 0; o < outDim; o++) {
    const wo = o * inDim;
    let t = 0;
    for (; t + 4 <= rows; t += 4) {
      const g0 = dy[t * outDim + o], g1 = dy[(t + 1) * outDim + o], g2 = dy[(t + 2) * outDim + o], g3 = dy[(t + 3) * outDim + o];
      const x0 = t * inDim, x1 = x0 + inDim, x2 = x1 + inDim, x3 = x2 + inDim;
      for (let i = 0; i < inDim; i++) {
        const wv = w[wo + i];
        dx[x0 + i] += g0 * wv;
        dx[x1 + i] += g1 * wv;
        dx[x2 + i] += g2 * wv;
        dx[x3 + i] += g3 * wv;
      }
    }
    for (; t < rows; t++) {
      const g = dy[t * outDim + o], xt = t * inDim;
      for (let i = 0; i < inDim; i++) dx[xt + i] += g * w[wo + i];
    }
  }
}

/** dw[o, i] += sum_t dy[t, o] * x[t, i]; each weight row is updated once, from four token rows at a time. */
export function linearWeightGrad(dw: Real, dy: Real, x: Real, rows: number, inDim: number, outDim: number): void {
  for (let o = 0; o < outDim; o++) {
    const wo = o * inDim;
    let t = 0;
    for (; t + 4 <= rows; t += 4) {
      const g0 = dy[t * outDim + o], g1 = dy[(t + 1) * outDim + o], g2 = dy[(t + 2) * outDim + o], g3 = dy[(t + 3) * outDim + o];
      const x0 = t * inDim, x1 = x0 + inDim, x2 = x1 + inDim, x3 = x2 + inDim;
      for (let i = 0; i < inDim; i++) dw[wo + i] += g0 * x[x0 + i] + g1 * x[x1 + i] + g2 * x[x2 + i] + g3 * x[x3 + i];
    }
    for (; t < rows; t++) {
      const g = dy[t * outDim + o], xt = t * inDim;
      for (let i = 0; i < inDim; i++) dw[wo + i] += g * x[xt + i];
    }
  }
}

/** dbias[o] += sum_t dy[t, o]. */
function linearBiasGrad(dbias: Real, dy: Real, rows: number, outDim: number): void {
  for (let t = 0; t < rows; t++) for (let o = 0; o < outDim; o++) dbias[o] += dy[t * outDim + o];
}

/** Takes over dW += dy^T x of one linear weight (e.g. to compute it on the GPU later); returns
 * false to leave it to the CPU. It must copy what it keeps: the arrays are reused afterwards. */
export type DeferWeightGrad = (name: string, dy: Real, x: Real, rows: number, inDim: number, outDim: number) => boolean;

/** RMSNorm rows; keeps each row's 1/rms in `inverseRms` for the backward. */
function rmsNormForward(out: Real, inverseRms: Real, x: Real, rows: number, dim: number, weight: Real, eps: number): void {
  for (let t = 0; t < rows; t++) {
    const off = t * dim;
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[off + i] * x[off + i];
    const r = 1 / Math.sqrt(ss / dim + eps);
    inverseRms[t] = r;
    for (let i = 0; i < dim; i++) out[off + i] = weight[i] * (x[off + i] * r);
  }
}

/** dx += r * (dn - n * mean(dn * n)) with n = x * r and dn = dy * weight; dweight += dy * n. */
function rmsNormBackward(dx: Real, dweight: Real | null, dy: Real, x: Real, inverseRms: Real, rows: number, dim: number, weight: Real): void {
  for (let t = 0; t < rows; t++) {
    const off = t * dim, r = inverseRms[t];
    let dot = 0;
    for (let i = 0; i < dim; i++) dot += dy[off + i] * weight[i] * x[off + i] * r;
    const mean = dot / dim;
    for (let i = 0; i < dim; i++) {
      const n = x[off + i] * r;
      dx[off + i] += r * (dy[off + i] * weight[i] - n * mean);
      if (dweight) dweight[i] += dy[off + i] * n;
    }
  }
}

/** Rotate-half RoPE in place; `inverse` rotates back (the backward of a rotation is its transpose). */
function rope(x: Real, rows: number, heads: number, headDim: number, tables: RopeTables, inverse: boolean): void {
  const half = headDim / 2;
  for (let t = 0; t < rows; t++) {
    for (let h = 0; h < heads; h++) {
      const off = (t * heads + h) * headDim;
      for (let j = 0; j < half; j++) {
        const c = tables.cos[t * half + j], s = inverse ? -tables.sin[t * half + j] : tables.sin[t * half + j];
        const a = x[off + j], b = x[off + j + half];
        x[off + j] = a * c - b * s;
        x[off + j + half] = b * c + a * s;
      }
    }
  }
}

interface LayerActivations {
  xIn: Real; invRms1: Real; h1: Real;
  q: Real; k: Real; v: Real; probs: Real; att: Real;
  xMid: Real; invRms2: Real; h2: Real;
  gate: Real; up: Real; act: Real;
}

/** The weights one pass reads, by checkpoint name (merged weights in DAM). */
export type WeightLookup = (name: string) => Real;

/** The forward + backward of one sequence. `grads` holds an accumulator for each weight whose
 * gradient is wanted (others are skipped); for tied embeddings both uses add into the embedding's. */
export class TrainingNetwork {
  private readonly rope: RopeTables;

  constructor(readonly config: CausalLMConfig, readonly precision: Precision) {
    if (config.qkNorm) {
      throw new MergeStudioError('dam-unsupported-architecture', `DAM: model_type '${config.modelType}' normalises queries and keys per head (q_norm/k_norm), which the DAM backward does not implement; supported: llama, mistral, qwen2`, { found: config.modelType });
    }
    this.rope = new RopeTables(ropeInverseFrequencies(config));
  }

  private alloc(n: number): Real {
    return allocReal(this.precision, n);
  }

  /** Runs the sequence; `lossGrad` maps its logits [T, vocab] to dL/dlogits (written in place) and
   * returns the loss; then the backward accumulates into `grads` (linear weights' dW through
   * `defer` when it takes them). Returns the loss. */
  lossAndGrad(tokens: Int32Array, weight: WeightLookup, grads: ReadonlyMap<string, Real>, lossGrad: (logits: Real) => number, defer?: DeferWeightGrad): number {
    const c = this.config;
    const T = tokens.length, H = c.hiddenSize, hd = c.headDim, V = c.vocabSize;
    const qDim = c.numHeads * hd, kvDim = c.numKvHeads * hd, I = c.intermediateSize;
    if (T === 0) return 0;
    if (T > c.maxPositions) throw new MergeStudioError('dam-sequence-too-long', `DAM: a training sequence has ${T} tokens, more than max_position_embeddings ${c.maxPositions}`, { found: T });
    this.rope.ensure(T);
    const embed = weight(EMBED_TENSOR);
    const lmHeadName = c.tiedEmbeddings ? EMBED_TENSOR : LM_HEAD_TENSOR;
    const optional = (name: string): Real | null => (hasWeight(c, name) ? weight(name) : null);

    // Forward.
    let x = this.alloc(T * H);
    for (let t = 0; t < T; t++) {
      const id = tokens[t];
      if (id < 0 || id >= V) throw new MergeStudioError('eval-token-out-of-range', `DAM: token id ${id} at position ${t} is outside the vocabulary [0, ${V})`, { position: t, found: id });
      for (let i = 0; i < H; i++) x[t * H + i] = embed[id * H + i];
    }
    const saved: LayerActivations[] = [];
    for (let l = 0; l < c.numLayers; l++) {
      const w = (role: LayerTensorRole) => weight(layerTensorName(role, l));
      const ow = (role: LayerTensorRole) => optional(layerTensorName(role, l));
      const a: LayerActivations = {
        xIn: x, invRms1: this.alloc(T), h1: this.alloc(T * H),
        q: this.alloc(T * qDim), k: this.alloc(T * kvDim), v: this.alloc(T * kvDim), probs: this.alloc(c.numHeads * T * T), att: this.alloc(T * qDim),
        xMid: this.alloc(T * H), invRms2: this.alloc(T), h2: this.alloc(T * H),
        gate: this.alloc(T * I), up: this.alloc(T * I), act: this.alloc(T * I),
      };
      rmsNormForward(a.h1, a.invRms1, x, T, H, w('inputNorm'), c.rmsNormEps);
      linearForward(a.q, a.h1, T, H, w('q'), qDim, ow('qBias'));
      linearForward(a.k, a.h1, T, H, w('k'), kvDim, ow('kBias'));
      linearForward(a.v, a.h1, T, H, w('v'), kvDim, ow('vBias'));
      rope(a.q, T, c.numHeads, hd, this.rope, false);
      rope(a.k, T, c.numKvHeads, hd, this.rope, false);
      this.attendForward(a, T);
      linearForward(a.xMid, a.att, T, qDim, w('o'), H, ow('oBias'));
      for (let i = 0; i < T * H; i++) a.xMid[i] += x[i];
      rmsNormForward(a.h2, a.invRms2, a.xMid, T, H, w('postNorm'), c.rmsNormEps);
      linearForward(a.gate, a.h2, T, H, w('gate'), I, null);
      linearForward(a.up, a.h2, T, H, w('up'), I, null);
      for (let i = 0; i < T * I; i++) {
        const g = a.gate[i];
        a.act[i] = (g / (1 + Math.exp(-g))) * a.up[i];
      }
      const xOut = this.alloc(T * H);
      linearForward(xOut, a.act, T, I, w('down'), H, null);
      for (let i = 0; i < T * H; i++) xOut[i] += a.xMid[i];
      saved.push(a);
      x = xOut;
    }
    const invRmsF = this.alloc(T), hF = this.alloc(T * H);
    rmsNormForward(hF, invRmsF, x, T, H, weight(FINAL_NORM_TENSOR), c.rmsNormEps);
    const logits = this.alloc(T * V);
    linearForward(logits, hF, T, H, weight(lmHeadName), V, null);
    const loss = lossGrad(logits);
    const dLogits = logits;

    // Backward.
    const g = (name: string) => grads.get(name) ?? null;
    const weightGrad = (name: string, bias: string | null, dy: Real, x: Real, inDim: number, outDim: number) => {
      const gBias = bias ? g(bias) : null;
      if (gBias) linearBiasGrad(gBias, dy, T, outDim);
      const gWeight = g(name);
      if (gWeight && !defer?.(name, dy, x, T, inDim, outDim)) linearWeightGrad(gWeight, dy, x, T, inDim, outDim);
    };
    weightGrad(lmHeadName, null, dLogits, hF, H, V);
    const dhF = this.alloc(T * H);
    linearInputGrad(dhF, dLogits, T, H, weight(lmHeadName), V);
    let dx = this.alloc(T * H);
    rmsNormBackward(dx, g(FINAL_NORM_TENSOR), dhF, x, invRmsF, T, H, weight(FINAL_NORM_TENSOR));
    for (let l = c.numLayers - 1; l >= 0; l--) {
      const a = saved[l];
      const name = (role: LayerTensorRole) => layerTensorName(role, l);
      const w = (role: LayerTensorRole) => weight(name(role));
      const gw = (role: LayerTensorRole) => g(name(role));
      // MLP: out = down(silu(gate) * up).
      const dAct = this.alloc(T * I);
      linearInputGrad(dAct, dx, T, I, w('down'), H);
      weightGrad(name('down'), null, dx, a.act, I, H);
      const dGate = this.alloc(T * I), dUp = this.alloc(T * I);
      for (let i = 0; i < T * I; i++) {
        const gv = a.gate[i], s = 1 / (1 + Math.exp(-gv));
        dUp[i] = dAct[i] * gv * s;
        dGate[i] = dAct[i] * a.up[i] * s * (1 + gv * (1 - s));
      }
      weightGrad(name('gate'), null, dGate, a.h2, H, I);
      weightGrad(name('up'), null, dUp, a.h2, H, I);
      const dh2 = this.alloc(T * H);
      linearInputGrad(dh2, dGate, T, H, w('gate'), I);
      linearInputGrad(dh2, dUp, T, H, w('up'), I);
      const dxMid = dx; // the residual passes dx through; the norm's gradient adds to it
      rmsNormBackward(dxMid, gw('postNorm'), dh2, a.xMid, a.invRms2, T, H, w('postNorm'));
      // Attention.
      const dAtt = this.alloc(T * qDim);
      linearInputGrad(dAtt, dxMid, T, qDim, w('o'), H);
      weightGrad(name('o'), name('oBias'), dxMid, a.att, qDim, H);
      const dq = this.alloc(T * qDim), dk = this.alloc(T * kvDim), dv = this.alloc(T * kvDim);
      this.attendBackward(a, dAtt, dq, dk, dv, T);
      rope(dq, T, c.numHeads, hd, this.rope, true);
      rope(dk, T, c.numKvHeads, hd, this.rope, true);
      const dh1 = this.alloc(T * H);
      for (const [role, bias, d, outDim] of [['q', 'qBias', dq, qDim], ['k', 'kBias', dk, kvDim], ['v', 'vBias', dv, kvDim]] as const) {
        weightGrad(name(role), name(bias), d, a.h1, H, outDim);
        linearInputGrad(dh1, d, T, H, w(role), outDim);
      }
      rmsNormBackward(dxMid, gw('inputNorm'), dh1, a.xIn, a.invRms1, T, H, w('inputNorm'));
      dx = dxMid;
    }
    const gEmbed = g(EMBED_TENSOR);
    if (gEmbed) {
      for (let t = 0; t < T; t++) {
        const row = tokens[t] * H;
        for (let i = 0; i < H; i++) gEmbed[row + i] += dx[t * H + i];
      }
    }
    return loss;
  }

  /** Causal GQA attention of the layer's rotated q/k and v; saves the probabilities. */
  private attendForward(a: LayerActivations, T: number): void {
    const c = this.config, hd = c.headDim, qDim = c.numHeads * hd, kvDim = c.numKvHeads * hd;
    const group = c.numHeads / c.numKvHeads, scale = 1 / Math.sqrt(hd);
    const { q, k, v, probs, att } = a;
    for (let head = 0; head < c.numHeads; head++) {
      const ko = Math.floor(head / group) * hd;
      for (let t = 0; t < T; t++) {
        const qo = t * qDim + head * hd, po = (head * T + t) * T;
        let max = -Infinity;
        for (let s = 0; s <= t; s++) {
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += q[qo + d] * k[s * kvDim + ko + d];
          probs[po + s] = dot * scale;
          if (probs[po + s] > max) max = probs[po + s];
        }
        let sum = 0;
        for (let s = 0; s <= t; s++) {
          const e = Math.exp(probs[po + s] - max);
          probs[po + s] = e;
          sum += e;
        }
        for (let s = 0; s <= t; s++) probs[po + s] /= sum;
        for (let d = 0; d < hd; d++) {
          let acc = 0;
          for (let s = 0; s <= t; s++) acc += probs[po + s] * v[s * kvDim + ko + d];
          att[qo + d] = acc;
        }
      }
    }
  }

  /** dq, dk, dv (with respect to the rotated q and k) from d(attention output). */
  private attendBackward(a: LayerActivations, dAtt: Real, dq: Real, dk: Real, dv: Real, T: number): void {
    const c = this.config, hd = c.headDim, qDim = c.numHeads * hd, kvDim = c.numKvHeads * hd;
    const group = c.numHeads / c.numKvHeads, scale = 1 / Math.sqrt(hd);
    const { q, k, v, probs } = a;
    const dScore = new Float64Array(T);
    for (let head = 0; head < c.numHeads; head++) {
      const ko = Math.floor(head / group) * hd;
      for (let t = 0; t < T; t++) {
        const qo = t * qDim + head * hd, po = (head * T + t) * T;
        // dP[s] = dAtt . v[s]; dScore = P * (dP - sum(P * dP)).
        let weighted = 0;
        for (let s = 0; s <= t; s++) {
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += dAtt[qo + d] * v[s * kvDim + ko + d];
          dScore[s] = dot;
          weighted += probs[po + s] * dot;
        }
        for (let s = 0; s <= t; s++) {
          const p = probs[po + s];
          const ds = p * (dScore[s] - weighted) * scale;
          const kr = s * kvDim + ko;
          for (let d = 0; d < hd; d++) {
            dq[qo + d] += ds * k[kr + d];
            dk[kr + d] += ds * q[qo + d];
            dv[kr + d] += p * dAtt[qo + d];
          }
        }
      }
    }
  }
}

/** Whether the configuration has a tensor of this name (biases are optional). */
function hasWeight(c: CausalLMConfig, name: string): boolean {
  const m = /self_attn\.(q|k|v|o)_proj\.bias$/.exec(name);
  if (!m) return true;
  return m[1] === 'o' ? c.outputBias : c.qkvBias;
}
