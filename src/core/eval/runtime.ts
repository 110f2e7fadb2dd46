// The one interface both evaluation backends (CPU TypeScript, WebGPU) implement.
import { MergeStudioError } from '../errors.ts';
import type { CausalLMConfig } from './config.ts';
import type { HostTensor } from './weights.ts';

export type EvalBackend = 'cpu' | 'webgpu';

export interface GenerateOptions {
  maxNewTokens: number;
  /** Token ids that end the generation (not included in the result). */
  stopIds?: readonly number[];
  /** Called after each new token with all tokens so far; true ends the generation (token kept). */
  stop?: (generated: readonly number[]) => boolean;
  signal?: AbortSignal;
}

/** A weight replacement: host float32 values, a host tensor in its stored dtype (a bf16/f16 one
 * stays 16-bit, as runtimeForPlan holds merged weights), or (WebGPU only) a float32 GPU buffer of
 * the same size. */
export type WeightUpdate = Float32Array | HostTensor | GPUBuffer;

/** Whether an update is a host tensor (values with their dtype and shape). */
export function isHostTensor(u: WeightUpdate): u is HostTensor {
  return !(u instanceof Float32Array) && 'data' in u;
}

export interface CausalLM {
  readonly backend: EvalBackend;
  readonly config: CausalLMConfig;
  /** Logits at every position of `ids`, row-major [ids.length, vocab]. */
  logits(ids: Int32Array, signal?: AbortSignal): Promise<Float32Array>;
  /** For each continuation c: log p(c[j] | prefix, c[<j]) for every j (natural log, float64).
   * The prefix is run once and shared by all continuations. */
  continuationLogProbs(prefix: Int32Array, continuations: readonly Int32Array[], signal?: AbortSignal): Promise<Float64Array[]>;
  /** For each sequence s: log p(s[j] | s[<j]) for j = 1 .. s.length - 1 (s[0] is context only), the
   * values of continuationLogProbs(s[0:1], [s[1:]]). The backends score the sequences together:
   * their rows go through one forward pass (in chunks that fit), each row attending to its own
   * sequence only (one KV cache per sequence). */
  sequenceLogProbs(sequences: readonly Int32Array[], signal?: AbortSignal): Promise<Float64Array[]>;
  /** Greedy decoding with a KV cache; returns the new tokens without the stop token. */
  generate(prompt: Int32Array, opts: GenerateOptions): Promise<number[]>;
  /** `generate` for many prompts; a backend may advance them together (same results). */
  generateMany(prompts: readonly Int32Array[], opts: GenerateOptions): Promise<number[][]>;
  /** Replaces some weights in place (names as in the checkpoint); the others stay as they are. */
  updateWeights(tensors: ReadonlyMap<string, WeightUpdate>): Promise<void>;
  dispose(): void;
}

/** Rejects token ids outside the vocabulary before they index a weight matrix. */
export function checkTokenIds(ids: Int32Array, vocabSize: number, what: string): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (id < 0 || id >= vocabSize) {
      throw new MergeStudioError('eval-token-out-of-range', `${what}: token id ${id} at position ${i} is outside the vocabulary [0, ${vocabSize})`, { position: i, found: id });
    }
  }
}

/** Refuses sequences that reach past a sliding attention window, which the kernels do not implement
 * (within the window, full causal attention is exactly what sliding-window attention computes). */
export function checkSlidingWindow(config: CausalLMConfig, positions: number): void {
  if (config.slidingWindow !== null && positions > config.slidingWindow) {
    throw new MergeStudioError('eval-sequence-too-long', `a sequence of ${positions} positions is longer than the model's sliding_window (${config.slidingWindow}); sliding-window attention is not implemented`, { found: positions, expected: config.slidingWindow });
  }
}

/** Rows of a batched prefill: prompts grouped up to `rowBudget` tokens; within a group, every
 * prompt's tokens but its last come first and the last tokens (whose logits are wanted) close the
 * group in prompt order. Row order is free: each row carries its sequence and position. */
export function prefillGroups(prompts: readonly Int32Array[], rowBudget = 1024): { members: number[]; tokens: Int32Array; seqs: Int32Array; positions: Int32Array }[] {
  const groups: { members: number[]; tokens: Int32Array; seqs: Int32Array; positions: Int32Array }[] = [];
  let start = 0;
  while (start < prompts.length) {
    let end = start, rows = 0;
    while (end < prompts.length && (end === start || rows + prompts[end].length <= rowBudget)) rows += prompts[end++].length;
    const members = Array.from({ length: end - start }, (_, i) => start + i);
    const tokens = new Int32Array(rows), seqs = new Int32Array(rows), positions = new Int32Array(rows);
    let r = 0;
    const put = (b: number, t: number) => { tokens[r] = prompts[b][t]; seqs[r] = b; positions[r] = t; r++; };
    for (const b of members) for (let t = 0; t < prompts[b].length - 1; t++) put(b, t);
    for (const b of members) put(b, prompts[b].length - 1);
    groups.push({ members, tokens, seqs, positions });
    start = end;
  }
  return groups;
}

/** A forward pass over rows of several sequences: row t is tokens[t] at position positions[t] of
 * sequence seqs[t]; returns the logits of rows [fromRow, T). */
export type SequenceRowsForward = (tokens: Int32Array, seqs: Int32Array, positions: Int32Array, fromRow: number) => Promise<Float32Array>;

/** Greedy generation for many prompts at once, the same for every backend: each prompt's prefill,
 * then one step advances every unfinished sequence together, so each weight row is read once per
 * batch of tokens. */
export async function batchedGreedy(prompts: readonly Int32Array[], opts: GenerateOptions, vocab: number, forward: SequenceRowsForward): Promise<number[][]> {
  const outs = prompts.map((): number[] => []);
  const last: Float32Array[] = [];
  const stopIds = new Set(opts.stopIds ?? []);
  for (const g of prefillGroups(prompts)) {
    const logits = await forward(g.tokens, g.seqs, g.positions, g.tokens.length - g.members.length);
    g.members.forEach((b, i) => { last[b] = logits.subarray(i * vocab, (i + 1) * vocab); });
  }
  let active = prompts.map((_, b) => b);
  while (active.length > 0) {
    const stepping: number[] = [];
    for (const b of active) {
      const next = argmaxRow(last[b], 0, vocab);
      if (stopIds.has(next)) continue;
      outs[b].push(next);
      if (opts.stop?.(outs[b]) || outs[b].length >= opts.maxNewTokens) continue;
      stepping.push(b);
    }
    active = stepping;
    if (active.length === 0) break;
    const tokens = Int32Array.from(active, (b) => outs[b][outs[b].length - 1]);
    const positions = Int32Array.from(active, (b) => prompts[b].length + outs[b].length - 1);
    const rows = await forward(tokens, Int32Array.from(active), positions, 0);
    active.forEach((b, r) => { last[b] = rows.subarray(r * vocab, (r + 1) * vocab); });
  }
  return outs;
}

/** Log-softmax of one logits row at `target`, in float64. */
export function logSoftmaxAt(row: Float32Array, offset: number, vocab: number, target: number): number {
  let max = -Infinity;
  for (let i = 0; i < vocab; i++) if (row[offset + i] > max) max = row[offset + i];
  let sum = 0;
  for (let i = 0; i < vocab; i++) sum += Math.exp(row[offset + i] - max);
  return row[offset + target] - max - Math.log(sum);
}

/** Index of the largest logit; the first one on ties, like torch.argmax. */
export function argmaxRow(row: Float32Array, offset: number, vocab: number): number {
  let best = 0, bestValue = -Infinity;
  for (let i = 0; i < vocab; i++) {
    const v = row[offset + i];
    if (v > bestValue) { bestValue = v; best = i; }
  }
  return best;
}

/** What each backend provides: a forward pass over new tokens on top of its KV cache. Scoring,
 * continuation log-probabilities and greedy generation are built once on it, for both backends.
 * Public calls run one at a time (they share the cache and scratch buffers), in call order. */
export abstract class KvCachedLM implements CausalLM {
  abstract readonly backend: EvalBackend;
  private queue: Promise<unknown> = Promise.resolve();
  constructor(readonly config: CausalLMConfig) {}

  /** Runs `tokens` at positions pos0, pos0+1, ... (positions before pos0 come from the cache; later
   * cached positions are overwritten) and returns the logits of rows [fromRow, tokens.length). */
  protected abstract forward(tokens: Int32Array, pos0: number, fromRow: number, signal?: AbortSignal): Promise<Float32Array>;
  protected abstract replaceWeights(tensors: ReadonlyMap<string, WeightUpdate>): Promise<void>;
  abstract dispose(): void;

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  logits(ids: Int32Array, signal?: AbortSignal): Promise<Float32Array> {
    return this.exclusive(async () => {
      checkTokenIds(ids, this.config.vocabSize, 'logits');
      return ids.length === 0 ? new Float32Array(0) : this.forward(ids, 0, 0, signal);
    });
  }

  continuationLogProbs(prefix: Int32Array, continuations: readonly Int32Array[], signal?: AbortSignal): Promise<Float64Array[]> {
    return this.exclusive(async () => {
      if (prefix.length === 0) throw new MergeStudioError('eval-empty-prefix', 'continuationLogProbs: the prefix must hold at least one token (BOS) to predict from');
      checkTokenIds(prefix, this.config.vocabSize, 'prefix');
      for (const c of continuations) checkTokenIds(c, this.config.vocabSize, 'continuation');
      return this.scoreContinuations(prefix, continuations, signal);
    });
  }

  sequenceLogProbs(sequences: readonly Int32Array[], signal?: AbortSignal): Promise<Float64Array[]> {
    return this.exclusive(async () => {
      sequences.forEach((s, i) => {
        if (s.length === 0) throw new MergeStudioError('eval-empty-prefix', `sequenceLogProbs: sequence ${i} is empty; it must hold at least one token to predict from`);
        checkTokenIds(s, this.config.vocabSize, `sequence ${i}`);
      });
      return this.scoreSequences(sequences, signal);
    });
  }

  generate(prompt: Int32Array, opts: GenerateOptions): Promise<number[]> {
    return this.generateMany([prompt], opts).then((r) => r[0]);
  }

  generateMany(prompts: readonly Int32Array[], opts: GenerateOptions): Promise<number[][]> {
    return this.exclusive(async () => {
      prompts.forEach((p, i) => {
        if (p.length === 0) throw new MergeStudioError('eval-empty-prefix', `generate: prompt ${i} is empty; it must hold at least one token (BOS)`);
        checkTokenIds(p, this.config.vocabSize, `prompt ${i}`);
      });
      return this.greedy(prompts, opts);
    });
  }

  updateWeights(tensors: ReadonlyMap<string, WeightUpdate>): Promise<void> {
    return this.exclusive(() => this.replaceWeights(tensors));
  }

  /** Checked inputs; the prefix runs once, then each continuation after it. */
  protected async scoreContinuations(prefix: Int32Array, continuations: readonly Int32Array[], signal?: AbortSignal): Promise<Float64Array[]> {
    const V = this.config.vocabSize;
    const last = await this.forward(prefix, 0, prefix.length - 1, signal);
    const out: Float64Array[] = [];
    for (const c of continuations) {
      const lp = new Float64Array(c.length);
      if (c.length > 0) lp[0] = logSoftmaxAt(last, 0, V, c[0]);
      if (c.length > 1) {
        const rows = await this.forward(c.subarray(0, c.length - 1), prefix.length, 0, signal);
        for (let j = 1; j < c.length; j++) lp[j] = logSoftmaxAt(rows, (j - 1) * V, V, c[j]);
      }
      out.push(lp);
    }
    return out;
  }

  /** Checked, non-empty sequences; one after the other (a backend with rows of several sequences
   * in one forward pass overrides this). */
  protected async scoreSequences(sequences: readonly Int32Array[], signal?: AbortSignal): Promise<Float64Array[]> {
    const out: Float64Array[] = [];
    for (const s of sequences) out.push((await this.scoreContinuations(s.subarray(0, 1), [s.subarray(1)], signal))[0]);
    return out;
  }

  /** Checked prompts; one after the other through the shared KV cache. */
  protected async greedy(prompts: readonly Int32Array[], opts: GenerateOptions): Promise<number[][]> {
    const V = this.config.vocabSize;
    const stopIds = new Set(opts.stopIds ?? []);
    const outs: number[][] = [];
    for (const prompt of prompts) {
      const out: number[] = [];
      let row = await this.forward(prompt, 0, prompt.length - 1, opts.signal);
      const one = new Int32Array(1);
      while (out.length < opts.maxNewTokens) {
        const next = argmaxRow(row, 0, V);
        if (stopIds.has(next)) break;
        out.push(next);
        if (opts.stop?.(out) || out.length >= opts.maxNewTokens) break;
        one[0] = next;
        row = await this.forward(one, prompt.length + out.length - 1, 0, opts.signal);
      }
      outs.push(out);
    }
    return outs;
  }
}
