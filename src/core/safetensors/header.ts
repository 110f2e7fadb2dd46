// Reading and validating one safetensors header. The rules follow the reference Rust crate
// (huggingface/safetensors, tensor.rs), made stricter where it only has a TODO (`{` first, no
// duplicate keys); each rejection carries its own error code so callers and tests can tell them apart.
import { dtypeBits, isDType, type DType } from '../dtype.ts';
import { MergeStudioError } from '../errors.ts';
import type { ByteSource } from '../io/types.ts';
import { throwIfAborted } from '../progress.ts';

/** Where one tensor's bytes live. `offset` is absolute within `source`. */
export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  source: ByteSource;
  offset: number;
  bytes: number;
  /** File the tensor lives in (a path inside the model's tree, or the source's name). */
  file: string;
}

export interface SafetensorsHeader {
  /** In file order (ascending offsets). */
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
  /** Length of the JSON header, without the 8-byte length prefix. */
  headerBytes: number;
}

const FIRST_READ_BYTES = 64 * 1024;

/** Same cap as the reference implementation. */
export const MAX_HEADER_BYTES = 100_000_000;

function fail(code: string, file: string, message: string, details: Record<string, unknown> = {}): never {
  throw new MergeStudioError(code, `${file}: ${message}`, { file, ...details });
}

/** Names the header-length problem, if any; shared by the streaming and in-memory parsers. */
function checkHeaderLength(file: string, fileSize: number, headerLength: bigint): number {
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    fail('safetensors-header-too-large', file, `header length is ${headerLength} bytes, the limit is ${MAX_HEADER_BYTES}`, { expected: `<= ${MAX_HEADER_BYTES}`, found: headerLength.toString() });
  }
  const n = Number(headerLength);
  if (8 + n > fileSize) {
    fail('safetensors-header-length', file, `header length is ${n} bytes but the file holds only ${fileSize - 8} bytes after the length prefix`, { expected: `<= ${fileSize - 8}`, found: n });
  }
  return n;
}

interface HeaderTextFindings {
  /** A tensor name given twice (top level), or a field given twice inside one tensor entry. */
  duplicate?: { key: string; tensor?: string };
  /** A shape or data_offsets entry that is not a plain unsigned integer literal (`8.0`, `1e2`, `-0`, `-1`). */
  nonInteger?: { tensor: string; field: string; literal: string };
}

const ENTRY_FIELDS = new Set(['dtype', 'shape', 'data_offsets']);

/** What JSON.parse hides but the reference (serde) sees: duplicate keys, where JSON.parse silently
 * keeps the last one, and numbers serde will not read as usize (`2.0`, `1e1`, `-0`) although
 * JSON.parse turns them into non-negative integers.
 * Runs on text that already parsed, so strings and numbers are well-formed. */
function scanHeaderText(json: string): HeaderTextFindings {
  type Frame = { keys: Set<string> | null; lastKey: string; field: string };
  const stack: Frame[] = [];
  const tensorAt = () => stack[0]?.lastKey ?? '';
  let expectKey = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      while (json.charCodeAt(j) !== 0x22) j += json.charCodeAt(j) === 0x5c /* \ */ ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top?.keys && expectKey) {
        const key = JSON.parse(json.slice(i, j + 1)) as string;
        // Top level: tensor names. Depth 2: the fields serde reads (unknown fields and
        // __metadata__ entries are maps where the last duplicate wins there too).
        const checked = stack.length === 1 || (stack.length === 2 && tensorAt() !== '__metadata__' && ENTRY_FIELDS.has(key));
        if (checked && top.keys.has(key)) return { duplicate: { key, tensor: stack.length === 2 ? tensorAt() : undefined } };
        top.keys.add(key);
        top.lastKey = key;
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      const parent = stack[stack.length - 1];
      stack.push({ keys: c === 0x7b ? new Set() : null, lastKey: '', field: parent?.keys ? parent.lastKey : '' });
      expectKey = c === 0x7b;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = stack[stack.length - 1]?.keys != null;
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1;
      while (j < json.length && /[0-9eE.+-]/.test(json[j])) j++;
      const literal = json.slice(i, j);
      const top = stack[stack.length - 1];
      if (stack.length === 3 && !top.keys && (top.field === 'shape' || top.field === 'data_offsets') && tensorAt() !== '__metadata__' && /[-.eE]/.test(literal)) {
        return { nonInteger: { tensor: tensorAt(), field: top.field, literal } };
      }
      i = j - 1;
    }
  }
  return {};
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

interface RawEntry {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

function parseEntry(file: string, name: string, value: unknown): RawEntry {
  if (!isPlainObject(value)) {
    fail('safetensors-bad-entry', file, `tensor '${name}': expected an object {dtype, shape, data_offsets}, found ${JSON.stringify(value)?.slice(0, 80)}`, { tensor: name });
  }
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== 'string') {
    fail('safetensors-bad-entry', file, `tensor '${name}': 'dtype' must be a string, found ${JSON.stringify(dtype)}`, { tensor: name });
  }
  if (!isDType(dtype)) {
    fail('safetensors-unknown-dtype', file, `tensor '${name}': unknown dtype '${dtype}'`, { tensor: name, found: dtype });
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    fail('safetensors-bad-shape', file, `tensor '${name}': shape must be a list of non-negative integers, found ${JSON.stringify(shape)?.slice(0, 80)}`, { tensor: name, found: shape });
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    fail('safetensors-bad-offsets', file, `tensor '${name}': data_offsets must be [begin, end] with non-negative integers, found ${JSON.stringify(offsets)?.slice(0, 80)}`, { tensor: name, found: offsets });
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) {
    fail('safetensors-bad-offsets', file, `tensor '${name}': data_offsets end ${end} is before begin ${begin}`, { tensor: name, found: offsets });
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

/** Validates a header's JSON text against a file of `fileSize` bytes whose header is `headerLength`
 * bytes long. Pure: used by the streaming reader and by fuzz tests. */
export function parseHeaderJson(file: string, jsonBytes: Uint8Array, fileSize: number, source: ByteSource): SafetensorsHeader {
  const headerLength = jsonBytes.byteLength;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(jsonBytes);
  } catch {
    fail('safetensors-header-not-utf8', file, 'header is not valid UTF-8');
  }
  if (!text.startsWith('{')) {
    fail('safetensors-header-start', file, `header must start with '{', found ${JSON.stringify(text.slice(0, 16))}`, { found: text.slice(0, 16) });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    fail('safetensors-header-json', file, `header is not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!isPlainObject(parsed)) fail('safetensors-header-json', file, 'header must be a JSON object');
  const findings = scanHeaderText(text);
  if (findings.duplicate) {
    const { key, tensor } = findings.duplicate;
    fail('safetensors-duplicate-name', file, tensor !== undefined ? `tensor '${tensor}': field '${key}' appears twice` : `tensor name '${key}' appears twice`, { tensor: tensor ?? key, found: key });
  }
  if (findings.nonInteger) {
    const { tensor, field, literal } = findings.nonInteger;
    fail(field === 'shape' ? 'safetensors-bad-shape' : 'safetensors-bad-offsets', file, `tensor '${tensor}': ${field} entries must be non-negative integers, found ${literal}`, { tensor, found: literal });
  }

  const metadata: Record<string, string> = {};
  const entries: RawEntry[] = [];
  for (const [name, value] of Object.entries(parsed)) {
    if (name === '__metadata__') {
      if (value === null) continue;
      if (!isPlainObject(value)) fail('safetensors-bad-metadata', file, `__metadata__ must be an object of strings, found ${JSON.stringify(value).slice(0, 80)}`);
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string') {
          fail('safetensors-bad-metadata', file, `__metadata__ value of '${k}' must be a string, found ${JSON.stringify(v)?.slice(0, 80)}`, { found: v });
        }
        metadata[k] = v;
      }
      continue;
    }
    entries.push(parseEntry(file, name, value));
  }

  // Offsets, sorted, must tile [0, data size) exactly: no gaps, no overlaps.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expectedBegin = 0;
  let previous: RawEntry | null = null;
  for (const e of entries) {
    if (e.begin > expectedBegin) {
      fail('safetensors-gap', file, `tensor '${e.name}' starts at data offset ${e.begin}, expected ${expectedBegin}${previous ? ` (end of '${previous.name}')` : ''}: ${e.begin - expectedBegin} unused bytes`, { tensor: e.name, expected: expectedBegin, found: e.begin });
    }
    if (e.begin < expectedBegin) {
      fail('safetensors-overlap', file, `tensor '${e.name}' starts at data offset ${e.begin}, inside '${previous!.name}' which ends at ${expectedBegin}`, { tensor: e.name, expected: expectedBegin, found: e.begin });
    }
    let elements = 1;
    for (const d of e.shape) {
      elements *= d;
      if (!Number.isSafeInteger(elements)) {
        fail('safetensors-overflow', file, `tensor '${e.name}': shape ${JSON.stringify(e.shape)} has too many elements`, { tensor: e.name });
      }
    }
    const bits = elements * dtypeBits(e.dtype);
    if (!Number.isSafeInteger(bits)) {
      fail('safetensors-overflow', file, `tensor '${e.name}': shape ${JSON.stringify(e.shape)} of ${e.dtype} is too large`, { tensor: e.name });
    }
    if (bits % 8 !== 0) {
      fail('safetensors-misaligned', file, `tensor '${e.name}': ${elements} elements of ${e.dtype} (${dtypeBits(e.dtype)} bits) do not fill whole bytes`, { tensor: e.name });
    }
    if (e.end - e.begin !== bits / 8) {
      fail('safetensors-size-mismatch', file, `tensor '${e.name}': ${e.dtype} ${JSON.stringify(e.shape)} needs ${bits / 8} bytes, data_offsets [${e.begin}, ${e.end}] span ${e.end - e.begin}`, { tensor: e.name, expected: bits / 8, found: e.end - e.begin });
    }
    expectedBegin = e.end;
    previous = e;
  }

  const dataStart = 8 + headerLength;
  const dataEnd = dataStart + expectedBegin;
  if (dataEnd > fileSize) {
    fail('safetensors-truncated', file, `tensor data ends at byte ${dataEnd}${previous ? ` (end of '${previous.name}')` : ''} but the file has ${fileSize} bytes`, { tensor: previous?.name, expected: dataEnd, found: fileSize });
  }
  if (dataEnd < fileSize) {
    fail('safetensors-trailing-bytes', file, `${fileSize - dataEnd} bytes follow the last tensor's data (data ends at ${dataEnd}, file has ${fileSize} bytes)`, { tensor: previous?.name, expected: dataEnd, found: fileSize });
  }

  const tensors = new Map<string, TensorInfo>();
  for (const e of entries) {
    tensors.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape, source, offset: dataStart + e.begin, bytes: e.end - e.begin, file });
  }
  return { tensors, metadata, headerBytes: headerLength };
}

/** Reads and validates the header of one safetensors file; reads no tensor data. */
export async function readSafetensorsHeader(source: ByteSource, signal?: AbortSignal): Promise<SafetensorsHeader> {
  throwIfAborted(signal);
  const file = source.name;
  if (source.size < 8) {
    fail('safetensors-header-too-small', file, `file has ${source.size} bytes, fewer than the 8-byte header length`, { expected: '>= 8', found: source.size });
  }
  // One read usually covers prefix and header (most headers are a few KiB), which halves the
  // round trips for HTTP sources; a longer header costs one more read, after its length is checked.
  const first = await source.read(0, Math.min(source.size, FIRST_READ_BYTES), signal);
  const n = checkHeaderLength(file, source.size, new DataView(first.buffer, first.byteOffset, 8).getBigUint64(0, true));
  const json = 8 + n <= first.byteLength ? first.subarray(8, 8 + n) : await source.read(8, n, signal);
  return parseHeaderJson(file, json, source.size, source);
}
