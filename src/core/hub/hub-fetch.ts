// The fetch every Hub call goes through: it keeps the token on the configured Hub host only,
// honours the caller's AbortSignal, and turns Hub error responses (status + X-Error-Code) into
// MergeStudioErrors a user can act on, before @huggingface/hub turns them into generic ones.
// It also bounds every wait (io/timeouts.ts): no answer in time, or a body that stops sending, is a
// retryable 'hub-timeout' naming the URL (without credentials).
import { MergeStudioError } from '../errors.ts';
import { DEFAULT_HUB_TIMEOUTS, fetchWithTimeouts, type HubTimeouts } from '../io/timeouts.ts';
import { escapeControl } from '../text.ts';

export { DEFAULT_HUB_TIMEOUTS, type HubTimeouts } from '../io/timeouts.ts';

export interface HubFetchContext {
  /** `org/name@revision`, as the user wrote it; used in messages. */
  label: string;
  hubUrl: string;
  accessToken?: string;
  fetch: typeof fetch;
  signal?: AbortSignal;
  /** Default DEFAULT_HUB_TIMEOUTS. */
  timeouts?: HubTimeouts;
}

/** Attached to errors that a retry may cure (dropped connections, 5xx, 429). */
export function isRetryable(err: unknown): boolean {
  if (err instanceof MergeStudioError) return err.details.retryable === true;
  if (err instanceof Error && err.name === 'AbortError') return false;
  // fetch() rejects with a TypeError on network failure; a body stream cut mid-way rejects with
  // TypeError('terminated') in Node and a TypeError/DOMException network error in browsers.
  return err instanceof TypeError || (err instanceof Error && /terminated|socket|network|ECONNRESET|ECONNREFUSED|other side closed/i.test(err.message));
}

function filePathOf(url: URL): string | undefined {
  const m = /\/resolve\/[^/]+\/(.+)$/.exec(url.pathname);
  if (!m) return undefined;
  try {
    return escapeControl(decodeURIComponent(m[1]));
  } catch {
    return escapeControl(m[1]);
  }
}

async function hubMessage(resp: Response): Promise<string> {
  // Server text is printed with its control characters escaped: a terminal must not obey them.
  const header = resp.headers.get('X-Error-Message');
  if (header) return escapeControl(header.slice(0, 500));
  let text: string;
  try {
    text = await resp.text();
  } catch {
    return '';
  }
  try {
    const parsed = JSON.parse(text) as { error?: unknown };
    if (typeof parsed.error === 'string') return escapeControl(parsed.error.slice(0, 500));
  } catch {
    // not JSON: the text itself
  }
  return escapeControl(text.slice(0, 200));
}

/** Maps one failed Hub response to a typed error. Never includes the token or request headers. */
export async function hubResponseError(resp: Response, url: URL, ctx: HubFetchContext): Promise<MergeStudioError> {
  const code = resp.headers.get('X-Error-Code') ?? '';
  const host = new URL(ctx.hubUrl).host;
  const file = filePathOf(url);
  const where = file ? `${ctx.label}/${file}` : ctx.label;
  const said = await hubMessage(resp);
  const details = { repo: ctx.label, file, status: resp.status, hubCode: code || undefined, hubMessage: said || undefined };
  const tokenHint = 'pass a token with --token or the HF_TOKEN environment variable (in the studio: the Hub token field)';
  if (code === 'RevisionNotFound') {
    return new MergeStudioError('hub-revision-not-found', `${ctx.label}: the revision does not exist on ${host} (a branch, tag or 40-character commit id was expected)`, details);
  }
  if (code === 'EntryNotFound') {
    return new MergeStudioError('file-not-found', `${where}: no such file in the repo on ${host}`, details);
  }
  if (code === 'RepoNotFound' || (resp.status === 404 && !code)) {
    const privateHint = ctx.accessToken ? ' (or it is private and the token given cannot see it)' : ` (or it is private: ${tokenHint})`;
    return new MergeStudioError('hub-not-found', `${ctx.label}: no such model on ${host}${privateHint}`, details);
  }
  if (resp.status === 401) {
    const why = ctx.accessToken
      ? 'the token was refused (is it valid and not expired?)'
      : code === 'GatedRepo'
        ? `the model is gated: accept its conditions on its Hub page, then ${tokenHint}`
        : `it needs authentication: ${tokenHint}`;
    return new MergeStudioError('hub-unauthorized', `${where}: ${host} answered 401 Unauthorized: ${why}`, details);
  }
  if (resp.status === 403) {
    const why = code === 'GatedRepo'
      ? 'the token does not have access to this gated model: request access on its Hub page with the account that owns the token (fine-grained tokens also need read access to gated repos)'
      : 'the token does not grant read access to this repo';
    return new MergeStudioError('hub-forbidden', `${where}: ${host} answered 403 Forbidden: ${why}`, details);
  }
  if (resp.status === 416) {
    return new MergeStudioError('hub-range', `${where}: ${host} refused a byte range (416); the file may have changed on the Hub`, details);
  }
  // Other 4xx answers will not change on a retry; 408 (timeout), 429 (rate limit) and 5xx may.
  const retryable = resp.status === 408 || resp.status === 429 || resp.status >= 500;
  return new MergeStudioError(retryable ? 'hub-server-error' : 'hub-request-failed', `${where}: ${host} answered ${resp.status} ${escapeControl(resp.statusText)}${said ? `: ${said}` : ''}`, { ...details, retryable });
}

/** Drops the user's Hub token from a request to another origin (a CDN after a redirect, a mirror
 * link). Other credentials stay: Xet storage hosts get their own short-lived read token. */
function withoutHubToken(headers: HeadersInit | undefined, token: string | undefined): Headers {
  const h = new Headers(headers);
  if (token && h.get('Authorization')?.includes(token)) h.delete('Authorization');
  return h;
}

/** A fetch for @huggingface/hub calls. `onError` sees each typed error before it is thrown, so
 * a caller that reads through a library stream (which keeps only the message) can recover it. */
export function createHubFetch(ctx: HubFetchContext, onError?: (err: MergeStudioError) => void): typeof fetch {
  const hubOrigin = new URL(ctx.hubUrl).origin;
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers = url.origin === hubOrigin ? new Headers(init?.headers) : withoutHubToken(init?.headers, ctx.accessToken);
    const signal = ctx.signal && init?.signal ? AbortSignal.any([ctx.signal, init.signal]) : (ctx.signal ?? init?.signal ?? undefined);
    const resp = await fetchWithTimeouts(ctx.fetch, url, { ...init, headers, signal }, ctx.timeouts ?? DEFAULT_HUB_TIMEOUTS, 'hub-timeout', onError);
    if (resp.ok) {
      const asked = /^bytes=(\d+)-/.exec(headers.get('Range') ?? '');
      const given = /^bytes (\d+)-/.exec(resp.headers.get('Content-Range') ?? '');
      // Bytes are written at the offset asked for, so a server answering another range must be caught.
      // The Hub answers the size probe of a Xet-stored file with JSON file info instead of bytes.
      const xetInfo = resp.headers.get('Content-Type')?.includes('application/vnd.xet-fileinfo+json');
      if (asked && !xetInfo && (resp.status !== 206 || (given && given[1] !== asked[1]))) {
        await resp.body?.cancel();
        const what = resp.status === 206 ? `answered range ${resp.headers.get('Content-Range')} for ${headers.get('Range')}` : `ignored a Range request (answered ${resp.status} with the whole file)`;
        const err = new MergeStudioError('hub-range-unsupported', `${ctx.label}/${filePathOf(url) ?? ''}: ${url.host} ${what}; a Hub mirror must support byte ranges`, { repo: ctx.label, status: resp.status });
        onError?.(err);
        throw err;
      }
      return resp;
    }
    const err = await hubResponseError(resp, url, ctx);
    onError?.(err);
    throw err;
  };
}
