// A hostile Hub for the security and robustness tests (issue 18): a front server on 127.0.0.1 that
// forwards to an ordinary mock Hub (server.ts) and then misbehaves in one chosen way, as a broken
// or malicious mirror given to --hub-url would. Kept apart from server.ts so the ordinary mock
// stays a faithful Hub; nothing in the product knows about either.
//
//   const evil = await startHostileHub({ root, mode: { kind: 'flip-byte' } });
//   ... hubTree({ repo: 'zoo/tiny-llama-base', hubUrl: evil.url, ... }) ...
//   evil.requests  // what reached it;  await evil.close()
//
// Modes (see HostileMode): traversal or non-hex content ids in the listing, content ids that are
// valid hex but wrong, file bodies with one byte flipped, error answers whose text carries terminal
// escape codes, silence (accepts the connection, never answers), and a stall after N body bytes.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { startMockHub, type MockHubOptions } from './server.ts';

export type HostileMode =
  /** Listing: every content id (oid and lfs.oid) becomes `prefix + path`, e.g. '../../../../tmp/x/'. */
  | { kind: 'traversal-etag'; prefix: string }
  /** Listing: every content id becomes a non-hex name ('not-a-hash-N'). */
  | { kind: 'non-hex-etag' }
  /** Listing: content ids are well-formed hex of the right length, but of other bytes. */
  | { kind: 'wrong-hash' }
  /** File bodies: the byte at `offset` (default: the file's last byte) is flipped in every response
   * that covers it, for files whose path ends with `suffix` (default '.safetensors'). */
  | { kind: 'flip-byte'; offset?: number; suffix?: string }
  /** Every request except the `/__mock/` controls is answered 400 with a JSON `error` holding
   * terminal escape codes (title change, screen clear, colour) and a bidi override. */
  | { kind: 'escape-error' }
  /** Accepts connections and never answers requests on `on` ('all' default, or 'files': /resolve/ only). */
  | { kind: 'silent'; on?: 'all' | 'files' }
  /** Sends the status line, headers and the first `afterBytes` bytes of the body, then nothing. */
  | { kind: 'stall'; afterBytes: number; on?: 'all' | 'files' };

/** The escape codes the 'escape-error' mode sends: OSC title, clear screen, red, reset, RLO. */
export const HOSTILE_ERROR_TEXT = 'bad request \u001b]0;pwned\u0007\u001b[2J\u001b[31mred\u001b[0m \u202eevil';

export interface HostileRequest {
  method: string;
  url: string;
  range?: string;
}

export interface HostileHub {
  url: string;
  /** The well-behaved mock Hub behind it (its repos, with the true bytes and hashes). */
  inner: Awaited<ReturnType<typeof startMockHub>>;
  requests: HostileRequest[];
  close(): Promise<void>;
}

function isFileRequest(path: string): boolean {
  return /^\/[^/]+\/[^/]+\/resolve\//.test(path);
}

function rewriteListing(entries: Record<string, unknown>[], mode: HostileMode): Record<string, unknown>[] {
  let n = 0;
  return entries.map((e) => {
    if (e.type !== 'file') return e;
    const path = String(e.path);
    const id =
      mode.kind === 'traversal-etag'
        ? `${mode.prefix}${path}`
        : mode.kind === 'non-hex-etag'
          ? `not-a-hash-${++n}`
          : null;
    const lfs = e.lfs as Record<string, unknown> | undefined;
    if (id !== null) return { ...e, oid: id, ...(lfs ? { lfs: { ...lfs, oid: id } } : {}) };
    // wrong-hash: the hash of other bytes, in the right form for the file's kind.
    const other = createHash('sha256').update(`not ${path}`).digest('hex');
    return { ...e, oid: other.slice(0, 40), ...(lfs ? { lfs: { ...lfs, oid: other } } : {}) };
  });
}

export async function startHostileHub(opts: MockHubOptions & { mode: HostileMode }): Promise<HostileHub> {
  const inner = await startMockHub({ ...opts, port: 0 });
  const mode = opts.mode;
  const requests: HostileRequest[] = [];
  const sockets = new Set<Socket>();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const path = new URL(url, 'http://x').pathname;
    requests.push({ method: req.method ?? 'GET', url, range: req.headers.range });
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Allow-Headers', 'Authorization, Range, Content-Type, Accept, If-None-Match');
    res.setHeader('Access-Control-Expose-Headers', 'Content-Range, Content-Length, Accept-Ranges, ETag, X-Linked-Etag, X-Linked-Size, X-Repo-Commit, X-Error-Code, X-Error-Message');
    if (req.method === 'OPTIONS') {
      res.writeHead(204).end();
      return;
    }
    const targeted = (on?: 'all' | 'files') => (on ?? 'all') === 'all' || isFileRequest(path);
    if (mode.kind === 'silent' && targeted(mode.on)) return; // never answer; the socket stays open
    if (mode.kind === 'escape-error' && !path.startsWith('/__mock/')) {
      const body = JSON.stringify({ error: HOSTILE_ERROR_TEXT });
      res.writeHead(400, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) }).end(body);
      return;
    }
    const headers: Record<string, string> = {};
    for (const h of ['range', 'authorization']) if (req.headers[h]) headers[h] = String(req.headers[h]);
    const answer = await fetch(`${inner.url}${url}`, { method: req.method, headers, redirect: 'manual' });
    let body = new Uint8Array(await answer.arrayBuffer());
    const out: Record<string, string> = {};
    answer.headers.forEach((v, k) => {
      if (!['content-length', 'connection', 'keep-alive', 'transfer-encoding', 'content-encoding'].includes(k) && !k.startsWith('access-control-')) out[k] = v;
    });
    if ((mode.kind === 'traversal-etag' || mode.kind === 'non-hex-etag' || mode.kind === 'wrong-hash') && /^\/api\/models\/[^/]+\/[^/]+\/tree\//.test(path) && answer.ok) {
      body = new TextEncoder().encode(JSON.stringify(rewriteListing(JSON.parse(new TextDecoder().decode(body)) as Record<string, unknown>[], mode)));
    }
    if (mode.kind === 'flip-byte' && isFileRequest(path) && path.endsWith(mode.suffix ?? '.safetensors') && (answer.status === 200 || answer.status === 206)) {
      const m = /^\/([^/]+)\/([^/]+)\/resolve\/[^/]+\/(.+)$/.exec(path)!;
      const size = inner.repos.get(`${m[1]}/${m[2]}`)?.files.get(decodeURIComponent(m[3]))?.size ?? 0;
      const at = mode.offset ?? size - 1;
      const start = answer.status === 206 ? Number(/^bytes (\d+)-/.exec(answer.headers.get('content-range') ?? '')?.[1] ?? 0) : 0;
      if (at >= start && at < start + body.byteLength) {
        body = body.slice();
        body[at - start] ^= 0x01;
      }
    }
    if (mode.kind === 'stall' && targeted(mode.on) && req.method !== 'HEAD' && body.byteLength > mode.afterBytes) {
      res.writeHead(answer.status, { ...out, 'Content-Length': String(body.byteLength) });
      res.write(body.subarray(0, mode.afterBytes)); // ...and nothing more
      return;
    }
    res.writeHead(answer.status, { ...out, 'Content-Length': req.method === 'HEAD' ? (answer.headers.get('content-length') ?? '0') : String(body.byteLength) });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(String(err));
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    inner,
    requests,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await inner.close();
    },
  };
}
