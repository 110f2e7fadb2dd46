// Bounds on every wait of an HTTP request (issue 18): an answer (status and headers) must come
// within connect + first-byte time, and once the body has started, no gap between chunks may be
// longer than the stall time. fetch() exposes no "connected" event, so connect and first byte
// share one deadline, their sum. A timeout is a retryable MergeStudioError naming the URL without
// credentials or query (text.ts redactUrl); the callers retry with backoff.
import { MergeStudioError } from '../errors.ts';
import { redactUrl } from '../text.ts';

export interface HubTimeouts {
  /** Time allowed to open the connection (added to firstByteMs: one deadline for the answer). */
  connectMs: number;
  /** Time allowed from the request to the response headers, once connected. */
  firstByteMs: number;
  /** Longest wait for the next body chunk once the answer has started. */
  stallMs: number;
}

/** Generous enough for multi-GB files on a slow link, where a CDN can take a while to start. */
export const DEFAULT_HUB_TIMEOUTS: HubTimeouts = { connectMs: 30_000, firstByteMs: 60_000, stallMs: 60_000 };

function timeoutError(code: string, url: URL, what: string): MergeStudioError {
  return new MergeStudioError(code, `${redactUrl(url)}: ${what}`, { url: redactUrl(url), retryable: true });
}

const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);

/** The response with a body that fails with a 'hub-timeout' when no chunk arrives for `stallMs`. */
function watchBody(resp: Response, url: URL, stallMs: number, code: string, onError?: (err: MergeStudioError) => void): Response {
  if (!resp.body || NULL_BODY_STATUS.has(resp.status)) return resp;
  const reader = resp.body.getReader();
  let received = 0;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(timeoutError(code, url, `the server sent ${received} bytes of the body, then nothing for ${stallMs / 1000} s (stalled)`)), stallMs);
      });
      try {
        const r = await Promise.race([reader.read(), stalled]);
        if (r.done) controller.close();
        else {
          received += r.value.byteLength;
          controller.enqueue(r.value);
        }
      } catch (err) {
        if (err instanceof MergeStudioError) {
          onError?.(err);
          reader.cancel(err).catch(() => undefined);
        }
        controller.error(err);
      } finally {
        clearTimeout(timer);
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  const out = new Response(stream, { status: resp.status, statusText: resp.statusText, headers: resp.headers });
  Object.defineProperty(out, 'url', { value: resp.url });
  Object.defineProperty(out, 'redirected', { value: resp.redirected });
  return out;
}

/** `fetch` with a deadline for the answer (connect + first byte) and a stall limit on the body;
 * either ends in a retryable MergeStudioError `code`, also passed to `onError` (for callers that
 * read through a library stream that keeps only the message). */
export async function fetchWithTimeouts(doFetch: typeof fetch, url: URL, init: RequestInit, t: HubTimeouts, code: string, onError?: (err: MergeStudioError) => void): Promise<Response> {
  const deadline = new AbortController();
  const signal = init.signal ? AbortSignal.any([init.signal, deadline.signal]) : deadline.signal;
  const waitMs = t.connectMs + t.firstByteMs;
  const timer = setTimeout(() => deadline.abort(), waitMs);
  let resp: Response;
  try {
    resp = await doFetch(url, { ...init, signal });
  } catch (err) {
    if (deadline.signal.aborted && !init.signal?.aborted) {
      const e = timeoutError(code, url, `no answer within ${waitMs / 1000} s (connect ${t.connectMs / 1000} s + first byte ${t.firstByteMs / 1000} s)`);
      onError?.(e);
      throw e;
    }
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return watchBody(resp, url, t.stallMs, code, onError);
}

