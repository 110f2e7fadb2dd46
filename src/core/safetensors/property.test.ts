// Property tests: random valid models round-trip through the writer and reader byte-exactly, and
// random corruptions of valid files either still describe a valid file or fail with a MergeStudioError.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DType } from '../dtype.ts';
import { MergeStudioError } from '../errors.ts';
import { memorySinks, memorySource, memoryTree } from '../io/memory.ts';
import { openSafetensorsModel, readSafetensorsHeader, readTensorBytes, SafetensorsWriter, serializeSafetensors } from './index.ts';

// Element sizes written out here, independently of dtype.ts, so the check does not trust the code under test.
const BITS: Record<string, number> = {
  BOOL: 8, U8: 8, I8: 8, U16: 16, I16: 16, U32: 32, I32: 32, U64: 64, I64: 64, F16: 16, BF16: 16, F32: 32, F64: 64, C64: 64,
  F8_E4M3: 8, F8_E5M2: 8, F8_E8M0: 8, F4: 4, F6_E2M3: 6, F6_E3M2: 6,
};
const DTYPES = Object.keys(BITS) as DType[];

interface GenTensor { name: string; dtype: DType; shape: number[]; data: Uint8Array }

const tensorName = fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }).filter((s) => s !== '__metadata__');
const shapeArb = fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 });
const tensorArb = (name: string) =>
  fc.tuple(fc.constantFrom(...DTYPES), shapeArb).chain(([dtype, shape0]) => {
    const elements = shape0.reduce((a, b) => a * b, 1);
    // Sub-byte dtypes need a whole number of bytes: widen the last dimension when they do not.
    const shape = (elements * BITS[dtype]) % 8 === 0 ? shape0 : [...shape0, 4];
    const bytes = (shape.reduce((a, b) => a * b, 1) * BITS[dtype]) / 8;
    return fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((data): GenTensor => ({ name, dtype, shape, data }));
  });
const modelArb = fc
  .uniqueArray(tensorName, { maxLength: 6 })
  .chain((names) => (names.length === 0 ? fc.constant([] as GenTensor[]) : fc.tuple(...names.map(tensorArb))));
const metadataArb = fc.option(fc.dictionary(fc.string({ unit: 'binary', maxLength: 6 }), fc.string({ unit: 'binary', maxLength: 10 }), { maxKeys: 3 }), { nil: undefined });

describe('writer -> reader round trip', () => {
  it('random models (names, dtypes, shapes, metadata, shard budgets) come back byte-exactly', async () => {
    await fc.assert(
      fc.asyncProperty(modelArb, metadataArb, fc.integer({ min: 1, max: 200 }), async (tensors, metadata, budget) => {
        const sinks = memorySinks();
        const writer = new SafetensorsWriter(sinks, tensors, { maxShardBytes: budget, metadata });
        for (const t of tensors) await writer.add(t.name, t.dtype, t.shape, t.data);
        await writer.finish();
        const model = await openSafetensorsModel(memoryTree(sinks.files));
        expect([...model.tensors.keys()].sort()).toEqual(tensors.map((t) => t.name).sort());
        for (const t of tensors) {
          const info = model.tensors.get(t.name)!;
          expect(info.dtype).toBe(t.dtype);
          expect(info.shape).toEqual(t.shape);
          expect(await readTensorBytes(info)).toEqual(t.data);
        }
        if (tensors.length > 0) expect(model.metadata).toEqual(metadata && Object.keys(metadata).length ? { ...metadata } : {});
      }),
      { numRuns: 300 },
    );
  });
});

// ---- corruption ----

type Corruption =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; byte: number }
  | { kind: 'headerEdit'; at: number; text: string; removed: number }
  | { kind: 'number'; which: number; value: number }
  | { kind: 'length'; delta: number }
  | { kind: 'moveTensor'; which: number; delta: number };

const corruptionArb: fc.Arbitrary<Corruption> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  {
    weight: 2,
    arbitrary: fc.record({
    kind: fc.constant('headerEdit' as const),
    at: fc.nat(),
    removed: fc.integer({ min: 0, max: 4 }),
    text: fc.oneof(fc.string({ unit: fc.constantFrom(...'{}[],:"0123456789-. e'.split('')), maxLength: 4 }), fc.constantFrom(...DTYPES, '__metadata__', 'null', '1e400', '-0', '"x"')),
    }),
  },
  // Rewriting one number of the header (an offset or a dimension) reaches the gap/overlap/size rules.
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('number' as const), which: fc.nat(), value: fc.oneof(fc.integer({ min: -2, max: 300 }), fc.constant(2 ** 53), fc.constant(1.5)) }) },
  fc.record({ kind: fc.constant('length' as const), delta: fc.integer({ min: -16, max: 16 }) }),
  // Moving a tensor's whole [begin, end) keeps its size right, so only the tiling rules can object.
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('moveTensor' as const), which: fc.nat(), delta: fc.integer({ min: -8, max: 8 }) }) },
);

/** Edits the header text and fixes the length prefix; leaves files whose prefix is already broken alone. */
function withHeader(file: Uint8Array, edit: (json: string) => string): Uint8Array {
  if (file.length < 8) return file;
  const n = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  if (8 + n > file.length) return file;
  const json = new TextDecoder().decode(file.subarray(8, 8 + n));
  const edited = new TextEncoder().encode(edit(json));
  const out = new Uint8Array(8 + edited.byteLength + file.byteLength - 8 - n);
  new DataView(out.buffer).setBigUint64(0, BigInt(edited.byteLength), true);
  out.set(edited, 8);
  out.set(file.subarray(8 + n), 8 + edited.byteLength);
  return out;
}

function corrupt(file: Uint8Array, c: Corruption): Uint8Array {
  switch (c.kind) {
    case 'flip': {
      if (file.length === 0) return file;
      const out = file.slice();
      out[c.at % out.length] ^= 1 << c.bit;
      return out;
    }
    case 'truncate':
      if (file.length === 0) return file;
      return file.slice(0, c.at % file.length);
    case 'insert': {
      const at = c.at % (file.length + 1);
      const out = new Uint8Array(file.length + 1);
      out.set(file.subarray(0, at));
      out[at] = c.byte;
      out.set(file.subarray(at), at + 1);
      return out;
    }
    case 'headerEdit':
      return withHeader(file, (json) => {
        const at = c.at % (json.length + 1);
        return json.slice(0, at) + c.text + json.slice(at + c.removed);
      });
    case 'number':
      return withHeader(file, (json) => {
        const numbers = [...json.matchAll(/\d+/g)];
        if (numbers.length === 0) return json;
        const m = numbers[c.which % numbers.length];
        return json.slice(0, m.index) + String(c.value) + json.slice(m.index! + m[0].length);
      });
    case 'moveTensor':
      return withHeader(file, (json) => {
        const pairs = [...json.matchAll(/"data_offsets":\[(\d+),(\d+)\]/g)];
        if (pairs.length === 0) return json;
        const m = pairs[c.which % pairs.length];
        const moved = `"data_offsets":[${Number(m[1]) + c.delta},${Number(m[2]) + c.delta}]`;
        return json.slice(0, m.index) + moved + json.slice(m.index! + m[0].length);
      });
    case 'length': {
      if (file.length < 8) return file;
      const out = file.slice();
      const view = new DataView(out.buffer);
      view.setBigUint64(0, BigInt.asUintN(64, view.getBigUint64(0, true) + BigInt(c.delta)), true);
      return out;
    }
  }
}

/** Independent check that an accepted parse describes a well-formed file. */
function assertWellFormed(file: Uint8Array, h: Awaited<ReturnType<typeof readSafetensorsHeader>>): void {
  const n = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  expect(h.headerBytes).toBe(n);
  const raw = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + n))) as Record<string, unknown>;
  expect(new Set(h.tensors.keys())).toEqual(new Set(Object.keys(raw).filter((k) => k !== '__metadata__')));
  let at = 8 + n;
  const sorted = [...h.tensors.values()].sort((a, b) => a.offset - b.offset || a.bytes - b.bytes);
  for (const t of sorted) {
    expect(t.offset).toBe(at);
    const bits = t.shape.reduce((acc, d) => acc * BigInt(d), 1n) * BigInt(BITS[t.dtype]);
    expect(bits % 8n).toBe(0n);
    expect(BigInt(t.bytes)).toBe(bits / 8n);
    at += t.bytes;
  }
  expect(at).toBe(file.length);
}

describe('corrupted files', () => {
  it('parse to a valid description or fail with a MergeStudioError: never another exception, never a hang (10,000+ cases)', async () => {
    let cases = 0;
    let accepted = 0;
    const codes = new Map<string, number>();
    const t0 = performance.now();
    await fc.assert(
      fc.asyncProperty(modelArb, metadataArb, fc.array(corruptionArb, { minLength: 1, maxLength: 3 }), async (tensors, metadata, corruptions) => {
        let file = serializeSafetensors(tensors, metadata);
        for (const c of corruptions) file = corrupt(file, c);
        cases++;
        let result;
        try {
          result = await readSafetensorsHeader(memorySource(file, 'fuzz.safetensors'));
        } catch (err) {
          if (!(err instanceof MergeStudioError)) throw err;
          expect(err.message).toContain('fuzz.safetensors');
          codes.set(err.code, (codes.get(err.code) ?? 0) + 1);
          return;
        }
        accepted++;
        assertWellFormed(file, result);
      }),
      { numRuns: 10_000 },
    );
    const seconds = (performance.now() - t0) / 1000;
    console.log(`corruption fuzz: ${cases} cases in ${seconds.toFixed(1)} s, ${accepted} still valid, rejections by code:`, Object.fromEntries([...codes].sort((a, b) => b[1] - a[1])));
    expect(cases).toBeGreaterThanOrEqual(10_000);
    // The corruptions must reach the deep rules, not only break the JSON.
    for (const code of ['safetensors-gap', 'safetensors-overlap', 'safetensors-size-mismatch', 'safetensors-trailing-bytes', 'safetensors-truncated', 'safetensors-unknown-dtype', 'safetensors-header-json']) {
      expect(codes.get(code) ?? 0, code).toBeGreaterThan(0);
    }
  }, 60_000);
});
