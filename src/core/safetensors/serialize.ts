// Building safetensors headers and whole small files in memory.
import { dtypeBits, type DType } from '../dtype.ts';
import { MergeStudioError } from '../errors.ts';
import { MAX_HEADER_BYTES } from './header.ts';

export interface TensorSpec {
  name: string;
  dtype: DType;
  shape: number[];
}

/** Byte size of a tensor, or a typed error when the shape does not fill whole bytes. */
export function tensorByteSize(spec: TensorSpec): number {
  let elements = 1;
  for (const d of spec.shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new MergeStudioError('safetensors-bad-shape', `tensor '${spec.name}': shape entries must be non-negative integers, found ${JSON.stringify(spec.shape)}`, { tensor: spec.name });
    }
    elements *= d;
  }
  const bits = elements * dtypeBits(spec.dtype);
  if (!Number.isSafeInteger(bits) || bits % 8 !== 0) {
    throw new MergeStudioError('safetensors-misaligned', `tensor '${spec.name}': ${elements} elements of ${spec.dtype} do not fill whole bytes`, { tensor: spec.name });
  }
  return bits / 8;
}

/** The 8-byte length prefix plus the JSON header, padded with spaces to a multiple of 8.
 * Tensors are laid out back to back in the order given. */
export function encodeHeader(specs: TensorSpec[], metadata?: Record<string, string>): { prefixAndHeader: Uint8Array; dataBytes: number } {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const seen = new Set<string>();
  let offset = 0;
  for (const s of specs) {
    if (s.name === '__metadata__' || seen.has(s.name)) {
      throw new MergeStudioError('safetensors-duplicate-name', `tensor name '${s.name}' is ${seen.has(s.name) ? 'used twice' : 'reserved'}`, { tensor: s.name });
    }
    seen.add(s.name);
    const bytes = tensorByteSize(s);
    // defineProperty keeps a tensor named like an Object.prototype member (e.g. '__proto__') an ordinary key.
    Object.defineProperty(header, s.name, { value: { dtype: s.dtype, shape: s.shape, data_offsets: [offset, offset + bytes] }, enumerable: true, writable: true, configurable: true });
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  if (padded > MAX_HEADER_BYTES) {
    throw new MergeStudioError('safetensors-header-too-large', `header would be ${padded} bytes, the limit is ${MAX_HEADER_BYTES}; write fewer tensors per file`, { found: padded });
  }
  const out = new Uint8Array(8 + padded).fill(0x20, 8 + json.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  return { prefixAndHeader: out, dataBytes: offset };
}

/** A whole safetensors file in memory (tests, small exports). */
export function serializeSafetensors(tensors: (TensorSpec & { data: Uint8Array })[], metadata?: Record<string, string>): Uint8Array {
  const { prefixAndHeader, dataBytes } = encodeHeader(tensors, metadata);
  const out = new Uint8Array(prefixAndHeader.byteLength + dataBytes);
  out.set(prefixAndHeader);
  let at = prefixAndHeader.byteLength;
  for (const t of tensors) {
    const expected = tensorByteSize(t);
    if (t.data.byteLength !== expected) {
      throw new MergeStudioError('safetensors-size-mismatch', `tensor '${t.name}': ${t.dtype} ${JSON.stringify(t.shape)} needs ${expected} bytes, got ${t.data.byteLength}`, { tensor: t.name, expected, found: t.data.byteLength });
    }
    out.set(t.data, at);
    at += expected;
  }
  return out;
}
