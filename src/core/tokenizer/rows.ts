// The embedding / lm_head rows of one model laid out in the merged vocabulary's order, read a row
// block at a time (mergekit/tokenizer/embed.py PermutedEmbeddings, without ever holding a whole
// permuted copy): a model's own row where it has the token (unless an override forces another), the
// token's rule where it lacks it, and past the vocabulary (pad_to_multiple_of) the mean of the
// model's rows over the vocabulary.
import { decodeToF32 } from '../dtype.ts';
import { throwIfAborted } from '../progress.ts';
import type { TensorInfo } from '../safetensors/index.ts';
import { tokenRules, type MergedVocabulary, type TokenRule } from './vocab.ts';

export class PermutedRows {
  readonly cols: number;
  private rules: Map<number, TokenRule> | null = null;
  /** Rule rows of the block read last (every model of a step asks for the same blocks in turn). */
  private block: { start: number; end: number; rows: Map<number, Float32Array> } | null = null;
  private means = new Map<string, Float32Array>();

  /** `inputs`: the tensor each model of the step reads (embedding or lm_head, or the embedding
   * standing in for a tied lm_head); `base`: the recipe's base_model (mergekit passes it whatever
   * the method: a token the base has takes the base's row in the models lacking it). */
  constructor(
    readonly vocab: MergedVocabulary,
    readonly inputs: ReadonlyMap<string, TensorInfo>,
    readonly base: string | undefined,
  ) {
    this.cols = [...inputs.values()][0].shape[1];
  }

  get rows(): number {
    return this.vocab.size;
  }

  private ruleMap(): Map<number, TokenRule> {
    return (this.rules ??= tokenRules(this.vocab, [...this.inputs.keys()], this.base));
  }

  /** Rows [start, end) of `info`, decoded. */
  private async readSource(info: TensorInfo, start: number, end: number, signal?: AbortSignal): Promise<Float32Array> {
    const rowBytes = info.bytes / info.shape[0];
    const bytes = await info.source.read(info.offset + start * rowBytes, (end - start) * rowBytes, signal);
    return decodeToF32(bytes, info.dtype, new Float32Array((end - start) * this.cols));
  }

  private async ruleRow(rule: TokenRule, id: number, signal?: AbortSignal): Promise<Float32Array> {
    if (rule.kind === 'zero') return new Float32Array(this.cols);
    if (rule.kind === 'row') {
      const info = this.inputs.get(rule.model);
      if (!info) throw new Error(`internal: no input tensor for '${rule.model}'`);
      return this.readSource(info, rule.row, rule.row + 1, signal);
    }
    // The mean of the rows of the models that have the token.
    const sum = new Float32Array(this.cols);
    for (const m of rule.models) {
      const row = await this.readSource(this.inputs.get(m)!, this.vocab.permutations.get(m)![id], this.vocab.permutations.get(m)![id] + 1, signal);
      for (let c = 0; c < this.cols; c++) sum[c] += row[c];
    }
    for (let c = 0; c < this.cols; c++) sum[c] /= rule.models.length;
    return sum;
  }

  private async ruleRows(start: number, end: number, signal?: AbortSignal): Promise<Map<number, Float32Array>> {
    if (this.block && this.block.start === start && this.block.end === end) return this.block.rows;
    const rows = new Map<number, Float32Array>();
    const rules = this.ruleMap();
    for (let id = start; id < Math.min(end, this.vocab.count); id++) {
      const rule = rules.get(id);
      if (rule) rows.set(id, await this.ruleRow(rule, id, signal));
    }
    this.block = { start, end, rows };
    return rows;
  }

  /** Rows [start, end) of `model`'s tensor in merged order, into `out` ((end - start) x cols). */
  async read(model: string, start: number, end: number, out: Float32Array, signal?: AbortSignal): Promise<Float32Array> {
    throwIfAborted(signal);
    const info = this.inputs.get(model)!;
    const perm = this.vocab.permutations.get(model)!;
    const cols = this.cols;
    const ruled = await this.ruleRows(start, end, signal);
    const last = Math.min(end, this.vocab.count);
    let id = start;
    while (id < last) {
      const own = perm[id];
      const forced = this.vocab.overrides.get(id)?.force === true;
      if (own < 0 || forced) {
        const row = ruled.get(id);
        if (row) out.set(row, (id - start) * cols);
        else out.fill(0, (id - start) * cols, (id - start + 1) * cols);
        id++;
        continue;
      }
      // A run of ids whose own rows follow each other: one read.
      let runEnd = id + 1;
      while (runEnd < last && perm[runEnd] === perm[runEnd - 1] + 1 && this.vocab.overrides.get(runEnd)?.force !== true) runEnd++;
      const values = await this.readSource(info, own, own + (runEnd - id), signal);
      out.set(values, (id - start) * cols);
      id = runEnd;
    }
    if (end > this.vocab.count) {
      const mean = await this.meanRow(model, signal);
      for (let r = Math.max(start, this.vocab.count); r < end; r++) out.set(mean, (r - start) * cols);
    }
    return out;
  }

  /** Rows [start, end) of `model` as stored (no decoding) when every row of the block is the
   * model's own (the common case: one read per run of consecutive rows); null when the block holds
   * rule, forced or padding rows, which `read` builds in float32. */
  async readStored(model: string, start: number, end: number, signal?: AbortSignal): Promise<Uint8Array | null> {
    if (end > this.vocab.count) return null;
    const perm = this.vocab.permutations.get(model)!;
    const rules = this.ruleMap();
    for (let id = start; id < end; id++) if (perm[id] < 0 || (rules.has(id) && this.vocab.overrides.get(id)?.force === true)) return null;
    throwIfAborted(signal);
    const info = this.inputs.get(model)!;
    const rowBytes = info.bytes / info.shape[0];
    const runs: Uint8Array[] = [];
    let id = start;
    while (id < end) {
      let runEnd = id + 1;
      while (runEnd < end && perm[runEnd] === perm[runEnd - 1] + 1) runEnd++;
      runs.push(await info.source.read(info.offset + perm[id] * rowBytes, (runEnd - id) * rowBytes, signal));
      id = runEnd;
    }
    if (runs.length === 1) return runs[0];
    const out = new Uint8Array((end - start) * rowBytes);
    let at = 0;
    for (const r of runs) {
      out.set(r, at);
      at += r.byteLength;
    }
    return out;
  }

  /** Padding rows: the mean of the model's merged-order rows over the vocabulary (mergekit, after
   * https://nlp.stanford.edu/~johnhew/vocab-expansion.html). */
  private async meanRow(model: string, signal?: AbortSignal): Promise<Float32Array> {
    const cached = this.means.get(model);
    if (cached) return cached;
    const sum = new Float64Array(this.cols);
    const blockRows = Math.max(1, Math.floor((1 << 18) / this.cols));
    const saved = this.block;
    for (let start = 0; start < this.vocab.count; start += blockRows) {
      const end = Math.min(this.vocab.count, start + blockRows);
      const values = await this.read(model, start, end, new Float32Array((end - start) * this.cols), signal);
      for (let i = 0; i < values.length; i++) sum[i % this.cols] += values[i];
    }
    this.block = saved;
    const mean = Float32Array.from(sum, (s) => s / this.vocab.count);
    this.means.set(model, mean);
    return mean;
  }
}
