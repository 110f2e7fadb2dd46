// The write side of the mock Hub: accounts and tokens, repo creation, the preupload check, Git LFS
// uploads (batch API, basic PUT and the Hub's multipart transfer), NDJSON commits, branches and the
// OAuth endpoints, with the routes, bodies and status codes @huggingface/hub's client sends and
// expects (read from its src/lib/commit.ts, create-repo.ts, create-branch.ts, who-am-i.ts,
// oauth-login-url.ts and oauth-handle-redirect.ts, huggingface/huggingface.js 2.17.5). Committed
// files become ordinary repos in the shared map, so the read endpoints serve them at once.
//
//   POST /api/repos/create                           {name, organization, visibility, type} -> {url, name, id}; 409 when it exists
//   POST /api/models/{org}/{name}/branch/{branch}    create a branch from main
//   POST /api/models/{org}/{name}/preupload/{rev}    {files:[{path,size,sample}]} -> {files:[{path, uploadMode}]}
//   POST /{org}/{name}.git/info/lfs/objects/batch    objects already stored get no actions ("already present");
//        others a basic PUT (transfer "basic") or, above `multipartThreshold`, one PUT URL per part
//        plus a completion URL (transfer "multipart"). Never "xet": the client then uses LFS.
//   PUT  /__lfs/{org}/{name}/{oid}[?part=N]          object (or part) bytes; sha256 and size checked
//   POST /__lfs/{org}/{name}/{oid}/complete          {oid, parts:[{partNumber, etag}]}
// LFS objects are stored per repo (as the batch API answers per repo).
//   POST /api/models/{org}/{name}/commit/{rev}       NDJSON: header, file (base64), lfsFile (oid, size), deletedFile
//   GET  /api/whoami-v2, /.well-known/openid-configuration, /oauth/authorize (approves at once and
//        redirects back with a code), POST /oauth/token (PKCE S256 checked), GET /oauth/userinfo
// Test controls: see WriteFaults (set through MockHub.setWriteFaults or POST /__mock/write-faults).
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { makeRepo, type MockFile, type MockRepo } from './repos.ts';

/** Writes to namespaces `mock-user` and `merge-org`. */
export const MOCK_WRITE_TOKEN = 'hf_mockhub_write_access_0123456789ab';
/** A valid token with the "read" role: every write answers 403. */
export const MOCK_READ_TOKEN = 'hf_mockhub_read_only_0123456789abcde';
export const MOCK_USER = 'mock-user';
export const MOCK_ORG = 'merge-org';
export const MOCK_OAUTH_CLIENT_ID = 'mock-merge-studio-client';

interface Account { user: string; orgs: string[]; role: 'read' | 'write' }

export interface WriteFaults {
  /** Cut the connection of the next `uploadDrops` LFS uploads (PUT) after this many body bytes. */
  dropUploadAfter?: number;
  uploadDrops?: number;
  /** Only cut uploads of this object (sha256); default any. */
  dropOid?: string;
  /** Hold every LFS upload this many ms before reading it (a slow link, to test cancelling). */
  stallUploadsMs?: number;
  /** Answer the next N commit requests with 500 (the uploads themselves succeed). */
  failCommits?: number;
  /** LFS bytes a namespace may store; a batch asking for more answers a per-object 413. */
  quotaBytes?: number;
}

export interface WriteLog {
  created: { id: string; private: boolean }[];
  commits: { repo: string; branch: string; summary: string; files: string[]; oid: string }[];
  /** LFS objects received in full (after the sha256 check). */
  lfsStored: { oid: string; size: number; multipart: boolean }[];
  /** Body bytes received by LFS upload PUTs (including cut ones). */
  uploadBytes: number;
}

export interface MockWriteOptions {
  /** LFS objects at least this large use the multipart transfer (default 8 MiB). */
  multipartThreshold?: number;
  /** Part size of multipart uploads (default 4 MiB). */
  partSize?: number;
}

export interface WriteSide {
  matches(method: string, url: URL): boolean;
  /** Answers the request; returns the status sent. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<{ status: number; bytes: number }>;
  faults: WriteFaults;
  log: WriteLog;
  /** LFS objects by `{repo}:{sha256}`. */
  lfs: Map<string, Uint8Array>;
  reset(): void;
}

const LFS_SUFFIXES = ['.safetensors', '.bin', '.pt', '.pth', '.ckpt', '.gguf', '.onnx', '.msgpack', '.h5', '.npy', '.parquet', '.arrow'];
const GITATTRIBUTES = `${LFS_SUFFIXES.map((s) => `*${s} filter=lfs diff=lfs merge=lfs -text`).join('\n')}\n`;

type Reply = { status: number; body: unknown; headers?: Record<string, string> };

function err(status: number, code: string, message: string): Reply {
  return { status, body: { error: message }, headers: { 'X-Error-Code': code, 'X-Error-Message': message } };
}

async function readBody(req: IncomingMessage, limit = 64 * 2 ** 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).byteLength;
    if (n > limit) throw new Error('request body too large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export function createWriteSide(repos: Map<string, MockRepo>, opts: MockWriteOptions = {}): WriteSide {
  const multipartThreshold = opts.multipartThreshold ?? 8 * 2 ** 20;
  const partSize = opts.partSize ?? 4 * 2 ** 20;
  const accounts = new Map<string, Account>([
    [MOCK_WRITE_TOKEN, { user: MOCK_USER, orgs: [MOCK_ORG], role: 'write' }],
    [MOCK_READ_TOKEN, { user: MOCK_USER, orgs: [MOCK_ORG], role: 'read' }],
  ]);
  const lfs = new Map<string, Uint8Array>();
  /** Multipart uploads in progress: oid -> parts by number (with their etags). */
  const parts = new Map<string, Map<number, { bytes: Uint8Array; etag: string }>>();
  const oauthCodes = new Map<string, { challenge: string; redirectUri: string }>();
  const log: WriteLog = { created: [], commits: [], lfsStored: [], uploadBytes: 0 };
  const side: WriteSide = { matches, handle, faults: {}, log, lfs, reset };

  function reset(): void {
    side.faults = {};
    log.created = [];
    log.commits = [];
    log.lfsStored = [];
    log.uploadBytes = 0;
  }

  function account(req: IncomingMessage): Account | Reply {
    const auth = req.headers.authorization;
    if (!auth) return err(401, 'Unauthorized', 'Invalid credentials in Authorization header: a token with write access is needed');
    const acc = accounts.get(auth.replace(/^Bearer\s+/i, ''));
    return acc ?? err(401, 'Unauthorized', 'Invalid credentials in Authorization header: the token is not valid');
  }

  /** The caller may write to `namespace`. */
  function writer(req: IncomingMessage, namespace: string): Account | Reply {
    const acc = account(req);
    if ('status' in acc) return acc;
    if (acc.role !== 'write') return err(403, 'Forbidden', `You don't have the rights to write to the namespace "${namespace}": the token is read-only`);
    if (namespace !== acc.user && !acc.orgs.includes(namespace)) return err(403, 'Forbidden', `You don't have the rights to write to the namespace "${namespace}"`);
    return acc;
  }

  function repoAt(id: string, rev: string): MockRepo | undefined {
    return rev === 'main' ? repos.get(id) : repos.get(`${id}@${rev}`);
  }

  function matches(method: string, url: URL): boolean {
    const p = url.pathname;
    if (method === 'GET') return p === '/api/whoami-v2' || p === '/.well-known/openid-configuration' || p === '/oauth/authorize' || p === '/oauth/userinfo';
    return p === '/api/repos/create' || p === '/oauth/token' || p.startsWith('/__lfs/') || /\.git\/info\/lfs\/objects\/batch$/.test(p)
      || /^\/api\/models\/[^/]+\/[^/]+\/(preupload|commit|branch)\//.test(p) || p === '/__mock/write-faults';
  }

  async function handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<{ status: number; bytes: number }> {
    const base = `http://${req.headers.host ?? '127.0.0.1'}`;
    let reply: Reply;
    try {
      if (url.pathname.startsWith('/__lfs/') && req.method === 'PUT') {
        const r = await receiveUpload(req, res, url);
        if (!r) return { status: 0, bytes: 0 };
        reply = r;
      } else reply = await route(req, url, base);
    } catch (e) {
      reply = err(500, 'InternalError', e instanceof Error ? e.message : String(e));
    }
    if (reply.status === 302) {
      res.writeHead(302, reply.headers).end();
      return { status: 302, bytes: 0 };
    }
    const body = Buffer.from(JSON.stringify(reply.body));
    res.writeHead(reply.status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(body.byteLength), ...reply.headers });
    res.end(body);
    return { status: reply.status, bytes: body.byteLength };
  }

  async function route(req: IncomingMessage, url: URL, base: string): Promise<Reply> {
    const p = url.pathname;
    const parts = p.split('/').slice(1).map((s) => decodeURIComponent(s));
    if (p === '/__mock/write-faults') {
      side.faults = JSON.parse((await readBody(req)).toString('utf8') || '{}') as WriteFaults;
      return { status: 200, body: side.faults };
    }
    if (p === '/.well-known/openid-configuration') {
      return { status: 200, body: { issuer: base, authorization_endpoint: `${base}/oauth/authorize`, token_endpoint: `${base}/oauth/token`, userinfo_endpoint: `${base}/oauth/userinfo`, code_challenge_methods_supported: ['S256'] } };
    }
    if (p === '/oauth/authorize') return authorize(url);
    if (p === '/oauth/token') return token(await readBody(req));
    if (p === '/oauth/userinfo' || p === '/api/whoami-v2') {
      const acc = account(req);
      if ('status' in acc) return acc;
      if (p === '/oauth/userinfo') return { status: 200, body: { sub: `id-${acc.user}`, name: 'Mock User', preferred_username: acc.user, profile: `${base}/${acc.user}`, picture: '', isPro: false, orgs: acc.orgs.map((o) => ({ sub: `id-${o}`, name: o, preferred_username: o, isEnterprise: false })) } };
      return { status: 200, body: { type: 'user', id: `id-${acc.user}`, name: acc.user, fullname: 'Mock User', orgs: acc.orgs.map((o) => ({ type: 'org', name: o, roleInOrg: 'write' })), auth: { type: 'access_token', accessToken: { displayName: 'mock', role: acc.role } } } };
    }
    if (p === '/api/repos/create') return createRepo(req, base);
    const lfsBatch = /^\/(.+)\/(.+)\.git\/info\/lfs\/objects\/batch$/.exec(p);
    if (lfsBatch) return batch(req, `${decodeURIComponent(lfsBatch[1])}/${decodeURIComponent(lfsBatch[2])}`, base);
    if (parts[0] === '__lfs' && parts[4] === 'complete') return complete(`${parts[1]}/${parts[2]}`, parts[3], await readBody(req));
    if (parts[0] === 'api' && parts[1] === 'models') {
      const id = `${parts[2]}/${parts[3]}`;
      const rev = parts.slice(5).join('/');
      const denied = writer(req, parts[2]);
      if ('status' in denied) return denied;
      if (!repos.has(id)) return err(404, 'RepoNotFound', `Repository Not Found for url: ${id}.`);
      if (parts[4] === 'branch') return branch(id, rev);
      const at = repoAt(id, rev);
      if (!at) return err(404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
      if (parts[4] === 'preupload') return preupload(await readBody(req));
      if (parts[4] === 'commit') return commit(id, rev, at, await readBody(req), base);
    }
    return err(404, 'NotFound', `no such route: ${p}`);
  }

  function createRepo(req: IncomingMessage, base: string): Promise<Reply> {
    return readBody(req).then((raw) => {
      const body = JSON.parse(raw.toString('utf8')) as { name?: string; organization?: string; visibility?: string; private?: boolean; type?: string };
      const acc = account(req);
      if ('status' in acc) return acc;
      const ns = body.organization ?? acc.user;
      const denied = writer(req, ns);
      if ('status' in denied) return denied;
      if (!body.name || !/^[A-Za-z0-9][\w.-]{0,95}$/.test(body.name)) return err(400, 'BadRequest', `invalid repo name '${body.name ?? ''}'`);
      const id = `${ns}/${body.name}`;
      if (repos.has(id)) return { status: 409, body: { error: 'You already created this model repo', url: `${base}/${id}` }, headers: { 'X-Error-Code': 'RepoExists', 'X-Error-Message': 'You already created this model repo' } };
      repos.set(id, makeRepo(id, `(created ${id})`, [['.gitattributes', new TextEncoder().encode(GITATTRIBUTES)]]));
      log.created.push({ id, private: body.visibility === 'private' || body.private === true });
      return { status: 200, body: { url: `${base}/${id}`, name: id, id: repos.get(id)!.commit } };
    });
  }

  function branch(id: string, name: string): Reply {
    if (!name || name === 'main') return err(409, 'BranchExists', 'Reference already exists');
    if (repos.has(`${id}@${name}`)) return err(409, 'BranchExists', `Reference refs/heads/${name} already exists`);
    const main = repos.get(id)!;
    repos.set(`${id}@${name}`, makeRepo(id, main.origin, [...main.files.values()].map((f) => [f.path, f])));
    return { status: 200, body: { ok: true } };
  }

  function preupload(raw: Buffer): Reply {
    const body = JSON.parse(raw.toString('utf8')) as { files: { path: string; size: number; sample: string }[] };
    return {
      status: 200,
      body: {
        files: body.files.map((f) => {
          const sample = Buffer.from(f.sample, 'base64');
          const binary = sample.includes(0);
          const lfsMode = LFS_SUFFIXES.some((s) => f.path.endsWith(s)) || f.size > 10 * 2 ** 20 || binary;
          return { path: f.path, uploadMode: lfsMode ? 'lfs' : 'regular', shouldIgnore: false };
        }),
      },
    };
  }

  function stored(ns: string): number {
    let n = 0;
    for (const [key, b] of lfs) if (key.startsWith(`${ns}/`)) n += b.byteLength;
    return n;
  }

  async function batch(req: IncomingMessage, id: string, base: string): Promise<Reply> {
    const ns = id.split('/')[0];
    const denied = writer(req, ns);
    if ('status' in denied) return denied;
    if (!repos.has(id)) return err(404, 'RepoNotFound', `Repository Not Found for url: ${id}.`);
    const body = JSON.parse((await readBody(req)).toString('utf8')) as { operation: string; transfers?: string[]; objects: { oid: string; size: number }[] };
    if (body.operation !== 'upload') return err(400, 'BadRequest', 'only uploads are served here');
    const multipart = body.transfers?.includes('multipart') ?? false;
    let used = stored(ns);
    const objects = body.objects.map((o) => {
      if (lfs.has(`${id}:${o.oid}`)) return { oid: o.oid, size: o.size }; // already present: no actions
      if (side.faults.quotaBytes !== undefined && used + o.size > side.faults.quotaBytes) {
        return { oid: o.oid, size: o.size, error: { code: 413, message: `Storage quota exceeded for "${ns}": ${used} of ${side.faults.quotaBytes} bytes used, this file needs ${o.size}` } };
      }
      used += o.size;
      const at = `${base}/__lfs/${id}/${o.oid}`;
      if (multipart && o.size >= multipartThreshold) {
        const n = Math.ceil(o.size / partSize);
        const header: Record<string, string> = { chunk_size: String(partSize) };
        for (let i = 1; i <= n; i++) header[String(i).padStart(5, '0')] = `${at}?size=${o.size}&part=${i}`;
        return { oid: o.oid, size: o.size, authenticated: true, actions: { upload: { href: `${at}/complete?size=${o.size}`, header, expires_in: 3600 } } };
      }
      return { oid: o.oid, size: o.size, authenticated: true, actions: { upload: { href: `${at}?size=${o.size}`, expires_in: 3600 } } };
    });
    const anyMultipart = objects.some((o) => o.actions?.upload && 'header' in o.actions.upload);
    return { status: 200, body: { transfer: anyMultipart ? 'multipart' : 'basic', objects }, headers: { 'Content-Type': 'application/vnd.git-lfs+json' } };
  }

  /** Receives an LFS PUT; null when the connection was cut on purpose (a fault). */
  async function receiveUpload(req: IncomingMessage, res: ServerResponse, url: URL): Promise<Reply | null> {
    const [, , org, name, oid] = url.pathname.split('/').map((x) => decodeURIComponent(x));
    const key = `${org}/${name}:${oid}`;
    const size = Number(url.searchParams.get('size'));
    const part = url.searchParams.get('part');
    const f = side.faults;
    if (f.stallUploadsMs) await new Promise((r) => setTimeout(r, f.stallUploadsMs));
    const drop = (f.uploadDrops ?? 0) > 0 && (!f.dropOid || f.dropOid === oid) ? (f.dropUploadAfter ?? 0) : -1;
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of req) {
      const b = c as Buffer;
      if (drop >= 0 && n + b.byteLength > drop) {
        log.uploadBytes += drop - n;
        f.uploadDrops = (f.uploadDrops ?? 1) - 1;
        req.socket.destroy();
        res.destroy();
        return null;
      }
      n += b.byteLength;
      chunks.push(b);
    }
    log.uploadBytes += n;
    const bytes = Buffer.concat(chunks);
    if (part !== null) {
      const etag = `"${createHash('md5').update(bytes).digest('hex')}"`;
      if (!parts.has(key)) parts.set(key, new Map());
      parts.get(key)!.set(Number(part), { bytes: new Uint8Array(bytes), etag });
      return { status: 200, body: {}, headers: { ETag: etag } };
    }
    if (bytes.byteLength !== size) return err(400, 'SizeMismatch', `uploaded ${bytes.byteLength} bytes, the batch announced ${size}`);
    if (sha256(bytes) !== oid) return err(400, 'HashMismatch', `the uploaded bytes do not hash to ${oid}`);
    lfs.set(key, new Uint8Array(bytes));
    log.lfsStored.push({ oid, size, multipart: false });
    return { status: 200, body: {} };
  }

  function complete(id: string, oid: string, raw: Buffer): Reply {
    const key = `${id}:${oid}`;
    const body = JSON.parse(raw.toString('utf8')) as { oid: string; parts: { partNumber: number; etag: string }[] };
    const got = parts.get(key);
    if (body.oid !== oid || !got) return err(400, 'BadRequest', `no multipart upload in progress for ${oid}`);
    const ordered: Uint8Array[] = [];
    for (const p of body.parts) {
      const stored = got.get(p.partNumber);
      if (!stored || stored.etag !== p.etag) return err(400, 'BadRequest', `part ${p.partNumber} of ${oid} is missing or its etag does not match`);
      ordered.push(stored.bytes);
    }
    const bytes = Buffer.concat(ordered);
    if (sha256(bytes) !== oid) return err(400, 'HashMismatch', `the assembled parts do not hash to ${oid}`);
    parts.delete(key);
    lfs.set(key, new Uint8Array(bytes));
    log.lfsStored.push({ oid, size: bytes.byteLength, multipart: true });
    return { status: 200, body: {} };
  }

  function commit(id: string, rev: string, at: MockRepo, raw: Buffer, base: string): Reply {
    if ((side.faults.failCommits ?? 0) > 0) {
      side.faults.failCommits! -= 1;
      return err(500, 'InternalError', 'commit failed (injected fault)');
    }
    const files = new Map<string, Uint8Array | MockFile>([...at.files.values()].map((f) => [f.path, f]));
    let summary = '';
    const touched: string[] = [];
    for (const line of raw.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      const { key, value } = JSON.parse(line) as { key: string; value: Record<string, unknown> };
      if (key === 'header') {
        summary = String(value.summary ?? '');
        if (value.parentCommit && value.parentCommit !== at.commit) return err(412, 'ParentMismatch', `A commit has happened since ${String(value.parentCommit)}; pull and retry`);
      } else if (key === 'file') {
        const path = String(value.path);
        files.set(path, new Uint8Array(Buffer.from(String(value.content), value.encoding === 'base64' ? 'base64' : 'utf8')));
        touched.push(path);
      } else if (key === 'lfsFile') {
        const oid = String(value.oid);
        const bytes = lfs.get(`${id}:${oid}`);
        if (!bytes) return err(422, 'LfsObjectMissing', `${String(value.path)}: LFS object ${oid} was never uploaded`);
        if (bytes.byteLength !== Number(value.size)) return err(422, 'LfsSizeMismatch', `${String(value.path)}: LFS object ${oid} has ${bytes.byteLength} bytes, the commit says ${String(value.size)}`);
        files.set(String(value.path), bytes);
        touched.push(String(value.path));
      } else if (key === 'deletedFile') {
        files.delete(String(value.path));
        touched.push(String(value.path));
      } else return err(400, 'BadRequest', `unknown commit operation '${key}'`);
    }
    const next = makeRepo(id, at.origin, [...files.entries()]);
    repos.set(rev === 'main' ? id : `${id}@${rev}`, next);
    log.commits.push({ repo: id, branch: rev, summary, files: touched, oid: next.commit });
    return { status: 200, body: { success: true, commitOid: next.commit, commitUrl: `${base}/${id}/commit/${next.commit}`, hookOutput: '' } };
  }

  function authorize(url: URL): Reply {
    const q = url.searchParams;
    const redirect = q.get('redirect_uri');
    if (q.get('client_id') !== MOCK_OAUTH_CLIENT_ID || !redirect) return err(400, 'BadRequest', `unknown client_id '${q.get('client_id') ?? ''}' or no redirect_uri`);
    if (q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge')) return err(400, 'BadRequest', 'PKCE (S256) is required');
    // The real Hub asks the user to approve; the mock approves at once.
    const code = randomBytes(12).toString('hex');
    oauthCodes.set(code, { challenge: q.get('code_challenge')!, redirectUri: redirect });
    const back = new URL(redirect);
    back.searchParams.set('code', code);
    back.searchParams.set('state', q.get('state') ?? '');
    return { status: 302, body: null, headers: { Location: back.toString() } };
  }

  function token(raw: Buffer): Reply {
    const form = new URLSearchParams(raw.toString('utf8'));
    const code = oauthCodes.get(form.get('code') ?? '');
    if (!code) return { status: 400, body: { error: 'invalid_grant', error_description: 'unknown or used code' } };
    oauthCodes.delete(form.get('code')!);
    const challenge = createHash('sha256').update(form.get('code_verifier') ?? '').digest('base64url');
    if (challenge !== code.challenge) return { status: 400, body: { error: 'invalid_grant', error_description: 'code_verifier does not match the challenge' } };
    if (form.get('redirect_uri') !== code.redirectUri) return { status: 400, body: { error: 'invalid_grant', error_description: 'redirect_uri differs' } };
    const access = `hf_oauth_mock_${randomBytes(12).toString('hex')}`;
    accounts.set(access, { user: MOCK_USER, orgs: [MOCK_ORG], role: 'write' });
    return { status: 200, body: { access_token: access, token_type: 'bearer', expires_in: 3600, id_token: 'mock.id.token', scope: 'openid profile write-repos' } };
  }

  return side;
}
