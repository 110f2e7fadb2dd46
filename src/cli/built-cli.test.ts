// The compiled CLI (tools/build-cli.mjs -> dist-cli/) must behave exactly like the TypeScript
// sources: the bundle is built into a temporary folder here and run as a child process next to the
// tsx path, on the same commands; its chunks must not need tsx or any .ts file at run time.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

async function outcome(p: Promise<{ stdout: string; stderr: string }>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await p;
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('built CLI bundle', () => {
  let out = '';
  beforeAll(async () => {
    // Inside the checkout (.cache/ is ignored), so the bundle's npm imports resolve to node_modules.
    await mkdir(join(root, '.cache'), { recursive: true });
    out = await mkdtemp(join(root, '.cache', 'cli-build-'));
    await run(process.execPath, [join(root, 'tools/build-cli.mjs'), '--outdir', out]);
  }, 60_000);
  afterAll(async () => {
    if (out) await rm(out, { recursive: true, force: true });
  });

  const viaBundle = (args: string[]) =>
    outcome(run(process.execPath, ['--input-type=module', '-e', `const { main } = await import(${JSON.stringify(join(out, 'main.mjs'))}); process.exitCode = await main(${JSON.stringify(args)});`], { cwd: root }));
  const viaSources = (args: string[]) =>
    outcome(run(process.execPath, [join(root, 'bin/merge-studio.mjs'), ...args], { cwd: root, env: { ...process.env, MERGE_STUDIO_FROM_SOURCE: '1' } }));

  it('is plain JavaScript: no chunk imports a .ts file or tsx', async () => {
    const files = [join(out, 'main.mjs'), ...(await readdir(join(out, 'chunks'))).filter((f) => f.endsWith('.mjs')).map((f) => join(out, 'chunks', f))];
    expect(files.length).toBeGreaterThan(2);
    for (const f of files) {
      const text = await readFile(f, 'utf8');
      expect(text, f).not.toMatch(/from\s+["'][^"']+\.ts["']|import\(["'][^"']+\.ts["']\)|["']tsx(\/[^"']*)?["']/);
    }
  });

  it('prints what the sources print for inspect (table and --json) and for errors', async () => {
    for (const args of [
      ['inspect', 'public/zoo/tiny-llama/base'],
      ['inspect', 'public/zoo/tiny-llama/base', 'public/zoo/tiny-llama/caesar', '--json'],
      ['inspect', 'public/zoo/no-such-model'],
      ['no-such-command'],
    ]) {
      const [a, b] = await Promise.all([viaBundle(args), viaSources(args)]);
      expect(a, args.join(' ')).toEqual(b);
    }
    expect((await viaBundle(['inspect', 'public/zoo/tiny-llama/base'])).stdout).toContain('model.embed_tokens.weight');
  }, 60_000);
});
