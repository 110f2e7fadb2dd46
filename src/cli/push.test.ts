// `merge-studio push DIR` and `merge-studio merge RECIPE --push`, through the real CLI entry and
// @huggingface/hub's real client, against the mock Hub (which also serves the inputs by id):
// what comes back by id (bytes, inspect, eval scores) equals the local export; the card parses
// as Hub metadata; resume, no commit on failure and the error messages.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockHub, type MockHub } from '../../tools/mock-hub/server.ts';
import { MOCK_WRITE_TOKEN } from '../../tools/mock-hub/write.ts';
import { parseFrontMatter } from '../core/hub/model-card.ts';
import { parseEvalArgs, runEval } from './eval.ts';
import { parseMergeArgs, runMerge } from './merge.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'bin/merge-studio.mjs');
const ZOO = resolve('public/zoo');
const TASKS = [join(ZOO, 'tasks/caesar.gen.jsonl'), join(ZOO, 'tasks/reverse.ppl.jsonl')].join(',');
let dir: string;
let hub: MockHub;

const RECIPE = (base: string, a: string, b: string) =>
  `name: tiny-merge\nmerge_method: task_arithmetic\nbase_model: ${base}\nmodels:\n  - model: ${a}\n    parameters: {weight: 1}\n  - model: ${b}\n    parameters: {weight: 1}\ndtype: bfloat16\n`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ms-push-'));
  hub = await startMockHub({ port: 0, root: ZOO, write: { multipartThreshold: 500_000, partSize: 256 * 1024 } });
  await writeFile(join(dir, 'hub.yml'), RECIPE('zoo/tiny-llama-base', 'zoo/tiny-llama-reverse', 'zoo/tiny-llama-caesar'));
  // The same merge, written locally: the reference for bytes and scores.
  await runMerge(parseMergeArgs([join(dir, 'hub.yml'), '--out', join(dir, 'local'), '--shard-size', '600KB', '--hub-url', hub.url, '--no-cache']));
});
afterAll(async () => {
  await hub?.close();
  await rm(dir, { recursive: true, force: true });
});

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const childEnv = { ...process.env, HF_TOKEN: MOCK_WRITE_TOKEN, HF_ENDPOINT: '', HF_HUB_OFFLINE: '', TMPDIR: join(dir, 'tmp'), ...env };
  await import('node:fs/promises').then((fs) => fs.mkdir(join(dir, 'tmp'), { recursive: true }));
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, ...args], { cwd: dir, env: childEnv });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function repoFiles(repo: string): Promise<Map<string, string>> {
  const listing = (await (await fetch(`${hub.url}/api/models/${repo}/tree/main?recursive=true`)).json()) as { path: string }[];
  const out = new Map<string, string>();
  for (const e of listing) out.set(e.path, sha(new Uint8Array(await (await fetch(`${hub.url}/${repo}/resolve/main/${e.path}`)).arrayBuffer())));
  return out;
}

async function localFiles(folder: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of (await readdir(folder)).sort()) out.set(name, sha(await readFile(join(folder, name))));
  return out;
}

const scores = (out: Awaited<ReturnType<typeof runEval>>) => out.results.map((r) => ({ task: r.task, metrics: r.metrics, perItem: r.perItem }));

describe('merge-studio merge --push (streamed to the Hub)', () => {
  it('merges Hub models straight into a new Hub repo: same bytes, inspect and scores as the local export; one shard on disk at a time', async () => {
    hub.write.reset();
    const r = await cli(['merge', 'hub.yml', '--push', 'mock-user/tiny-merge', '--shard-size', '600KB', '--hub-url', hub.url, '--no-cache']);
    expect(r.stderr).toMatch(/pushed to http:\/\/127\.0\.0\.1:\d+\/mock-user\/tiny-merge \(commit [0-9a-f]{12}\): \d+ tensors, .* in 3 shard\(s\), 3 uploaded, 0 already on the Hub; at most .* on local disk at once/);
    expect(r.code).toBe(0);
    // The temp spool held one shard at most: never more than the largest shard file.
    const peak = /at most ([\d.]+) KiB on local disk/.exec(r.stderr);
    const shardSizes = await Promise.all((await readdir(join(dir, 'local'))).filter((n) => n.endsWith('.safetensors')).map(async (n) => (await readFile(join(dir, 'local', n))).byteLength));
    expect(peak).not.toBeNull();
    expect(Number(peak![1]) * 1024).toBeLessThanOrEqual(Math.max(...shardSizes) * 1.01) // printed rounded to 3 digits;
    expect(Math.max(...shardSizes)).toBeLessThan(shardSizes.reduce((a, b) => a + b, 0) / 2);
    expect(hub.write.log.commits).toHaveLength(1);
    const pushed = await repoFiles('mock-user/tiny-merge');
    const local = await localFiles(join(dir, 'local'));
    for (const [name, h] of local) if (name !== 'README.md') expect([name, pushed.get(name)]).toEqual([name, h]);
    expect([...pushed.keys()].sort()).toEqual(['.gitattributes', ...local.keys()].sort());
    // The spool folder is gone.
    expect((await readdir(join(dir, 'tmp'))).filter((n) => n.startsWith('merge-studio-push-'))).toEqual([]);
    // Read back by id: inspect and eval agree with the local folder.
    const inspectHub = await cli(['inspect', 'mock-user/tiny-merge', '--json', '--hub-url', hub.url, '--no-cache']);
    const inspectLocal = await cli(['inspect', join(dir, 'local'), '--json']);
    expect(inspectHub.code).toBe(0);
    const strip = (s: string) => (JSON.parse(s) as { tensors: unknown }).tensors;
    expect(strip(inspectHub.stdout)).toEqual(strip(inspectLocal.stdout));
    const fromHub = await runEval(parseEvalArgs(['mock-user/tiny-merge', '--task', TASKS, '--limit', '12', '--hub-url', hub.url, '--no-cache']));
    const fromDisk = await runEval(parseEvalArgs([join(dir, 'local'), '--task', TASKS, '--limit', '12']));
    expect(scores(fromHub)).toEqual(scores(fromDisk));
    // The card: Hub metadata with every input (they are Hub ids here) and their shared license.
    const card = await (await fetch(`${hub.url}/mock-user/tiny-merge/resolve/main/README.md`)).text();
    const { data } = parseFrontMatter(card);
    expect(data).toMatchObject({ base_model: ['zoo/tiny-llama-base', 'zoo/tiny-llama-reverse', 'zoo/tiny-llama-caesar'], base_model_relation: 'merge', library_name: 'transformers', tags: ['merge', 'mergekit', 'merge-studio'], license: 'apache-2.0' });
    expect(card).toContain('merge_method: task_arithmetic');
  });

  it('an upload cut mid-shard commits nothing; the retry skips the shards already uploaded', async () => {
    hub.write.reset();
    const local = await localFiles(join(dir, 'local'));
    const third = local.get('model-00003-of-00003.safetensors')!;
    hub.write.faults = { dropUploadAfter: 50_000, uploadDrops: 1, dropOid: third };
    const failed = await cli(['merge', 'hub.yml', '--push', 'mock-user/resumed', '--shard-size', '600KB', '--hub-url', hub.url, '--no-cache']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/merge-studio merge: the connection to 127\.0\.0\.1:\d+ was lost while uploading model-00003-of-00003\.safetensors .*Nothing was committed\. Run the same push again: files the Hub already has are skipped/);
    expect(hub.write.log.commits).toEqual([]);
    expect([...(await repoFiles('mock-user/resumed')).keys()]).toEqual(['.gitattributes']);
    expect(hub.write.log.lfsStored.map((o) => o.oid).sort()).toEqual([local.get('model-00001-of-00003.safetensors'), local.get('model-00002-of-00003.safetensors')].sort());
    const again = await cli(['merge', 'hub.yml', '--push', 'mock-user/resumed', '--existing-ok', '--shard-size', '600KB', '--hub-url', hub.url, '--no-cache']);
    expect(again.stderr).toMatch(/model-00001-of-00003\.safetensors: already on the Hub, skipped/);
    expect(again.stderr).toMatch(/1 uploaded, 2 already on the Hub/);
    expect(hub.write.log.commits).toHaveLength(1);
    const pushed = await repoFiles('mock-user/resumed');
    for (const [name, h] of local) if (name !== 'README.md') expect(pushed.get(name)).toBe(h);
  });
});

describe('merge-studio push DIR', () => {
  it('publishes the exported folder with the measured scores in the card; reading it back by id gives the same bytes and scores', async () => {
    const evalJson = await cli(['eval', join(dir, 'local'), '--task', TASKS, '--limit', '12', '--json']);
    expect(evalJson.code).toBe(0);
    await writeFile(join(dir, 'scores.json'), evalJson.stdout);
    const r = await cli(['push', 'local', '--repo', 'merge-org/tiny-merge', '--private', '--scores', 'scores.json', '--hub-url', hub.url]);
    expect(r.stderr).toMatch(/pushed local to http:\/\/127\.0\.0\.1:\d+\/merge-org\/tiny-merge \(commit [0-9a-f]{12}\): 3 LFS file\(s\) uploaded/);
    expect(r.code).toBe(0);
    expect(hub.write.log.created.find((c) => c.id === 'merge-org/tiny-merge')).toEqual({ id: 'merge-org/tiny-merge', private: true });
    const pushed = await repoFiles('merge-org/tiny-merge');
    const local = await localFiles(join(dir, 'local'));
    for (const [name, h] of local) if (name !== 'README.md') expect(pushed.get(name)).toBe(h);
    const fromHub = await runEval(parseEvalArgs(['merge-org/tiny-merge', '--task', TASKS, '--limit', '12', '--hub-url', hub.url, '--no-cache']));
    expect(scores(fromHub)).toEqual(scores(await runEval(parseEvalArgs([join(dir, 'local'), '--task', TASKS, '--limit', '12']))));
    // model-index: each measured metric, with its task and item count, equal to what eval printed.
    const { data } = parseFrontMatter(await (await fetch(`${hub.url}/merge-org/tiny-merge/resolve/main/README.md`)).text());
    const measured = (JSON.parse(evalJson.stdout) as { results: { task: string; items: number; metrics: Record<string, number> }[] }).results;
    const index = data['model-index'] as { name: string; results: { dataset: { name: string; args: { items: number } }; metrics: { type: string; value: number }[] }[] }[];
    expect(index[0].name).toBe('tiny-merge');
    const flat = index[0].results.map((x) => [x.dataset.name, x.metrics[0].type, x.metrics[0].value, x.dataset.args.items]);
    for (const m of measured) for (const [metric, v] of Object.entries(m.metrics)) if (metric !== 'tokens') expect(flat).toContainEqual([m.task.replace(/\.jsonl$/, '').replace(/^.*\//, ''), metric, v, m.items]);
    expect(data).toMatchObject({ library_name: 'transformers', tags: ['merge', 'mergekit', 'merge-studio'], base_model: ['zoo/tiny-llama-base', 'zoo/tiny-llama-reverse', 'zoo/tiny-llama-caesar'] });
    expect(pushed.has('mergekit_config.yml')).toBe(true);
  });

  it('a second push of the same folder uploads nothing again; 409 names --existing-ok', async () => {
    const exists = await cli(['push', 'local', '--repo', 'merge-org/tiny-merge', '--hub-url', hub.url]);
    expect(exists.code).toBe(1);
    expect(exists.stderr).toMatch(/merge-studio push: merge-org\/tiny-merge already exists on 127\.0\.0\.1:\d+: pass --existing-ok to push into it, or choose another --repo name/);
    hub.write.reset();
    const again = await cli(['push', 'local', '--repo', 'merge-org/tiny-merge', '--existing-ok', '--revision', 'again', '--hub-url', hub.url]);
    expect(again.stderr).toMatch(/0 LFS file\(s\) uploaded \(0 B\), 3 already on the Hub/);
    expect(hub.write.log.uploadBytes).toBe(0);
  });

  it('refuses without a token, with a read-only one, into a foreign namespace, and a folder that is not a finished model', async () => {
    const noToken = await cli(['push', 'local', '--repo', 'mock-user/x', '--hub-url', hub.url], { HF_TOKEN: '' });
    expect(noToken.stderr).toMatch(/refused the credentials \(401\): publishing needs a token with write access; pass one with --token or HF_TOKEN/);
    const foreign = await cli(['push', 'local', '--repo', 'zoo/mine', '--hub-url', hub.url]);
    expect(foreign.stderr).toMatch(/no write access to zoo\/mine on 127\.0\.0\.1:\d+ \(403\)/);
    await import('node:fs/promises').then((fs) => fs.mkdir(join(dir, 'half'), { recursive: true }));
    await writeFile(join(dir, 'half/model.safetensors.partial'), 'x');
    const half = await cli(['push', 'half', '--repo', 'mock-user/x', '--hub-url', hub.url]);
    expect(half.stderr).toMatch(/half: no config\.json, so this is not a finished model folder/);
    const usage = await cli(['push', 'local']);
    expect(usage.stderr).toMatch(/--repo NAMESPACE\/NAME is required/);
    expect(() => parseMergeArgs(['hub.yml', '--out', 'x', '--private'])).toThrow(/--private: only with --push/);
    expect(() => parseMergeArgs(['hub.yml', '--out', 'x', '--push', 'a/b'])).toThrow(/either --out DIR or --push NAMESPACE\/NAME, not both/);
  });
});
