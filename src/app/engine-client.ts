// The page's handle on the engine worker. Only this module knows there is a worker; components
// call the store, the store calls `engine`. Callbacks cross with comlink's proxy().
import { proxy, wrap, type Remote } from 'comlink';
import type { StudioEngine } from '../worker/engine.ts';
import { NO_LIVE_WORKER } from '../worker/protocol.ts';

export type Engine = Remote<StudioEngine>;

let remote: Engine | null = null;

export function engine(): Engine {
  if (!remote) {
    // `?live=off` in the page's address evaluates WebGPU merges through the pre-live-loop path (the whole
    // merge read back to the host, then uploaded): the bench's baseline (tools/bench/studio-live.ts).
    // The worker learns it from its name, the one thing a module worker gets from the page at start.
    const noLive = new URLSearchParams(location.search).get('live') === 'off';
    const worker = new Worker(new URL('../worker/studio.worker.ts', import.meta.url), { type: 'module', name: noLive ? NO_LIVE_WORKER : 'merge-studio-engine' });
    remote = wrap<StudioEngine>(worker);
  }
  return remote;
}

export const callback = proxy;

/** True for the errors a cancelled or superseded job ends with (not worth showing). */
export function isAbort(err: unknown): boolean {
  const name = (err as { name?: string } | null)?.name;
  return name === 'AbortError' || /superseded|cancelled/.test((err as Error)?.message ?? '');
}

export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
