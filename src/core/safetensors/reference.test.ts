// Differential test against the reference implementation (huggingface/safetensors, its Rust core
// through the Python binding). Runs where a Python with `safetensors` is available: set
// REFERENCE_PYTHON to its interpreter, or have it importable from `python3`; skipped otherwise.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DType } from '../dtype.ts';
import { MergeStudioError } from '../errors.ts';
import { nodeFolderSinks } from '../io/node-file.ts';
import { memorySource } from '../io/memory.ts';
import { BAD_FILES } from './bad-files.testdata.ts';
import { readSafetensorsHeader, readTensorBytes, SafetensorsWriter, serializeSafetensors, type SafetensorsHeader } from './index.ts';

const python = process.env.REFERENCE_PYTHON ?? 'python3';
const hasReference = spawnSync(python, ['-c', 'import safetensors'], { stdio: 'ignore' }).status === 0;

// Reads each path from stdin with the reference and prints one JSON line per file.
const READER = `
import sys, json, hashlib
from safetensors import deserialize, safe_open
for path in sys.stdin.read().split("\\n"):
    if not path: continue
    try:
        tensors = {name: [t["dtype"], list(t["shape"]), hashlib.sha256(bytes(t["data"])).hexdigest()] for name, t in deserialize(open(path, "rb").read())}
        with safe_open(path, "np") as f: metadata = f.metadata() or {}
        print(json.dumps({"ok": True, "tensors": tensors, "metadata": metadata}))
    except Exception as e:
        print(json.dumps({"ok": False, "error": str(e)[:200]}))
`;

type RefResult = { ok: true; tensors: Record<string, [string, number[], string]>; metadata: Record<string, string> } | { ok: false; error: string };

function referenceRead(paths: string[]): RefResult[] {
  const r = spawnSync(python, ['-c', READER], { input: paths.join('\n'), encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`reference reader failed: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  expect(lines.length).toBe(paths.length);
  return lines.map((l) => JSON.parse(l) as RefResult);
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function ours(file: Uint8Array): Promise<SafetensorsHeader | MergeStudioError> {
  try {
    return await readSafetensorsHeader(memorySource(file, 'candidate.safetensors'));
  } catch (err) {
    if (err instanceof MergeStudioError) return err;
    throw err;
  }
}

async function describeOurs(h: SafetensorsHeader): Promise<Record<string, [string, number[], string]>> {
  const out: Record<string, [string, number[], string]> = {};
  for (const t of h.tensors.values()) out[t.name] = [t.dtype, t.shape, sha256(await readTensorBytes(t))];
  return out;
}

/** Where we are deliberately stricter than the reference (the task's rules): a header must start
 * with '{', and a tensor name may not appear twice (the reference keeps the last one). */
const STRICTER = new Set(['safetensors-header-start', 'safetensors-duplicate-name']);

describe.skipIf(!hasReference)('agreement with the reference safetensors implementation', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ms-ref-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('the reference reads every shard our writer produces, with identical tensors and metadata', async () => {
    const dtypes: DType[] = ['BOOL', 'U8', 'I8', 'U16', 'I16', 'U32', 'I32', 'U64', 'I64', 'F16', 'BF16', 'F32', 'F64', 'F8_E4M3', 'F8_E5M2'];
    const models = fc.sample(
      fc.uniqueArray(fc.string({ unit: 'binary', minLength: 1, maxLength: 10 }).filter((s) => s !== '__metadata__'), { minLength: 1, maxLength: 6 }).chain((names) =>
        fc.tuple(...names.map((name) => fc.tuple(fc.constantFrom(...dtypes), fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 })).map(([dtype, shape]) => ({ name, dtype, shape }))))),
      { numRuns: 40, seed: 20261123 },
    );
    const paths: string[] = [];
    const expected: Record<string, [string, number[], string]>[] = [];
    for (const [m, specs] of models.entries()) {
      const data = specs.map((s, k) => new Uint8Array(((s.shape.reduce((a, b) => a * b, 1) * { BOOL: 1, U8: 1, I8: 1, F8_E4M3: 1, F8_E5M2: 1, U16: 2, I16: 2, F16: 2, BF16: 2, U32: 4, I32: 4, F32: 4, U64: 8, I64: 8, F64: 8 }[s.dtype as string]!))).map((_, i) => (i * 31 + k * 7 + m) & 0xff));
      const sub = join(dir, `w${m}`);
      const writer = new SafetensorsWriter(nodeFolderSinks(sub), specs, { maxShardBytes: 24, metadata: { format: 'pt', model: String(m) } });
      for (const [k, s] of specs.entries()) await writer.add(s.name, s.dtype, s.shape, data[k]);
      const { files } = await writer.finish();
      for (const shard of writer.shards) {
        expect(files).toContain(shard.file);
        paths.push(join(sub, shard.file));
        const want: Record<string, [string, number[], string]> = {};
        for (const t of shard.tensors) want[t.name] = [t.dtype, t.shape, sha256(data[specs.findIndex((s) => s.name === t.name)])];
        expected.push(want);
      }
    }
    const results = referenceRead(paths);
    results.forEach((r, i) => {
      expect(r, paths[i]).toMatchObject({ ok: true });
      if (r.ok) {
        expect(r.tensors).toEqual(expected[i]);
        expect(r.metadata.format).toBe('pt');
      }
    });
  });

  it('the reference rejects every broken file in our table, except where we are stricter on purpose', async () => {
    const paths = await Promise.all(BAD_FILES.map(async (c, i) => {
      const p = join(dir, `bad-${i}.safetensors`);
      await writeFile(p, c.file);
      return p;
    }));
    const results = referenceRead(paths);
    BAD_FILES.forEach((c, i) => {
      if (STRICTER.has(c.code) && results[i].ok) return;
      expect(results[i].ok, `${c.name}: the reference accepted it`).toBe(false);
    });
  });

  it('on 3,000 corrupted files, accepts and rejects exactly what the reference does (outside the stricter rules)', async () => {
    const dtypes: DType[] = ['U8', 'F16', 'BF16', 'F32', 'I64', 'F8_E4M3'];
    const corruptions = fc.sample(
      fc.tuple(
        fc.array(fc.tuple(fc.constantFrom(...dtypes), fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 })), { minLength: 1, maxLength: 4 }),
        fc.oneof(
          fc.record({ kind: fc.constant('flip'), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
          fc.record({ kind: fc.constant('text'), at: fc.nat(), removed: fc.integer({ min: 0, max: 3 }), text: fc.oneof(fc.string({ unit: fc.constantFrom(...'{}[],:"0123456789-. eE'.split('')), maxLength: 3 }), fc.constantFrom('"F16"', '"BF16"', '"__metadata__":{}', '2.0', '1e1', '-0', 'null')) }),
          fc.record({ kind: fc.constant('number'), which: fc.nat(), value: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.constantFrom('4.0', '1e1', '-0', '-1')) }),
        ),
      ),
      { numRuns: 3000, seed: 7 },
    );
    const files = corruptions.map(([specs, c], m) => {
      const tensors = specs.map(([dtype, shape], k) => {
        const bytes = shape.reduce((a, b) => a * b, 1) * ({ U8: 1, F8_E4M3: 1, F16: 2, BF16: 2, F32: 4, I64: 8 } as Record<string, number>)[dtype];
        return { name: `t${k}`, dtype, shape, data: new Uint8Array(bytes).map((_, i) => (i + m) & 0xff) };
      });
      const file = serializeSafetensors(tensors, m % 3 === 0 ? { format: 'pt' } : undefined);
      const n = Number(new DataView(file.buffer).getBigUint64(0, true));
      const json = new TextDecoder().decode(file.subarray(8, 8 + n));
      let edited: string;
      if (c.kind === 'flip') {
        const out = file.slice();
        out[c.at % out.length] ^= 1 << (c.bit as number);
        return out;
      }
      if (c.kind === 'text') {
        const at = (c.at as number) % (json.length + 1);
        edited = json.slice(0, at) + c.text + json.slice(at + (c.removed as number));
      } else {
        const numbers = [...json.matchAll(/\d+/g)];
        const hit = numbers[(c.which as number) % numbers.length];
        edited = json.slice(0, hit.index) + String(c.value) + json.slice(hit.index! + hit[0].length);
      }
      const body = new TextEncoder().encode(edited);
      const out = new Uint8Array(8 + body.length + file.length - 8 - n);
      new DataView(out.buffer).setBigUint64(0, BigInt(body.length), true);
      out.set(body, 8);
      out.set(file.subarray(8 + n), 8 + body.length);
      return out;
    });
    const paths = await Promise.all(files.map(async (f, i) => {
      const p = join(dir, `c-${i}.safetensors`);
      await writeFile(p, f);
      return p;
    }));
    const results = referenceRead(paths);
    let bothAccept = 0;
    let bothReject = 0;
    let stricter = 0;
    const disagreements: string[] = [];
    for (const [i, file] of files.entries()) {
      const mine = await ours(file);
      const ref = results[i];
      if (mine instanceof MergeStudioError) {
        if (!ref.ok) bothReject++;
        else if (STRICTER.has(mine.code)) stricter++;
        else disagreements.push(`#${i}: we reject (${mine.code}: ${mine.message}), the reference accepts`);
      } else if (!ref.ok) {
        disagreements.push(`#${i}: we accept, the reference rejects (${ref.error})`);
      } else {
        bothAccept++;
        expect(await describeOurs(mine), `#${i}`).toEqual(ref.tensors);
        expect(mine.metadata, `#${i}`).toEqual(ref.metadata);
      }
    }
    console.log(`reference agreement: ${bothAccept} both accept, ${bothReject} both reject, ${stricter} only we reject (stricter rules), ${disagreements.length} disagreements`);
    expect(disagreements).toEqual([]);
    expect(bothAccept).toBeGreaterThan(100);
  }, 120_000);
});
