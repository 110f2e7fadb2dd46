// The CLI against a hostile Hub (tools/mock-hub/hostile.ts), through the real entry
// (bin/merge-studio.mjs): a silent or stalling server ends `inspect`/`merge` with exit 1 and one
// line naming the URL instead of a hang; error text with escape codes reaches the terminal escaped;
// a Hub URL with a password is refused without printing it or retrying; a listing whose content
// ids walk out of the cache writes nothing outside it.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHostileHub, type HostileHub, type HostileMode } from '../../tools/mock-hub/hostile.ts';
import { writeFixtureZoo } from '../../tools/mock-hub/fixture-zoo.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(repoRoot, 'bin/merge-studio.mjs');
let dir: string;
const hubs: HostileHub[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ms-cli-hostile-'));
  await writeFixtureZoo(join(dir, 'zoo'));
  await mkdir(join(dir, 'outside'));
  await writeFile(join(dir, 'outside', 'config.json'), 'keep me');
  await writeFile(
    join(dir, 'recipe.yml'),
    'models:\n  - model: zoo/tiny-llama-add\n    parameters: {weight: 0.5}\n  - model: zoo/tiny-llama-reverse\n    parameters: {weight: 0.5}\nbase_model: zoo/tiny-llama-base\nmerge_method: task_arithmetic\ndtype: bfloat16\n',
  );
});
afterAll(async () => {
  for (const h of hubs) await h.close();
  await rm(dir, { recursive: true, force: true });
});

async function hostile(mode: HostileMode): Promise<HostileHub> {
  const h = await startHostileHub({ root: join(dir, 'zoo'), mode });
  hubs.push(h);
  return h;
}

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string; seconds: number }> {
  const env = { ...process.env, HF_TOKEN: '', HF_ENDPOINT: '', HF_HUB_OFFLINE: '', MERGE_STUDIO_HUB_TIMEOUT: '' };
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: dir, env, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? -1) : 0;
      resolve({ code: typeof code === 'number' ? code : -1, stdout, stderr, seconds: (Date.now() - started) / 1000 });
    });
  });
}

/** Lines of stderr other than download progress. */
const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l && !l.startsWith('download '));

async function filesUnder(root: string, skip: string[]): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string): Promise<void> {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (skip.includes(p)) continue;
      if (e.isDirectory()) await walk(p);
      else out.push(`${relative(root, p)} ${(await stat(p).catch(() => null))?.mtimeMs ?? 'dangling'}`);
    }
  }
  await walk(root);
  return out.sort();
}

describe('merge-studio against a hostile Hub', () => {
  it('inspect: a server that never answers ends in one line naming the URL, exit 1', async () => {
    const evil = await hostile({ kind: 'silent' });
    const r = await cli(['inspect', 'zoo/tiny-llama-base', '--hub-url', evil.url, '--no-cache', '--hub-timeout', '0.5', '--hub-retries', '1']);
    expect(r.code).toBe(1);
    expect(r.seconds).toBeLessThan(30);
    expect(errorLines(r.stderr)).toEqual([
      `zoo/tiny-llama-base@main: resolve the revision: stalled (${evil.url}/api/models/zoo/tiny-llama-base/revision/main: no answer within 1 s (connect 0.5 s + first byte 0.5 s)); retry 1 of 1 in 0.5 s`,
      `merge-studio inspect: ${evil.url}/api/models/zoo/tiny-llama-base/revision/main: no answer within 1 s (connect 0.5 s + first byte 0.5 s) (2 attempts) [hub-timeout]`,
    ]);
  });

  it('merge: a body that stalls after 10 bytes ends in one line naming the URL, exit 1, no output folder', async () => {
    const evil = await hostile({ kind: 'stall', afterBytes: 10, on: 'files' });
    const out = join(dir, 'merged-stall');
    const r = await cli(['merge', join(dir, 'recipe.yml'), '--out', out, '--hub-url', evil.url, '--cache-dir', join(dir, 'cache-stall'), '--hub-timeout', '0.5', '--hub-retries', '1']);
    expect(r.code).toBe(1);
    expect(r.seconds).toBeLessThan(30);
    // merge reads config.json first; its bytes come 10 at a time, then the server goes quiet.
    const commit = evil.inner.repos.get('zoo/tiny-llama-base')!.commit;
    const size = evil.inner.repos.get('zoo/tiny-llama-base')!.files.get('config.json')!.bytes.byteLength;
    expect(errorLines(r.stderr).at(-1)).toBe(
      `merge-studio merge: zoo/tiny-llama-base@main/config.json: download failed 2 times in a row at byte 20 of [0, ${size}) (${evil.url}/zoo/tiny-llama-base/resolve/${commit}/config.json: the server sent 10 bytes of the body, then nothing for 0.5 s (stalled)); the 20 bytes received are kept in ${join(dir, 'cache-stall')}, run again to resume`,
    );
    await expect(stat(out)).rejects.toThrow();
  });

  it('inspect: escape codes in a Hub error are printed escaped, and a 400 is asked once', async () => {
    const evil = await hostile({ kind: 'escape-error' });
    const r = await cli(['inspect', 'zoo/tiny-llama-base', '--hub-url', evil.url, '--no-cache']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`merge-studio inspect: zoo/tiny-llama-base@main: ${new URL(evil.url).host} answered 400 Bad Request: bad request \\x1b]0;pwned\\x07\\x1b[2J\\x1b[31mred\\x1b[0m \\u202eevil [hub-request-failed]\n`);
    // eslint-disable-next-line no-control-regex -- the point: no raw control character reaches the terminal
    expect(r.stderr.slice(0, -1)).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202e]/);
    expect(evil.requests.length).toBe(1);
  });

  it('a Hub URL with a user name and password: refused before any request, the password never printed', async () => {
    const evil = await hostile({ kind: 'escape-error' });
    const port = new URL(evil.url).port;
    const r = await cli(['inspect', 'zoo/tiny-llama-base', '--hub-url', `http://user:s3cret@127.0.0.1:${port}`, '--no-cache']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`merge-studio inspect: the Hub URL 'http://***@127.0.0.1:${port}/' contains a user name or password, which is not sent; give the URL without them and pass an access token with --token or HF_TOKEN (in the studio: the Hub token field) [hub-bad-url]\n`);
    expect(r.stderr + r.stdout).not.toContain('s3cret');
    expect(evil.requests.length).toBe(0);
  });

  it('merge: content ids that walk out of the cache write nothing outside it', async () => {
    // From <cache>/models--zoo--tiny-llama-base/blobs/ this names <dir>/outside/<path>.
    const evil = await hostile({ kind: 'traversal-etag', prefix: '../../../outside/' });
    const cache = join(dir, 'cache-traversal');
    const before = await filesUnder(dir, [cache]);
    const r = await cli(['merge', join(dir, 'recipe.yml'), '--out', join(dir, 'merged-traversal'), '--hub-url', evil.url, '--cache-dir', cache]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("merge-studio merge: zoo/tiny-llama-base@main/README.md: the Hub listed the content id '../../../outside/README.md' where a 40-digit hex git blob id was expected; nothing is downloaded for a file that cannot be verified\n");
    expect(await filesUnder(dir, [cache])).toEqual(before);
    expect(await readFile(join(dir, 'outside', 'config.json'), 'utf8')).toBe('keep me');
  });
});
