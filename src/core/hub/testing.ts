// Test doubles shared by the Hub tests: the fixture zoo on a mock Hub for the whole file, and Cache
// Storage in memory standing in for the browser's (the Playwright tests exercise the real one).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { startMockHub, type MockHub } from '../../../tools/mock-hub/server.ts';
import { writeFixtureZoo } from '../../../tools/mock-hub/fixture-zoo.ts';
import type { CacheStorageLike } from './browser-cache.ts';

/** The fixture zoo written under a fresh temporary `root` and served by a mock Hub while the
 * calling test file runs (both removed after it). Read the fields inside tests, not at import. */
export function mockZooHub(prefix: string): { root: string; zoo: string; hub: MockHub } {
  const state = {} as { root: string; zoo: string; hub: MockHub };
  beforeAll(async () => {
    state.root = await mkdtemp(join(tmpdir(), prefix));
    state.zoo = join(state.root, 'zoo');
    await writeFixtureZoo(state.zoo);
    state.hub = await startMockHub({ port: 0, root: state.zoo });
  });
  afterAll(async () => {
    await state.hub?.close();
    if (state.root) await rm(state.root, { recursive: true, force: true });
  });
  return state;
}

/** Cache Storage semantics (match/put/delete by URL, bodies kept as bytes) in memory. */
export function memoryCacheStorage(): CacheStorageLike & { entries: Map<string, Uint8Array> } {
  const entries = new Map<string, Uint8Array>();
  const key = (r: RequestInfo | URL) => (r instanceof Request ? r.url : String(r));
  const cache = {
    async match(r: RequestInfo | URL) {
      const b = entries.get(key(r));
      return b ? new Response(b.slice()) : undefined;
    },
    async put(r: RequestInfo | URL, resp: Response) {
      entries.set(key(r), new Uint8Array(await resp.arrayBuffer()));
    },
    async delete(r: RequestInfo | URL) {
      return entries.delete(key(r));
    },
  };
  return { entries, open: async () => cache };
}
