// Publishing through @huggingface/hub's real client against the mock Hub's write side: one commit
// at the end, resume by sha256, and a clear message for each failure the Hub can answer.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startMockHub, type MockHub } from '../../../tools/mock-hub/server.ts';
import { MOCK_READ_TOKEN, MOCK_WRITE_TOKEN } from '../../../tools/mock-hub/write.ts';
import { ensureRepo, publishFiles, type PublishFile, type PublishTarget } from './upload.ts';

const ZOO = resolve('public/zoo');
let hub: MockHub;
let base: PublishFile[];
beforeAll(async () => {
  // Parts of 256 KiB from 400 KB up: the 1.5 MB demo model goes up in multipart.
  hub = await startMockHub({ port: 0, root: ZOO, write: { multipartThreshold: 400_000, partSize: 256 * 1024 } });
  const dir = join(ZOO, 'tiny-llama/base');
  base = await Promise.all((await readdir(dir)).map(async (name) => ({ path: name, content: new Blob([await readFile(join(dir, name))]) })));
});
afterAll(async () => hub?.close());
beforeEach(() => hub.write.reset());

let n = 0;
const target = (over: Partial<PublishTarget> = {}): PublishTarget => ({ repo: `mock-user/t${++n}-${Date.now() % 1e6}`, hubUrl: hub.url, accessToken: MOCK_WRITE_TOKEN, ...over });
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Random-content "shards": uploads do not look inside files. */
function shards(sizes: number[], seed = 1): PublishFile[] {
  let x = seed;
  return sizes.map((size, i) => {
    const b = new Uint8Array(size);
    for (let j = 0; j < size; j++) b[j] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    return { path: `model-0000${i + 1}-of-0000${sizes.length}.safetensors`, content: new Blob([b]) };
  });
}

/** Every file of the repo at `revision`, through the mock's read endpoints (tree listing + resolve). */
async function readBack(repo: string, revision = 'main'): Promise<Map<string, Uint8Array>> {
  const listing = (await (await fetch(`${hub.url}/api/models/${repo}/tree/${revision}?recursive=true`)).json()) as { path: string; type: string }[];
  const out = new Map<string, Uint8Array>();
  for (const e of listing) {
    if (e.type !== 'file') continue;
    const res = await fetch(`${hub.url}/${repo}/resolve/${revision}/${e.path}`);
    expect(res.status).toBe(200);
    out.set(e.path, new Uint8Array(await res.arrayBuffer()));
  }
  return out;
}

describe('publishing to the Hub (real @huggingface/hub client, mock Hub)', () => {
  it('creates the repo, uploads LFS files (multipart for the large one) and commits once; the files read back byte for byte', async () => {
    const t = target();
    expect(await ensureRepo(t)).toEqual({ created: true });
    const files: string[][] = [];
    const result = await publishFiles(base, t, { onFiles: (f) => files.push(f.map((x) => `${x.path}:${x.state}`)) });
    expect(hub.write.log.commits).toHaveLength(1);
    expect(hub.write.log.commits[0].files.sort()).toEqual(base.map((f) => f.path).sort());
    expect(result.uploaded).toEqual(['model.safetensors']);
    expect(result.inline.sort()).toEqual(base.map((f) => f.path).filter((p) => p !== 'model.safetensors').sort());
    expect(hub.write.log.lfsStored).toEqual([{ oid: sha(new Uint8Array(await base.find((f) => f.path === 'model.safetensors')!.content.arrayBuffer())), size: 1505048, multipart: true }]);
    expect(files.flat()).toContain('model.safetensors:uploading');
    const back = await readBack(t.repo);
    for (const f of base) expect(sha(back.get(f.path)!)).toBe(sha(new Uint8Array(await f.content.arrayBuffer())));
    expect(back.has('.gitattributes')).toBe(true);
    // ETags as on the Hub: sha256 for the LFS file.
    const head = await fetch(`${hub.url}/${t.repo}/resolve/main/model.safetensors`, { method: 'HEAD' });
    expect(head.headers.get('etag')).toBe(`"${hub.write.log.lfsStored[0].oid}"`);
  });

  it('resumes an interrupted push: files the Hub stored are skipped, nothing is committed until all are up', async () => {
    const t = target();
    await ensureRepo(t);
    const files = shards([40_000, 60_000, 900_000]);
    const controller = new AbortController();
    // Interrupt as soon as one file is fully stored (as Ctrl-C or a closed tab would).
    const first = publishFiles(files, t, { signal: controller.signal, onFiles: (f) => { if (f.some((x) => x.state === 'done')) controller.abort(); } });
    await expect(first).rejects.toThrow(/cancelled\. Nothing was committed/);
    expect(hub.write.log.commits).toEqual([]);
    expect([...(await readBack(t.repo)).keys()]).toEqual(['.gitattributes']);
    await new Promise((r) => setTimeout(r, 300)); // let the cut requests finish on the server
    const stored = new Set(hub.write.log.lfsStored.map((o) => o.oid));
    expect(stored.size).toBeGreaterThan(0);
    const oids = await Promise.all(files.map(async (f) => sha(new Uint8Array(await f.content.arrayBuffer()))));
    hub.write.log.uploadBytes = 0;
    const again = await publishFiles(files, t);
    const skipped = files.filter((_, i) => stored.has(oids[i])).map((f) => f.path);
    expect(again.skipped.sort()).toEqual(skipped.sort());
    expect(again.uploaded.sort()).toEqual(files.map((f) => f.path).filter((p) => !skipped.includes(p)).sort());
    expect(hub.write.log.uploadBytes).toBe(files.filter((f) => !skipped.includes(f.path)).reduce((s, f) => s + f.content.size, 0));
    expect(hub.write.log.commits).toHaveLength(1);
    const back = await readBack(t.repo);
    for (const f of files) expect(sha(back.get(f.path)!)).toBe(sha(new Uint8Array(await f.content.arrayBuffer())));
  });

  it('network loss mid-file: a clear message, no commit, and the same push then completes', async () => {
    const t = target();
    await ensureRepo(t);
    const files = shards([30_000, 700_000], 7);
    const big = sha(new Uint8Array(await files[1].content.arrayBuffer()));
    hub.write.faults = { dropUploadAfter: 100_000, uploadDrops: 1, dropOid: big };
    const err = await publishFiles(files, t).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/connection to 127\.0\.0\.1:\d+ was lost while uploading .*model-00002-of-00002\.safetensors.*Nothing was committed\. Run the same push again: files the Hub already has are skipped/);
    expect(hub.write.log.commits).toEqual([]);
    const again = await publishFiles(files, t);
    expect(again.uploaded).toContain('model-00002-of-00002.safetensors');
    expect(hub.write.log.commits).toHaveLength(1);
    expect(sha((await readBack(t.repo)).get('model-00002-of-00002.safetensors')!)).toBe(big);
  });

  it('a failed commit leaves the repo as it was (uploads done, no half-published model)', async () => {
    const t = target();
    await ensureRepo(t);
    hub.write.faults = { failCommits: 1 };
    await expect(publishFiles(base, t)).rejects.toThrow(/answered 500 during commit of .*Nothing was committed\. Run the same push again/);
    expect([...(await readBack(t.repo)).keys()]).toEqual(['.gitattributes']);
    expect(hub.write.log.lfsStored).toHaveLength(1);
    const again = await publishFiles(base, t);
    expect(again.skipped).toEqual(['model.safetensors']);
  });

  it('401 without or with a bad token, 403 for a read-only token or a foreign namespace', async () => {
    await expect(ensureRepo(target({ accessToken: undefined }))).rejects.toThrow(/refused the credentials \(401\): publishing needs a token with write access; pass one with --token or HF_TOKEN/);
    await expect(ensureRepo(target({ accessToken: 'hf_not_a_real_token_000000000000000' }))).rejects.toThrow(/refused the credentials \(401\): the token is not valid or has expired/);
    await expect(ensureRepo(target({ accessToken: MOCK_READ_TOKEN }))).rejects.toThrow(/no write access to mock-user\/.* \(403\): the token cannot write to the namespace 'mock-user'.*read-only/);
    await expect(ensureRepo(target({ repo: 'zoo/new-model' }))).rejects.toThrow(/no write access to zoo\/new-model .*\(403\)/);
    // A push into a repo one cannot write (the studio names its fields instead of flags).
    await expect(publishFiles(base, target({ repo: 'zoo/tiny-llama-base', surface: 'studio' }))).rejects.toThrow(/no write access to zoo\/tiny-llama-base/);
  });

  it('409 when the repo exists: names --existing-ok or another name; with existingOk it pushes into it', async () => {
    const t = target();
    await ensureRepo(t);
    await expect(ensureRepo(t)).rejects.toThrow(new RegExp(`${t.repo} already exists on 127\\.0\\.0\\.1:\\d+: pass --existing-ok to push into it, or choose another --repo name`));
    await expect(ensureRepo({ ...t, surface: 'studio' })).rejects.toThrow(/tick 'push into the existing repo', or choose another name/);
    expect(await ensureRepo({ ...t, existingOk: true })).toEqual({ created: false });
  });

  it('413 over the storage quota: names the quota, commits nothing', async () => {
    const t = target();
    await ensureRepo(t);
    hub.write.faults = { quotaBytes: 1_000_000 };
    await expect(publishFiles(shards([300_000, 800_000], 3), t)).rejects.toThrow(/refused the upload of .* \(413\): .*Storage quota exceeded for "mock-user".*Nothing was committed/);
    expect(hub.write.log.commits).toEqual([]);
  });

  it('pushes to a branch, created from main; main keeps its files', async () => {
    const t = target({ revision: 'v1' });
    await ensureRepo(t);
    const r = await publishFiles(base.filter((f) => f.path.endsWith('.json')), t);
    expect(r.url).toBe(`${hub.url}/${t.repo}/tree/v1`);
    expect([...(await readBack(t.repo, 'v1')).keys()].sort()).toEqual(['.gitattributes', ...base.filter((f) => f.path.endsWith('.json')).map((f) => f.path)].sort());
    expect([...(await readBack(t.repo)).keys()]).toEqual(['.gitattributes']);
  });
});
