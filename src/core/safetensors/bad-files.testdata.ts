// Hand-built broken safetensors files, one per validation rule, with the error code each must
// produce. Shared by the validation table and the cross-check against the reference implementation.

/** Builds a file from a raw header string (no padding added) and a data section. */
export function rawFile(header: string, dataBytes = 0, declaredLength?: bigint): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.byteLength + dataBytes);
  new DataView(out.buffer).setBigUint64(0, declaredLength ?? BigInt(json.byteLength), true);
  out.set(json, 8);
  return out;
}
export const entry = (dtype: string, shape: number[], begin: number, end: number) => ({ dtype, shape, data_offsets: [begin, end] });
export const header = (obj: Record<string, unknown>) => JSON.stringify(obj);

export interface BadFileCase {
  name: string;
  file: Uint8Array;
  code: string;
  /** Words the message must contain (file, tensor, expected/found). */
  mentions: string[];
}

export const BAD_FILES: BadFileCase[] = [
  { name: 'file shorter than the 8-byte length', file: new Uint8Array(5), code: 'safetensors-header-too-small', mentions: ['5 bytes'] },
  { name: 'truncated header (length says 40, 10 bytes follow)', file: rawFile('{"a":1}  x', 0, 40n), code: 'safetensors-header-length', mentions: ['40'] },
  { name: 'header length larger than the file', file: rawFile('{}', 0, 1000n), code: 'safetensors-header-length', mentions: ['1000'] },
  { name: 'a 1 GB header claim', file: rawFile('{}', 0, 1_000_000_000n), code: 'safetensors-header-too-large', mentions: ['1000000000', '100000000'] },
  { name: 'a 2^64-1 header claim', file: rawFile('{}', 0, 2n ** 64n - 1n), code: 'safetensors-header-too-large', mentions: ['18446744073709551615'] },
  { name: 'header not starting with {', file: rawFile(' {}'), code: 'safetensors-header-start', mentions: ["'{'"] },
  { name: 'header not JSON', file: rawFile('{"a":'), code: 'safetensors-header-json', mentions: ['JSON'] },
  { name: 'header not UTF-8', file: (() => { const f = rawFile('{"\u00e9":1}'); f[10] = 0xff; return f; })(), code: 'safetensors-header-not-utf8', mentions: ['UTF-8'] },
  {
    name: 'overlapping offsets',
    file: rawFile(header({ a: entry('F32', [2], 0, 8), b: entry('F32', [2], 4, 12) }), 12),
    code: 'safetensors-overlap', mentions: ["'b'", "'a'", '4', '8'],
  },
  {
    name: 'gap between tensors',
    file: rawFile(header({ a: entry('F32', [2], 0, 8), b: entry('F32', [2], 12, 20) }), 20),
    code: 'safetensors-gap', mentions: ["'b'", '12', 'expected 8'],
  },
  {
    name: 'first tensor not at offset 0',
    file: rawFile(header({ a: entry('U8', [2], 2, 4) }), 4),
    code: 'safetensors-gap', mentions: ["'a'", 'expected 0'],
  },
  {
    name: 'byte size not matching dtype x shape',
    file: rawFile(header({ w: entry('BF16', [3, 2], 0, 8) }), 8),
    code: 'safetensors-size-mismatch', mentions: ["'w'", 'BF16', '[3,2]', '12', '8'],
  },
  {
    name: 'end before begin',
    file: rawFile(header({ w: entry('U8', [0], 4, 0) }), 4),
    code: 'safetensors-bad-offsets', mentions: ["'w'"],
  },
  {
    name: 'non-string metadata',
    file: rawFile(header({ __metadata__: { format: 'pt', step: 3 }, a: entry('U8', [1], 0, 1) }), 1),
    code: 'safetensors-bad-metadata', mentions: ["'step'", '3'],
  },
  {
    name: 'duplicate tensor names',
    file: rawFile('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1),
    code: 'safetensors-duplicate-name', mentions: ["'a'"],
  },
  {
    name: 'duplicate key inside a tensor entry',
    file: rawFile('{"a":{"dtype":"U8","dtype":"F32","shape":[1],"data_offsets":[0,1]}}', 1),
    code: 'safetensors-duplicate-name', mentions: ["'dtype'", "'a'"],
  },
  {
    name: 'unknown dtype',
    file: rawFile(header({ a: entry('F128', [1], 0, 16) }), 16),
    code: 'safetensors-unknown-dtype', mentions: ["'a'", 'F128'],
  },
  {
    name: 'negative shape entry',
    file: rawFile(header({ a: entry('U8', [-1], 0, 1) }), 1),
    code: 'safetensors-bad-shape', mentions: ["'a'", '-1'],
  },
  {
    name: 'fractional shape entry',
    file: rawFile(header({ a: entry('U8', [1.5], 0, 1) }), 1),
    code: 'safetensors-bad-shape', mentions: ["'a'"],
  },
  {
    name: 'trailing bytes after the data',
    file: rawFile(header({ a: entry('U8', [2], 0, 2) }), 5),
    code: 'safetensors-trailing-bytes', mentions: ['3 bytes'],
  },
  {
    name: 'data running past the end of the file',
    file: rawFile(header({ a: entry('F32', [4], 0, 16) }), 10),
    code: 'safetensors-truncated', mentions: ["'a'"],
  },
  {
    name: 'sub-byte dtype not filling whole bytes',
    file: rawFile(header({ a: entry('F4', [3], 0, 2) }), 2),
    code: 'safetensors-misaligned', mentions: ["'a'", 'F4'],
  },
  {
    name: 'element count overflowing',
    file: rawFile(header({ a: entry('F32', [2 ** 30, 2 ** 30, 2 ** 30], 0, 4) }), 4),
    code: 'safetensors-overflow', mentions: ["'a'"],
  },
  {
    name: 'offset written as a float (JSON.parse would make it an integer)',
    file: rawFile('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2.0]}}', 2),
    code: 'safetensors-bad-offsets', mentions: ["'a'", '2.0'],
  },
  {
    name: 'shape entry written with an exponent',
    file: rawFile('{"a":{"dtype":"U8","shape":[2e0],"data_offsets":[0,2]}}', 2),
    code: 'safetensors-bad-shape', mentions: ["'a'", '2e0'],
  },
  {
    name: 'tensor entry missing data_offsets',
    file: rawFile(header({ a: { dtype: 'U8', shape: [1] } }), 1),
    code: 'safetensors-bad-offsets', mentions: ["'a'"],
  },
];
