// A remote file read by HTTP range requests (Hub `resolve` URLs, any static server with ranges).
import { MergeStudioError } from '../errors.ts';
import { throwIfAborted } from '../progress.ts';
import { escapeControl, redactUrl } from '../text.ts';
import { checkReadRange } from './memory.ts';
import { DEFAULT_HUB_TIMEOUTS, fetchWithTimeouts, type HubTimeouts } from './timeouts.ts';
import type { ByteSource } from './types.ts';

export interface HttpRangeOptions {
  fetch?: typeof fetch;
  headers?: Record<string, string>;
  /** Known size (e.g. from the Hub's file listing); saves the probe request. */
  size?: number;
  /** Display name in errors; defaults to the URL. */
  name?: string;
  signal?: AbortSignal;
  /** Connect, first-byte and stall limits (io/timeouts.ts); default DEFAULT_HUB_TIMEOUTS. */
  timeouts?: Partial<HubTimeouts>;
}

const CONTENT_RANGE = /^bytes (\d+)-(\d+)\/(\d+|\*)$/;

async function rangeRequest(url: string, name: string, start: number, endInclusive: number, opts: HttpRangeOptions, signal?: AbortSignal): Promise<{ body: Uint8Array; total: number | null }> {
  const doFetch = opts.fetch ?? fetch;
  const timeouts = { ...DEFAULT_HUB_TIMEOUTS, ...opts.timeouts };
  let res: Response;
  try {
    res = await fetchWithTimeouts(doFetch, new URL(url), { headers: { ...opts.headers, Range: `bytes=${start}-${endInclusive}` }, signal }, timeouts, 'http-timeout');
  } catch (err) {
    if (err instanceof Error && err.name === 'AbortError') throw err;
    if (err instanceof MergeStudioError) throw err;
    throw new MergeStudioError('http-network', `${name}: request for bytes ${start}-${endInclusive} failed (${escapeControl(err instanceof Error ? err.message : String(err))})`, { file: name, url: redactUrl(url) });
  }
  if (res.status !== 206) {
    await res.body?.cancel().catch(() => undefined);
    if (res.status === 200) {
      throw new MergeStudioError('http-no-range', `${name}: server ignored the Range header (status 200 instead of 206); range reads are required`, { file: name, url, status: 200 });
    }
    const hint = res.status === 401 || res.status === 403 ? ' (gated or private: an access token is needed)' : res.status === 404 ? ' (no such file at this revision)' : '';
    throw new MergeStudioError('http-status', `${name}: HTTP ${res.status} ${escapeControl(res.statusText)} for bytes ${start}-${endInclusive}${hint}`, { file: name, url, status: res.status });
  }
  const contentRange = res.headers.get('content-range') ?? '';
  const m = CONTENT_RANGE.exec(contentRange.trim());
  if (!m || Number(m[1]) !== start || Number(m[2]) !== endInclusive) {
    await res.body?.cancel().catch(() => undefined);
    throw new MergeStudioError('http-bad-range', `${name}: asked for bytes ${start}-${endInclusive}, server answered Content-Range '${escapeControl(contentRange)}'`, { file: name, url, expected: `bytes ${start}-${endInclusive}/*`, found: contentRange });
  }
  let body: Uint8Array;
  try {
    body = new Uint8Array(await res.arrayBuffer());
  } catch (err) {
    if (err instanceof Error && err.name === 'AbortError') throw err;
    if (err instanceof MergeStudioError) throw err;
    throw new MergeStudioError('http-network', `${name}: connection lost while reading bytes ${start}-${endInclusive} (${escapeControl(err instanceof Error ? err.message : String(err))})`, { file: name, url: redactUrl(url) });
  }
  const expected = endInclusive - start + 1;
  if (body.byteLength !== expected) {
    throw new MergeStudioError('source-short-read', `${name}: expected ${expected} bytes for range ${start}-${endInclusive}, received ${body.byteLength}`, { file: name, url, expected, found: body.byteLength });
  }
  return { body, total: m[3] === '*' ? null : Number(m[3]) };
}

/** Opens a URL as a ByteSource. Without `size`, one 1-byte range request learns the size and
 * proves the server honours ranges. */
export async function httpRangeSource(url: string, opts: HttpRangeOptions = {}): Promise<ByteSource> {
  const name = opts.name ?? redactUrl(url);
  let size = opts.size;
  if (size === undefined) {
    throwIfAborted(opts.signal);
    const probe = await rangeRequest(url, name, 0, 0, opts, opts.signal);
    if (probe.total === null) {
      throw new MergeStudioError('http-bad-range', `${name}: server did not say the file size (Content-Range total is '*')`, { file: name, url });
    }
    size = probe.total;
  }
  const knownSize = size;
  return {
    name,
    size: knownSize,
    async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
      throwIfAborted(signal);
      checkReadRange(name, knownSize, offset, length);
      if (length === 0) return new Uint8Array(0);
      return (await rangeRequest(url, name, offset, offset + length - 1, opts, signal)).body;
    },
  };
}
