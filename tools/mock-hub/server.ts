// A small stand-in for the Hugging Face Hub on 127.0.0.1, serving model folders through the same
// endpoints and headers the real Hub uses, so unit, CLI and browser tests exercise the product's
// real Hub code path. Nothing in the product knows about it; point --hub-url (or the app's Hub URL
// setting) at it.
//
//   npx tsx tools/mock-hub/server.ts --port 8765 --root public/zoo [--host 127.0.0.1]
//
// Endpoints (as on huggingface.co):
//   GET /api/models/{org}/{name}[/revision/{rev}]         model info (id, sha, gated, siblings)
//   GET /api/models/{org}/{name}/tree/{rev}[/{path}]      file listing (?recursive=true)
//   GET|HEAD /{org}/{name}/resolve/{rev}/{path}           file bytes: Range -> 206 + Content-Range,
//       ETag, X-Linked-Etag/X-Linked-Size (LFS files), X-Repo-Commit, Accept-Ranges; with the
//       cdnOrigin option, LFS files answer 302 to /__cdn/{org}/{name}/{sha256} on another origin
//   GET /api/datasets/{org}/{name}[/revision/{rev}] and /api/datasets/{org}/{name}/tree/{rev}[/{path}],
//   GET|HEAD /datasets/{org}/{name}/resolve/{rev}/{path}: the same for dataset repos (option
//       `datasets`), whose revision `refs/convert/parquet` holds the Hub's parquet conversion
//   Errors: JSON {error} with X-Error-Code RepoNotFound | RevisionNotFound | EntryNotFound | GatedRepo
//   CORS: any origin, Authorization/Range allowed, the headers above exposed.
// Test-only controls (never used by the product): GET /__mock/stats, POST /__mock/reset,
//   POST /__mock/faults?dropAfter=BYTES&count=N  (cut the next N file bodies after BYTES bytes),
//   POST /__mock/faults?unavailable=N            (answer the next N requests 503).
// Which repos exist: see repos.ts.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createReadStream } from 'node:fs';
import { loadMockRepos, makeRepo, MOCK_GATED_TOKEN, type MockFile, type MockRepo } from './repos.ts';
import { createWriteSide, type MockWriteOptions, type WriteSide } from './write.ts';

export interface MockRequest {
  method: string;
  /** Path and query as received. */
  url: string;
  status: number;
  /** Body bytes actually written (after any injected drop). */
  bodyBytes: number;
  range?: string;
  /** Whether an Authorization header came with the request (its value is never recorded). */
  authorized: boolean;
}

export interface MockHubStats {
  requests: MockRequest[];
  /** Body bytes served by /resolve/ (file contents), the number "headers-only" tests bound. */
  fileBytes: number;
  /** Body bytes served by /api/ (info and listings). */
  apiBytes: number;
}

export interface MockFaults {
  /** Cut a file body after this many bytes... */
  dropAfter?: number;
  /** ...for this many responses. */
  count?: number;
  /** Answer the next `unavailable` requests (API or file) with 503, as an overloaded Hub does. */
  unavailable?: number;
}

export interface MockHub {
  url: string;
  port: number;
  repos: Map<string, MockRepo>;
  gatedToken: string;
  stats: MockHubStats;
  resetStats(): void;
  setFaults(f: MockFaults): void;
  /** The write side (repo creation, LFS uploads, commits, OAuth): its log, faults and stored objects. */
  write: WriteSide;
  close(): Promise<void>;
}

const EXPOSED = ['Content-Range', 'Content-Length', 'Accept-Ranges', 'ETag', 'X-Linked-Etag', 'X-Linked-Size', 'X-Repo-Commit', 'X-Error-Code', 'X-Error-Message', 'X-Request-Id', 'Link'];

function cors(res: ServerResponse): void {
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Allow-Headers', 'Authorization, Range, Content-Type, Accept, If-None-Match, X-Request-Id');
  res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD, OPTIONS, POST, PUT');
  res.setHeader('Access-Control-Expose-Headers', EXPOSED.join(', '));
}

/** A body slice read from a file on disk as it is sent (bytes start..start+length-1). */
type DiskBody = { path: string; start: number; length: number };
type Outcome = { status: number; body: Uint8Array; disk?: DiskBody; headers?: Record<string, string>; kind: 'api' | 'file' };

function json(status: number, value: unknown, headers: Record<string, string> = {}): Outcome {
  return { status, body: new TextEncoder().encode(JSON.stringify(value)), headers: { 'Content-Type': 'application/json; charset=utf-8', ...headers }, kind: 'api' };
}

function hubError(status: number, code: string, message: string): Outcome {
  return json(status, { error: message }, { 'X-Error-Code': code, 'X-Error-Message': message });
}

/** Parses a single `bytes=` range against a file size; null when absent, 'bad' when unsatisfiable. */
function parseRange(header: string | undefined, size: number): [number, number] | null | 'bad' {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'bad';
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || end < start) return 'bad';
  return [start, end];
}

/** A dataset repo: its files at `main`, and optionally the Hub's parquet conversion, served at the
 * revision `refs/convert/parquet` (as `{config}/{split}/0000.parquet` files). */
export interface MockDatasetSpec {
  id: string;
  files: [string, Uint8Array][];
  parquetConversion?: [string, Uint8Array][];
  gatedToken?: string;
}

export interface MockHubOptions {
  port?: number;
  host?: string;
  root: string;
  gatedToken?: string;
  template?: string;
  /** Redirect LFS files to `/__cdn/...` on this origin, as the Hub redirects to its storage hosts.
   * '' means the server itself under the name `localhost` (another origin than 127.0.0.1). */
  cdnOrigin?: string;
  datasets?: MockDatasetSpec[];
  /** Write side: multipart threshold and part size of LFS uploads. */
  write?: MockWriteOptions;
}

export async function startMockHub(opts: MockHubOptions): Promise<MockHub> {
  const gatedToken = opts.gatedToken ?? MOCK_GATED_TOKEN;
  const repos = await loadMockRepos(opts.root, { gatedToken, template: opts.template });
  const stats: MockHubStats = { requests: [], fileBytes: 0, apiBytes: 0 };
  const datasets = new Map(
    (opts.datasets ?? []).map((d) => [
      d.id,
      {
        main: makeRepo(d.id, `dataset:${d.id}`, [...d.files], d.gatedToken),
        parquet: d.parquetConversion ? makeRepo(`${d.id}@refs/convert/parquet`, `dataset:${d.id}`, [...d.parquetConversion], d.gatedToken) : undefined,
      },
    ]),
  );
  /** The dataset repo's files at a revision: main (by name or commit) or the parquet conversion. */
  function datasetAt(org: string, name: string, rev: string): MockRepo | Outcome {
    const d = datasets.get(`${org}/${name}`);
    if (!d) return hubError(404, 'RepoNotFound', `Dataset Not Found for url: ${org}/${name}. Please make sure you specified the correct repo id and are authenticated.`);
    if (rev === 'main' || rev === 'HEAD' || rev === d.main.commit) return d.main;
    if (d.parquet && (rev === 'refs/convert/parquet' || rev === d.parquet.commit)) return d.parquet;
    return hubError(404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
  }
  function datasetInfo(repo: MockRepo, id: string): Outcome {
    return json(200, {
      _id: repo.commit.slice(0, 24),
      id,
      sha: repo.commit,
      private: false,
      gated: repo.gatedToken ? 'manual' : false,
      disabled: false,
      downloads: 0,
      likes: 0,
      tags: ['mock'],
      lastModified: '2026-01-01T00:00:00.000Z',
      createdAt: '2026-01-01T00:00:00.000Z',
      siblings: [...repo.files.keys()].map((rfilename) => ({ rfilename })),
    });
  }
  let listenPort = 0;
  const cdnOrigin = () => opts.cdnOrigin || `http://localhost:${listenPort}`;
  let faults: Required<MockFaults> = { dropAfter: 0, count: 0, unavailable: 0 };
  const write = createWriteSide(repos, opts.write);

  function findRepo(org: string, name: string): MockRepo | Outcome {
    const repo = repos.get(`${org}/${name}`);
    return repo ?? hubError(404, 'RepoNotFound', `Repository Not Found for url: ${org}/${name}. Please make sure you specified the correct repo id and are authenticated.`);
  }

  function checkAccess(repo: MockRepo, req: IncomingMessage): Outcome | null {
    if (!repo.gatedToken) return null;
    const auth = req.headers.authorization;
    if (!auth) return hubError(401, 'GatedRepo', `Access to model ${repo.id} is restricted. You must have access to it and be authenticated to access it. Please log in.`);
    if (auth !== `Bearer ${repo.gatedToken}`) return hubError(403, 'GatedRepo', `Access to model ${repo.id} is restricted and you are not in the authorized list.`);
    return null;
  }

  /** The repo at a revision: main/HEAD/its commit, or a branch made through the write side (kept in
   * the map as `{id}@{branch}`) by name or commit id. */
  function atRevision(repo: MockRepo, rev: string): MockRepo | undefined {
    if (rev === 'main' || rev === 'HEAD' || rev === repo.commit) return repo;
    const branch = repos.get(`${repo.id}@${rev}`);
    if (branch) return branch;
    for (const [key, r] of repos) if (key.startsWith(`${repo.id}@`) && r.commit === rev) return r;
    return undefined;
  }

  function revisionOk(repo: MockRepo, rev: string): Outcome | null {
    return atRevision(repo, rev) ? null : hubError(404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
  }

  function atRev(repo: MockRepo, rev: string): MockRepo {
    return atRevision(repo, rev) ?? repo;
  }

  function modelInfo(repo: MockRepo): Outcome {
    return json(200, {
      _id: repo.commit.slice(0, 24),
      id: repo.id,
      modelId: repo.id,
      sha: repo.commit,
      private: false,
      gated: repo.gatedToken ? 'manual' : false,
      disabled: false,
      downloads: 0,
      likes: 0,
      tags: ['safetensors', 'mock'],
      pipeline_tag: 'text-generation',
      library_name: 'transformers',
      lastModified: '2026-01-01T00:00:00.000Z',
      createdAt: '2026-01-01T00:00:00.000Z',
      siblings: [...repo.files.keys()].map((rfilename) => ({ rfilename })),
    });
  }

  function treeListing(repo: MockRepo, path: string, recursive: boolean): Outcome {
    const prefix = path ? `${path.replace(/\/$/, '')}/` : '';
    const entries: unknown[] = [];
    const dirs = new Set<string>();
    for (const f of repo.files.values()) {
      if (!f.path.startsWith(prefix)) continue;
      const rest = f.path.slice(prefix.length);
      if (!recursive && rest.includes('/')) {
        dirs.add(prefix + rest.split('/')[0]);
        continue;
      }
      entries.push({ type: 'file', oid: f.gitOid, size: f.size, path: f.path, ...(f.lfs ? { lfs: { oid: f.sha256, size: f.size, pointerSize: 134 } } : {}) });
    }
    if (prefix && entries.length === 0 && dirs.size === 0) return hubError(404, 'EntryNotFound', `${path} does not exist on "main"`);
    return json(200, [...[...dirs].map((d) => ({ type: 'directory', oid: '0'.repeat(40), size: 0, path: d })), ...entries]);
  }

  function resolveFile(repo: MockRepo, path: string, req: IncomingMessage): Outcome {
    const f = repo.files.get(path);
    if (!f) return hubError(404, 'EntryNotFound', `Entry not found: ${path}`);
    if (f.lfs && opts.cdnOrigin !== undefined) {
      // As the Hub does for LFS files: a redirect to a storage host of another origin.
      const location = `${cdnOrigin()}/__cdn/${repo.id}/${f.sha256}`;
      return { status: 302, body: new Uint8Array(), headers: { Location: location, 'X-Linked-Etag': `"${f.sha256}"`, 'X-Linked-Size': String(f.size), 'X-Repo-Commit': repo.commit }, kind: 'file' };
    }
    return fileBytes(f, req, { 'X-Repo-Commit': repo.commit });
  }

  /** A file's bytes, honouring Range; a disk-backed file's range is streamed from disk. */
  function fileBytes(f: MockFile, req: IncomingMessage, extra: Record<string, string>): Outcome {
    const path = f.path;
    const size = f.size;
    const etag = `"${f.lfs ? f.sha256 : f.gitOid}"`;
    const headers: Record<string, string> = {
      'Accept-Ranges': 'bytes',
      ETag: etag,
      ...extra,
      'Content-Type': path.endsWith('.json') ? 'application/json' : 'application/octet-stream',
      ...(f.lfs ? { 'X-Linked-Etag': etag, 'X-Linked-Size': String(size) } : {}),
    };
    const range = parseRange(req.headers.range, size);
    if (range === 'bad') return { status: 416, body: new Uint8Array(), headers: { ...headers, 'Content-Range': `bytes */${size}` }, kind: 'file' };
    const [start, end] = range ?? [0, size - 1];
    const status = range ? 206 : 200;
    const ranged = range ? { ...headers, 'Content-Range': `bytes ${start}-${end}/${size}` } : headers;
    if (f.disk) return { status, body: new Uint8Array(), disk: { path: f.disk, start, length: Math.max(0, end - start + 1) }, headers: ranged, kind: 'file' };
    return { status, body: range ? f.bytes.subarray(start, end + 1) : f.bytes, headers: ranged, kind: 'file' };
  }

  function route(req: IncomingMessage, url: URL): Outcome {
    const parts = url.pathname.split('/').slice(1).map((p) => decodeURIComponent(p));
    if (parts[0] === '__mock') {
      if (parts[1] === 'stats') return json(200, stats);
      if (parts[1] === 'reset' && req.method === 'POST') {
        stats.requests = [];
        stats.fileBytes = stats.apiBytes = 0;
        faults = { dropAfter: 0, count: 0, unavailable: 0 };
        write.reset();
        return json(200, { ok: true });
      }
      if (parts[1] === 'faults' && req.method === 'POST') {
        faults = { dropAfter: Number(url.searchParams.get('dropAfter') ?? 0), count: Number(url.searchParams.get('count') ?? 1), unavailable: Number(url.searchParams.get('unavailable') ?? 0) };
        return json(200, faults);
      }
      return hubError(404, 'NotFound', 'unknown mock control');
    }
    if (parts[0] === 'api' && parts[1] === 'models' && parts.length >= 4) {
      const found = findRepo(parts[2], parts[3]);
      if (!('commit' in found)) return found;
      // As on the Hub, a gated repo's info and file list are public; its files are not.
      if (parts.length === 4) return modelInfo(found);
      if (parts[4] === 'revision' && parts.length === 6) return revisionOk(found, parts[5]) ?? modelInfo(atRev(found, parts[5]));
      if (parts[4] === 'tree' && parts.length >= 6) {
        return revisionOk(found, parts[5]) ?? treeListing(atRev(found, parts[5]), parts.slice(6).join('/'), url.searchParams.get('recursive') === 'true');
      }
      return hubError(404, 'NotFound', `no such API route: ${url.pathname}`);
    }
    if (parts[0] === 'api' && parts[1] === 'datasets' && parts.length >= 4) {
      const id = `${parts[2]}/${parts[3]}`;
      if (parts.length === 4) {
        const found = datasetAt(parts[2], parts[3], 'main');
        return 'commit' in found ? datasetInfo(found, id) : found;
      }
      if (parts[4] === 'revision' && parts.length === 6) {
        const found = datasetAt(parts[2], parts[3], parts[5]);
        return 'commit' in found ? datasetInfo(found, id) : found;
      }
      if (parts[4] === 'tree' && parts.length >= 6) {
        const found = datasetAt(parts[2], parts[3], parts[5]);
        return 'commit' in found ? treeListing(found, parts.slice(6).join('/'), url.searchParams.get('recursive') === 'true') : found;
      }
      return hubError(404, 'NotFound', `no such API route: ${url.pathname}`);
    }
    if (parts[0] === 'datasets' && parts.length >= 6 && parts[3] === 'resolve') {
      const found = datasetAt(parts[1], parts[2], parts[4]);
      if (!('commit' in found)) return found;
      const denied = checkAccess(found, req);
      if (denied) return denied;
      const f = found.files.get(parts.slice(5).join('/'));
      return f ? fileBytes(f, req, { 'X-Repo-Commit': found.commit }) : hubError(404, 'EntryNotFound', `Entry not found: ${parts.slice(5).join('/')}`);
    }
    if (parts[0] === '__cdn' && parts.length === 4) {
      const repo = repos.get(`${parts[1]}/${parts[2]}`);
      const f = repo && [...repo.files.values()].find((x) => x.sha256 === parts[3]);
      return f ? fileBytes(f, req, {}) : hubError(404, 'NotFound', 'no such object');
    }
    if (parts.length >= 5 && parts[2] === 'resolve') {
      const found = findRepo(parts[0], parts[1]);
      if (!('commit' in found)) return found;
      const denied = checkAccess(found, req);
      if (denied) return denied;
      return revisionOk(found, parts[3]) ?? resolveFile(atRev(found, parts[3]), parts.slice(4).join('/'), req);
    }
    return hubError(404, 'NotFound', `no such route: ${url.pathname}`);
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    cors(res);
    const record: MockRequest = { method: req.method ?? 'GET', url: req.url ?? '/', status: 0, bodyBytes: 0, range: req.headers.range, authorized: req.headers.authorization !== undefined };
    if (req.method === 'OPTIONS') {
      record.status = 204;
      stats.requests.push(record);
      res.writeHead(204).end();
      return;
    }
    let outcome: Outcome;
    const writeUrl = new URL(req.url ?? '/', 'http://mock');
    if (write.matches(req.method ?? 'GET', writeUrl) && !(faults.unavailable > 0)) {
      stats.requests.push(record);
      void write.handle(req, res, writeUrl).then((r) => {
        record.status = r.status;
        record.bodyBytes = r.bytes;
        stats.apiBytes += r.bytes;
      });
      return;
    }
    try {
      const url = new URL(req.url ?? '/', 'http://mock');
      if (faults.unavailable > 0 && !url.pathname.startsWith('/__mock/')) {
        faults.unavailable -= 1;
        outcome = hubError(503, 'ServiceUnavailable', 'The Hub is temporarily unavailable, try again');
      } else outcome = route(req, url);
    } catch (err) {
      outcome = hubError(500, 'InternalError', err instanceof Error ? err.message : String(err));
    }
    record.status = outcome.status;
    stats.requests.push(record);
    const length = outcome.disk ? outcome.disk.length : outcome.body.byteLength;
    res.writeHead(outcome.status, { ...outcome.headers, 'Content-Length': String(length) });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const count = (n: number) => {
      record.bodyBytes += n;
      if (outcome.kind === 'file') stats.fileBytes += n;
      else stats.apiBytes += n;
    };
    if (outcome.disk) {
      streamDisk(outcome.disk, res, count);
      return;
    }
    if (outcome.kind === 'file' && faults.count > 0 && outcome.body.byteLength > faults.dropAfter) {
      // A dropped connection: part of the body, then the socket closes under the client.
      faults.count -= 1;
      const part = outcome.body.subarray(0, faults.dropAfter);
      count(part.byteLength);
      res.write(part, () => res.socket?.destroy());
      return;
    }
    count(outcome.body.byteLength);
    res.end(outcome.body);
  }

  /** Sends a file range from disk with backpressure (a 4 MiB read at a time, never the whole file);
   * an injected drop cuts it after `dropAfter` bytes, as for in-memory bodies. */
  function streamDisk(body: DiskBody, res: ServerResponse, count: (n: number) => void): void {
    if (body.length === 0) {
      res.end();
      return;
    }
    const drop = faults.count > 0 && body.length > faults.dropAfter;
    if (drop) faults.count -= 1;
    const sent = drop ? faults.dropAfter : body.length;
    if (sent === 0) {
      res.socket?.destroy();
      return;
    }
    const stream = createReadStream(body.path, { start: body.start, end: body.start + sent - 1, highWaterMark: 4 * 2 ** 20 });
    let left = sent;
    stream.on('data', (chunk) => {
      const buf = chunk as Buffer;
      left -= buf.length;
      count(buf.length);
      // The last chunk of a dropped body: the socket closes once it has gone out.
      const ok = res.write(buf, left === 0 && drop ? () => res.socket?.destroy() : undefined);
      if (!ok) stream.pause();
    });
    res.on('drain', () => stream.resume());
    stream.on('end', () => {
      if (!drop) res.end();
    });
    stream.on('error', () => res.socket?.destroy());
    res.on('close', () => stream.destroy());
  }

  const server: Server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  listenPort = port;
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    port,
    repos,
    gatedToken,
    stats,
    write,
    resetStats() {
      stats.requests = [];
      stats.fileBytes = stats.apiBytes = 0;
    },
    setFaults(f: MockFaults) {
      faults = { dropAfter: f.dropAfter ?? 0, count: f.count ?? (f.dropAfter !== undefined ? 1 : 0), unavailable: f.unavailable ?? 0 };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Dataset repos from folders `DIR/<org>/<name>/` (files at main) and `DIR/<org>/<name>@refs%2Fconvert%2Fparquet/`
 * (the parquet conversion), as tools/benchmarks/synthetic.ts writes them. */
export async function loadDatasetDir(dir: string): Promise<MockDatasetSpec[]> {
  const { readdir, readFile } = await import('node:fs/promises');
  const { join, relative, sep } = await import('node:path');
  const filesUnder = async (root: string): Promise<[string, Uint8Array][]> => {
    const out: [string, Uint8Array][] = [];
    const walk = async (d: string) => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        const full = join(d, e.name);
        if (e.isDirectory()) await walk(full);
        else if (e.isFile()) out.push([relative(root, full).split(sep).join('/'), new Uint8Array(await readFile(full))]);
      }
    };
    await walk(root);
    return out;
  };
  const specs = new Map<string, MockDatasetSpec>();
  for (const org of await readdir(dir, { withFileTypes: true })) {
    if (!org.isDirectory()) continue;
    for (const repo of await readdir(join(dir, org.name), { withFileTypes: true })) {
      if (!repo.isDirectory()) continue;
      const [name, rev] = repo.name.split('@');
      const id = `${org.name}/${name}`;
      const spec = specs.get(id) ?? { id, files: [] };
      const files = await filesUnder(join(dir, org.name, repo.name));
      if (rev === undefined) spec.files = files;
      else if (decodeURIComponent(rev) === 'refs/convert/parquet') spec.parquetConversion = files;
      specs.set(id, spec);
    }
  }
  return [...specs.values()];
}

async function cli(argv: string[]): Promise<void> {
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const datasetDir = arg('--datasets');
  const datasets = datasetDir ? await loadDatasetDir(datasetDir) : undefined;
  const hub = await startMockHub({ port: Number(arg('--port') ?? 8765), host: arg('--host'), root: arg('--root') ?? 'public/zoo', template: arg('--template'), datasets });
  if (datasets) process.stdout.write(`datasets: ${datasets.map((d) => d.id).join(', ')}\n`);
  process.stdout.write(`mock hub on ${hub.url} serving ${hub.repos.size} repos:\n${[...hub.repos.values()].map((r) => `  ${r.id}${r.gatedToken ? ' (gated)' : ''}  <- ${r.origin}`).join('\n')}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  cli(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`mock hub: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
