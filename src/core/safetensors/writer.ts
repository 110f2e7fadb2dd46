// Streaming, sharded safetensors export. The full list of (name, dtype, shape) is known up front,
// so shard assignment and every header are planned before the first byte: each shard's header is
// written first and tensor data then streams straight through, one tensor at a time.
import type { DType } from '../dtype.ts';
import { MergeStudioError } from '../errors.ts';
import type { ByteSink, SinkFactory } from '../io/types.ts';
import { throwIfAborted, type ProgressCallback } from '../progress.ts';
import { INDEX_FILE } from './model.ts';
import { encodeHeader, tensorByteSize, type TensorSpec } from './serialize.ts';

/** Hugging Face's default shard size. */
export const DEFAULT_MAX_SHARD_BYTES = 5e9;

export interface WriterOptions {
  /** Start a new shard before a tensor that would push the current one past this many data bytes. */
  maxShardBytes?: number;
  /** `__metadata__` written into every shard. */
  metadata?: Record<string, string>;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
}

export interface ShardPlan {
  file: string;
  tensors: TensorSpec[];
  dataBytes: number;
}

/** Data of one tensor: whole bytes, or chunks in order (e.g. row blocks coming off the GPU). */
export type TensorData = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

function shardName(i: number, n: number): string {
  return n === 1 ? 'model.safetensors' : `model-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;
}

/** Greedy, order-preserving shard assignment; a tensor larger than the budget gets a shard alone. */
export function planShards(specs: TensorSpec[], maxShardBytes = DEFAULT_MAX_SHARD_BYTES): ShardPlan[] {
  if (!(maxShardBytes > 0)) {
    throw new MergeStudioError('writer-bad-option', `maxShardBytes must be positive, found ${maxShardBytes}`, { found: maxShardBytes });
  }
  const groups: { tensors: TensorSpec[]; dataBytes: number }[] = [];
  let current: { tensors: TensorSpec[]; dataBytes: number } | null = null;
  for (const spec of specs) {
    const bytes = tensorByteSize(spec);
    if (!current || (current.tensors.length > 0 && current.dataBytes + bytes > maxShardBytes)) {
      current = { tensors: [], dataBytes: 0 };
      groups.push(current);
    }
    current.tensors.push(spec);
    current.dataBytes += bytes;
  }
  if (groups.length === 0) groups.push({ tensors: [], dataBytes: 0 });
  return groups.map((g, i) => ({ file: shardName(i, groups.length), ...g }));
}

export interface WriteResult {
  files: string[];
  /** Tensor data bytes over all shards (the index's metadata.total_size). */
  totalBytes: number;
}

export class SafetensorsWriter {
  readonly shards: ShardPlan[];
  private readonly specs: TensorSpec[];
  private next = 0;
  private shardIndex = -1;
  private sink: ByteSink | null = null;
  private readonly finished: string[] = [];
  private state: 'open' | 'done' | 'aborted' = 'open';
  private bytesWritten = 0;
  private readonly totalBytes: number;
  private readonly started = Date.now();

  constructor(private readonly sinks: SinkFactory, specs: TensorSpec[], private readonly opts: WriterOptions = {}) {
    const seen = new Set<string>();
    for (const s of specs) {
      if (seen.has(s.name)) throw new MergeStudioError('safetensors-duplicate-name', `tensor '${s.name}' is planned twice`, { tensor: s.name });
      seen.add(s.name);
    }
    this.specs = specs.map((s) => ({ name: s.name, dtype: s.dtype, shape: [...s.shape] }));
    this.shards = planShards(this.specs, opts.maxShardBytes);
    // Encode every header now so an impossible plan fails before anything is written.
    for (const shard of this.shards) encodeHeader(shard.tensors, opts.metadata);
    this.totalBytes = this.shards.reduce((s, p) => s + p.dataBytes, 0);
  }

  /** Streams the next planned tensor. Names, dtype and shape must match the plan, in order. */
  async add(name: string, dtype: DType, shape: number[], data: TensorData): Promise<void> {
    this.assertOpen();
    try {
      const spec = this.specs[this.next];
      if (!spec || spec.name !== name) {
        throw new MergeStudioError('writer-out-of-order', `expected tensor ${spec ? `'${spec.name}'` : '(none: all planned tensors are written)'} next, got '${name}'`, { tensor: name, expected: spec?.name });
      }
      if (spec.dtype !== dtype || spec.shape.length !== shape.length || spec.shape.some((d, i) => d !== shape[i])) {
        throw new MergeStudioError('writer-plan-mismatch', `tensor '${name}': planned ${spec.dtype} ${JSON.stringify(spec.shape)}, got ${dtype} ${JSON.stringify(shape)}`, { tensor: name });
      }
      await this.openShardFor(this.next);
      const expected = tensorByteSize(spec);
      let written = 0;
      const chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array> = data instanceof Uint8Array ? [data] : data;
      for await (const chunk of chunks) {
        throwIfAborted(this.opts.signal);
        written += chunk.byteLength;
        if (written > expected) break;
        await this.sink!.write(chunk);
      }
      if (written !== expected) {
        throw new MergeStudioError('writer-size-mismatch', `tensor '${name}': ${dtype} ${JSON.stringify(shape)} needs ${expected} bytes, ${written > expected ? 'got more' : `got ${written}`}`, { tensor: name, expected, found: written });
      }
      this.bytesWritten += expected;
      this.next++;
      const shard = this.shards[this.shardIndex];
      if (this.next === this.firstTensorOf(this.shardIndex) + shard.tensors.length) await this.closeShard();
      this.report();
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  /** Closes the last shard and writes the index (when there is more than one shard). */
  async finish(): Promise<WriteResult> {
    this.assertOpen();
    try {
      if (this.next < this.specs.length) {
        throw new MergeStudioError('writer-incomplete', `finish() called after ${this.next} of ${this.specs.length} planned tensors; next is '${this.specs[this.next].name}'`, { tensor: this.specs[this.next].name });
      }
      if (this.specs.length === 0) {
        await this.openShardFor(0);
        await this.closeShard();
      }
      if (this.shards.length > 1) {
        const weightMap: Record<string, string> = {};
        const entries = this.shards.flatMap((s) => s.tensors.map((t) => [t.name, s.file] as const));
        entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        for (const [t, f] of entries) Object.defineProperty(weightMap, t, { value: f, enumerable: true, writable: true, configurable: true });
        const json = JSON.stringify({ metadata: { total_size: this.totalBytes }, weight_map: weightMap }, null, 2) + '\n';
        const bytes = new TextEncoder().encode(json);
        const sink = await this.sinks.create(INDEX_FILE, bytes.byteLength);
        this.sink = sink;
        await sink.write(bytes);
        this.sink = null;
        await sink.close();
        this.finished.push(INDEX_FILE);
      }
      this.state = 'done';
      return { files: [...this.finished], totalBytes: this.totalBytes };
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  /** Discards everything written so far, finished shards included. */
  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    const sink = this.sink;
    this.sink = null;
    await sink?.abort().catch(() => undefined);
    for (const f of this.finished) await this.sinks.remove?.(f).catch(() => undefined);
  }

  private firstTensorOf(shard: number): number {
    let n = 0;
    for (let i = 0; i < shard; i++) n += this.shards[i].tensors.length;
    return n;
  }

  private async openShardFor(tensorIndex: number): Promise<void> {
    if (this.sink) return;
    this.shardIndex++;
    const shard = this.shards[this.shardIndex];
    if (tensorIndex !== this.firstTensorOf(this.shardIndex)) throw new Error('writer: shard bookkeeping out of step'); // unreachable by construction
    const header = encodeHeader(shard.tensors, this.opts.metadata).prefixAndHeader;
    this.sink = await this.sinks.create(shard.file, header.byteLength + shard.dataBytes);
    await this.sink.write(header);
  }

  private async closeShard(): Promise<void> {
    const sink = this.sink!;
    this.sink = null;
    await sink.close();
    this.finished.push(this.shards[this.shardIndex].file);
  }

  private assertOpen(): void {
    if (this.state !== 'open') throw new MergeStudioError('writer-closed', `the writer is already ${this.state === 'done' ? 'finished' : 'aborted'}`);
  }

  private report(): void {
    const seconds = (Date.now() - this.started) / 1000;
    this.opts.onProgress?.({ phase: 'write', done: this.next, total: this.specs.length, bytes: this.bytesWritten, rate: seconds > 0 ? this.bytesWritten / seconds : undefined });
  }
}
