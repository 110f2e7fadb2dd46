// The worker's end of a streamed download: bytes go over a MessagePort to the service worker
// (public/export-sw.js), which serves them as the body of a download. The service worker asks
// for each piece ('pull', one per free slot of its small queue), so at most a few pieces are in
// flight whatever the file size; a heartbeat lets it fail the download if this side dies (a
// reload), instead of leaving a download that never ends.
import { MergeStudioError } from '../errors.ts';
import type { ChunkWriter } from './tar.ts';

/** Messages to the service worker. */
export type StreamToServiceWorker = { type: 'chunk'; bytes: Uint8Array } | { type: 'end' } | { type: 'error'; message: string } | { type: 'alive' };
/** Messages from the service worker. */
export type StreamFromServiceWorker = { type: 'pull' } | { type: 'cancel'; reason?: string };

interface PortLike {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent) => void) | null;
  close(): void;
}

export interface PortWriterOptions {
  /** Largest piece posted at once (default 1 MiB). */
  pieceBytes?: number;
  /** Milliseconds between heartbeats (default 5000). */
  heartbeatMs?: number;
}

export function portChunkWriter(port: PortLike, options: PortWriterOptions = {}): ChunkWriter {
  const pieceBytes = options.pieceBytes ?? 1 << 20;
  let credits = 0;
  let cancelled: MergeStudioError | null = null;
  let finished = false;
  let wake: (() => void) | null = null;
  port.onmessage = (event: MessageEvent) => {
    const msg = event.data as StreamFromServiceWorker;
    if (msg?.type === 'pull') credits++;
    else if (msg?.type === 'cancel') cancelled = new MergeStudioError('download-cancelled', `the download was cancelled in the browser${msg.reason ? ` (${msg.reason})` : ''}`);
    wake?.();
  };
  const heartbeat = setInterval(() => port.postMessage({ type: 'alive' } satisfies StreamToServiceWorker), options.heartbeatMs ?? 5000);
  const stop = () => {
    finished = true;
    clearInterval(heartbeat);
    port.onmessage = null;
    wake?.();
  };
  const credit = async () => {
    while (credits === 0 && !cancelled && !finished) await new Promise<void>((resolve) => (wake = resolve));
    wake = null;
    if (cancelled) throw cancelled;
    if (finished) throw new MergeStudioError('sink-closed', 'streamed download: write after close or abort');
    credits--;
  };
  return {
    async write(chunk: Uint8Array) {
      for (let at = 0; at < chunk.byteLength; at += pieceBytes) {
        await credit();
        // A copy of our own to transfer: the caller reuses its buffer once write() resolves.
        const piece = chunk.slice(at, Math.min(chunk.byteLength, at + pieceBytes));
        port.postMessage({ type: 'chunk', bytes: piece } satisfies StreamToServiceWorker, [piece.buffer]);
      }
    },
    async close() {
      if (finished) return;
      if (cancelled) throw cancelled;
      port.postMessage({ type: 'end' } satisfies StreamToServiceWorker);
      stop();
    },
    async abort(reason: Error) {
      if (finished) return;
      port.postMessage({ type: 'error', message: reason.message } satisfies StreamToServiceWorker);
      stop();
    },
  };
}
