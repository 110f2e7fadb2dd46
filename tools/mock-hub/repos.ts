// The repos the mock Hub serves: every model folder under the root (a folder holding config.json)
// plus a few broken or special repos derived from one of them, for the bad-input tests.
//
// Mapping (root = public/zoo by default):
//   <root>/<family>/<model>/config.json  ->  zoo/<family>-<model>   (tiny-llama/base -> zoo/tiny-llama-base)
//   <root>/<name>/config.json            ->  zoo/<name>             (stories260K     -> zoo/stories260K)
// Derived from the template model (tiny-llama/base when present, else the first model found):
//   zoo/gated          the template, gated: info and listing public, files 401 without a token, 403 with a wrong one
//   zoo/sharded        the template split into two shards with model.safetensors.index.json
//   zoo/corrupt-shard  like zoo/sharded, but the second shard's header is not JSON
//   zoo/missing-shard  the index names a second shard that is not in the repo
//   zoo/truncated      model.safetensors cut short (the file itself, as uploaded, is incomplete)
//   zoo/bin-only       config.json + pytorch_model.bin and no safetensors
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { readSafetensorsHeader } from '../../src/core/safetensors/header.ts';
import { serializeSafetensors } from '../../src/core/safetensors/serialize.ts';
import { memorySource } from '../../src/core/io/memory.ts';

export const MOCK_NAMESPACE = 'zoo';
/** The token that opens zoo/gated; any other token gets 403. */
export const MOCK_GATED_TOKEN = 'hf_mockhub_gated_access_0123456789';

export interface MockFile {
  path: string;
  /** Size in bytes (a disk-backed file may be larger than any one buffer can hold). */
  size: number;
  /** The content. For a disk-backed file this reads the whole file when first touched (tests of
   * small repos only); serving never touches it, it streams from `disk`. */
  readonly bytes: Uint8Array;
  /** Set for files served from disk, not memory: the path they are read from, range by range. */
  disk?: string;
  /** Stored through Git LFS on the real Hub: the ETag is then the sha256 of the content. */
  lfs: boolean;
  /** Git blob id (sha1 of "blob <size>\0" + content), the ETag of non-LFS files. For an LFS file it
   * is, as on the Hub, the blob id of its LFS pointer file (the content's id is `sha256`). */
  gitOid: string;
  sha256: string;
}

export interface MockRepo {
  id: string;
  commit: string;
  files: Map<string, MockFile>;
  /** When set, the repo is gated and only this token may read it. */
  gatedToken?: string;
  /** Folder it was read from, relative to the root (derived repos name their template). */
  origin: string;
}

const LFS_SUFFIXES = ['.safetensors', '.bin', '.pt', '.pth', '.ckpt', '.gguf', '.onnx', '.parquet'];

const isLfs = (path: string) => LFS_SUFFIXES.some((s) => path.endsWith(s));

const gitBlobId = (bytes: Uint8Array) => createHash('sha1').update(`blob ${bytes.byteLength}\0`).update(bytes).digest('hex');

/** The pointer file Git LFS commits in place of the content (spec: git-lfs docs/spec.md). */
const lfsPointer = (sha256: string, size: number) => new TextEncoder().encode(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${size}\n`);

function mockFile(path: string, bytes: Uint8Array): MockFile {
  const lfs = isLfs(path);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return { path, size: bytes.byteLength, bytes, lfs, gitOid: lfs ? gitBlobId(lfsPointer(sha256, bytes.byteLength)) : gitBlobId(bytes), sha256 };
}

/** Files at least this large are served from disk, range by range, never held in memory (a real
 * model's single model.safetensors is 2.5 GB; Node buffers stop at 2 GiB). */
export const DISK_BACKED_BYTES = 16 * 2 ** 20;

/** sha256 of large files, kept across runs by device, inode, size and mtime (hashing 3 x 2.5 GB on
 * every start of the mock Hub would cost a minute). */
const HASH_CACHE = join(tmpdir(), 'merge-studio-mock-hub-sha256.json');
let hashCache: Record<string, string> | undefined;

async function sha256OfFile(full: string): Promise<string> {
  const st = await stat(full);
  const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
  if (!hashCache) {
    try {
      hashCache = JSON.parse(readFileSync(HASH_CACHE, 'utf8')) as Record<string, string>;
    } catch {
      hashCache = {};
    }
  }
  const known = hashCache[key];
  if (known) return known;
  const h = createHash('sha256');
  for await (const chunk of createReadStream(full, { highWaterMark: 4 * 2 ** 20 })) h.update(chunk as Buffer);
  const hex = h.digest('hex');
  hashCache[key] = hex;
  try {
    writeFileSync(HASH_CACHE, JSON.stringify(hashCache));
  } catch {
    // An unwritable tmpdir only costs the next start a rehash.
  }
  return hex;
}

/** A file served from disk: size and ids from the file, content streamed per request. */
export async function diskFile(path: string, full: string): Promise<MockFile> {
  const st = await stat(full);
  const lfs = isLfs(path);
  const sha256 = await sha256OfFile(full);
  let gitOid: string;
  if (lfs) gitOid = gitBlobId(lfsPointer(sha256, st.size));
  else {
    const g = createHash('sha1').update(`blob ${st.size}\0`);
    for await (const chunk of createReadStream(full, { highWaterMark: 4 * 2 ** 20 })) g.update(chunk as Buffer);
    gitOid = g.digest('hex');
  }
  let cached: Uint8Array | undefined;
  return {
    path,
    size: st.size,
    get bytes() {
      cached ??= new Uint8Array(readFileSync(full));
      return cached;
    },
    disk: full,
    lfs,
    gitOid,
    sha256,
  };
}

/** A repo of files given as bytes or as already-built MockFiles (disk-backed ones stay on disk). */
export function makeRepo(id: string, origin: string, files: [string, Uint8Array | MockFile][], gatedToken?: string): MockRepo {
  const asFile = (p: string, b: Uint8Array | MockFile): MockFile => {
    if (b instanceof Uint8Array) return mockFile(p, b);
    if (b.path === p) return b;
    // Copied with its descriptors: spreading would call a disk-backed file's `bytes` getter.
    const copy = Object.defineProperties({}, Object.getOwnPropertyDescriptors(b)) as MockFile;
    copy.path = p;
    return copy;
  };
  const map = new Map(files.sort(([a], [b]) => (a < b ? -1 : 1)).map(([p, b]) => [p, asFile(p, b)]));
  // A deterministic "commit": changes whenever any file's content changes.
  const h = createHash('sha1').update(id);
  for (const f of map.values()) h.update(`${f.path}\0${f.sha256}\0`);
  return { id, commit: h.digest('hex'), files: map, gatedToken, origin };
}

async function listFilesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFilesUnder(full)));
    else if (e.isFile()) out.push(full);
  }
  return out;
}

async function findModelFolders(root: string): Promise<string[]> {
  const found: string[] = [];
  async function walk(dir: string, depth: number): Promise<void> {
    const entries = await readdir(dir, { withFileTypes: true });
    if (entries.some((e) => e.isFile() && e.name === 'config.json')) {
      found.push(dir);
      return;
    }
    if (depth >= 2) return;
    for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.')) await walk(join(dir, e.name), depth + 1);
  }
  await walk(root, 0);
  return found.sort();
}

/** Splits one safetensors file into two shards plus an index, tensors kept in file order. */
async function shard(bytes: Uint8Array, name: string): Promise<[string, Uint8Array][]> {
  const header = await readSafetensorsHeader(memorySource(bytes, name));
  const tensors = [...header.tensors.values()];
  const half = Math.max(1, Math.floor(tensors.length / 2));
  const groups = [tensors.slice(0, half), tensors.slice(half)];
  const shardNames = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  const weightMap: Record<string, string> = {};
  const out: [string, Uint8Array][] = [];
  let total = 0;
  groups.forEach((group, i) => {
    for (const t of group) weightMap[t.name] = shardNames[i];
    total += group.reduce((s, t) => s + t.bytes, 0);
    out.push([shardNames[i], serializeSafetensors(group.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: bytes.slice(t.offset, t.offset + t.bytes) })), header.metadata)]);
  });
  const index = { metadata: { total_size: total }, weight_map: weightMap };
  out.push(['model.safetensors.index.json', new TextEncoder().encode(JSON.stringify(index, null, 2) + '\n')]);
  return out;
}

/** Breaks a safetensors header while keeping its length prefix, so the damage is in the JSON. */
function corruptHeader(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  const n = Number(new DataView(out.buffer).getBigUint64(0, true));
  out.fill(0x7e /* ~ */, 8 + Math.floor(n / 3), 8 + Math.floor(n / 3) + Math.min(16, n));
  return out;
}

function derivedRepos(template: MockRepo, gatedToken: string): MockRepo[] {
  const files = [...template.files.values()];
  const others = files.filter((f) => !f.path.endsWith('.safetensors') && !f.path.endsWith('.index.json')).map((f): [string, MockFile] => [f.path, f]);
  const weights = template.files.get('model.safetensors');
  const origin = template.origin;
  const repos = [makeRepo(`${MOCK_NAMESPACE}/gated`, origin, files.map((f) => [f.path, f]), gatedToken)];
  // A pickle zip is never parsed by the product; a recognisable stub stands in for one.
  const pickle = new TextEncoder().encode('PK\u0003\u0004 stand-in for a PyTorch pickle archive; Merge Studio never reads it\n');
  repos.push(makeRepo(`${MOCK_NAMESPACE}/bin-only`, origin, [...others, ['pytorch_model.bin', pickle]]));
  // The cut and sharded variants are built in memory: only from a template that is held there.
  if (weights && !weights.disk) {
    repos.push(makeRepo(`${MOCK_NAMESPACE}/truncated`, origin, [...others, ['model.safetensors', weights.bytes.slice(0, Math.floor(weights.bytes.byteLength * 0.6))]]));
  }
  return repos;
}

async function shardedRepos(template: MockRepo): Promise<MockRepo[]> {
  const weights = template.files.get('model.safetensors');
  if (!weights || weights.disk) return [];
  const others = [...template.files.values()].filter((f) => f.path !== 'model.safetensors').map((f): [string, MockFile] => [f.path, f]);
  const shards = await shard(weights.bytes, `${template.id}/model.safetensors`);
  const corrupt = shards.map(([p, b]): [string, Uint8Array] => [p, p === 'model-00002-of-00002.safetensors' ? corruptHeader(b) : b]);
  const missing = shards.filter(([p]) => p !== 'model-00002-of-00002.safetensors');
  return [
    makeRepo(`${MOCK_NAMESPACE}/sharded`, template.origin, [...others, ...shards]),
    makeRepo(`${MOCK_NAMESPACE}/corrupt-shard`, template.origin, [...others, ...corrupt]),
    makeRepo(`${MOCK_NAMESPACE}/missing-shard`, template.origin, [...others, ...missing]),
  ];
}

/** Reads every model folder under `root` and builds the served repos. Small files are kept in
 * memory; files of DISK_BACKED_BYTES or more are served from disk (hashed once, streamed per
 * request), so real-size models of many GB are served too. */
export async function loadMockRepos(root: string, opts: { gatedToken?: string; template?: string } = {}): Promise<Map<string, MockRepo>> {
  const repos = new Map<string, MockRepo>();
  const st = await stat(root).catch(() => null);
  if (!st?.isDirectory()) throw new Error(`mock hub: root '${root}' is not a folder`);
  for (const folder of await findModelFolders(root)) {
    const rel = relative(root, folder).split(sep).join('/');
    const id = `${MOCK_NAMESPACE}/${rel.split('/').join('-')}`;
    const files: [string, Uint8Array | MockFile][] = [];
    for (const full of await listFilesUnder(folder)) {
      const path = relative(folder, full).split(sep).join('/');
      const size = (await stat(full)).size;
      files.push([path, size >= DISK_BACKED_BYTES ? await diskFile(path, full) : new Uint8Array(await readFile(full))]);
    }
    repos.set(id, makeRepo(id, rel, files));
  }
  const wanted = opts.template ?? 'tiny-llama/base';
  const template = [...repos.values()].find((r) => r.origin === wanted) ?? [...repos.values()][0];
  if (template) {
    for (const r of [...derivedRepos(template, opts.gatedToken ?? MOCK_GATED_TOKEN), ...(await shardedRepos(template))]) repos.set(r.id, r);
  }
  return repos;
}
