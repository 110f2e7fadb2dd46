// Bench section "CLI end to end": `merge-studio merge` of real-shaped bf16 families (tools/realshape)
// as a user runs it (a fresh `node bin/merge-studio.mjs` process from the built bundle, under
// /usr/bin/time -v), against two bounds measured in the same run: reading the same input files
// with cat (page cache warm) and the merge math alone (the method's CPU path over bf16 tensors in
// memory, the "Merge throughput" rows' code). Per run: wall time, input GB/s, user and system CPU
// seconds (system share), page faults (minor + major) and per GB of input, peak RSS, and the load
// average when it ran (the machine is shared: a row measured under high load is slower than the code).
// Runs only where the families are already generated (it never writes GBs unasked: generate them
// with tools/realshape/main.ts, or run `--real-size` once). Options: --skip-e2e, --e2e-families
// qwen2.5-0.5b,llama-3.2-1b[,mistral-7b], --e2e-methods a,b, --e2e-before DIR (a checkout of another
// revision with its CLI built: each merge also runs there, alternately, for a before/after factor),
// --real-size-cache DIR (where the families are; default $REALSHAPE_CACHE, /work/cache/realshape or
// <tmpdir>/merge-studio-realshape, the first that holds them).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAMILY_NAMES, isFamilyName, type FamilyName } from '../realshape/families.ts';
import { bytesOf, catSeconds, modelsRead, recipe, safetensorsFiles, timed } from './realsize.ts';

export const E2E_METHODS = ['task_arithmetic', 'ties', 'dare_ties', 'slerp'];

/** Target of each method end to end, as a multiple of the cat bound (issue 20). */
const TARGET_X: Record<string, number> = { task_arithmetic: 2, ties: 4, dare_ties: 4, slerp: 4 };

export interface E2ERun {
  wallSeconds: number;
  userSeconds: number;
  systemSeconds: number;
  faults: number;
  peakRssBytes: number;
  code: number;
  load: number;
}

const field = (stderr: string, re: RegExp) => {
  const m = re.exec(stderr);
  return m ? Number(m[1]) : NaN;
};

/** One `merge-studio merge` of `cli` (a checkout's root) in a fresh process, its output removed after. */
async function runMerge(cli: string, cwd: string, work: string, method: string, models: string[], log: (line: string) => void): Promise<E2ERun> {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const yml = join(work, `${method}.yml`);
  writeFileSync(yml, recipe(method, models));
  const load = loadavg()[0];
  try {
    const t = await timed(process.execPath, [join(cli, 'bin/merge-studio.mjs'), 'merge', yml, '--out', join(work, 'out')], cwd);
    if (t.code !== 0) log(`    merge failed (exit ${t.code}): ${t.stderr.split('\n').filter((l) => l && !/^\s/.test(l)).slice(-3).join(' | ')}`);
    return {
      wallSeconds: t.wallSeconds,
      userSeconds: field(t.stderr, /User time \(seconds\): ([\d.]+)/),
      systemSeconds: field(t.stderr, /System time \(seconds\): ([\d.]+)/),
      faults: field(t.stderr, /Minor \(reclaiming a frame\) page faults: (\d+)/) + field(t.stderr, /Major \(requiring I\/O\) page faults: (\d+)/),
      peakRssBytes: (t.peakRssBytes ?? NaN),
      code: t.code,
      load,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Builds the checkout's CLI bundle when it is missing or older than its sources (the bin would
 * otherwise fall back to compiling TypeScript at start-up, which is not what a user runs). */
function ensureBuilt(cli: string, log: (line: string) => void): void {
  const stamp = join(cli, 'dist-cli/build.json');
  const r = spawnSync(process.execPath, [join(cli, 'tools/build-cli.mjs')], { cwd: cli, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0 || !existsSync(stamp)) throw new Error(`${cli}: tools/build-cli.mjs failed: ${r.stderr.toString().slice(-500)}`);
  log(`  built ${join(cli, 'dist-cli')} (${JSON.parse(readFileSync(stamp, 'utf8')).builtAt ? 'ok' : '?'})`);
}

function familyDir(cacheDirs: string[], family: FamilyName): string | undefined {
  for (const dir of cacheDirs) {
    const stamp = join(dir, family, 'realshape-stamp.json');
    if (!existsSync(stamp)) continue;
    const s = JSON.parse(readFileSync(stamp, 'utf8')) as { complete?: boolean; layers?: number; family?: string };
    if (s.complete && s.family === family) return join(dir, family);
  }
  return undefined;
}

export async function e2eSection(opts: {
  root: string;
  args: string[];
  log: (line: string) => void;
  table: (header: string[], rows: (string | number)[][]) => string;
  /** Input GB/s of the merge math alone for a method on bf16 tensors (wall, this process). */
  mathGBps: (method: string) => Promise<number>;
}): Promise<void> {
  const { args, log, root } = opts;
  const arg = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const families = (arg('--e2e-families') ?? 'qwen2.5-0.5b,llama-3.2-1b').split(',').filter((f): f is FamilyName => {
    if (!isFamilyName(f)) throw new Error(`--e2e-families: '${f}' is not one of ${FAMILY_NAMES.join(', ')}`);
    return true;
  });
  const methods = (arg('--e2e-methods') ?? E2E_METHODS.join(',')).split(',');
  const before = arg('--e2e-before');
  const cacheDirs = [arg('--real-size-cache'), process.env.REALSHAPE_CACHE, '/work/cache/realshape', join(tmpdir(), 'merge-studio-realshape')].filter((d): d is string => !!d);
  const found = families.map((f) => [f, familyDir(cacheDirs, f)] as const);
  const missing = found.filter(([, d]) => !d).map(([f]) => f);
  if (missing.length) log(`CLI end to end: ${missing.join(', ')} not generated in ${cacheDirs.join(' or ')}: skipped (tools/realshape/main.ts --family NAME --out DIR/NAME)`);
  if (missing.length === found.length) return;

  log('CLI end to end: building the CLI bundle(s) ...');
  ensureBuilt(root, log);
  if (before) ensureBuilt(before, log);
  const started = new Date();
  const load0 = loadavg();
  const work = join(tmpdir(), `merge-studio-e2e-${process.pid}`);
  const gb = (b: number) => (b / 1e9).toFixed(2);
  const rows: (string | number)[][] = [];
  const math = new Map<string, number>();
  for (const method of methods) {
    log(`  merge math: ${method} bf16 ...`);
    math.set(method, await opts.mathGBps(method));
  }
  for (const [family, dir] of found) {
    if (!dir) continue;
    const models = ['base', 'expert-1', 'expert-2'].map((m) => join(dir, m));
    for (const method of methods) {
      const inputs = models.slice(0, modelsRead(method)).flatMap((m) => safetensorsFiles(m));
      const inputBytes = bytesOf(inputs);
      log(`  ${family} ${method}: cat bound ...`);
      const cat = await catSeconds(inputs, root);
      const variants: [string, string][] = before ? [['before', before], ['this', root]] : [['this', root]];
      for (const [label, cli] of variants) {
        log(`  ${family} ${method}: merge (${label}) ...`);
        const r = await runMerge(cli, root, work, method, models, log);
        const cpu = r.userSeconds + r.systemSeconds;
        const mathSeconds = inputBytes / 1e9 / math.get(method)!;
        log(`    wall ${r.wallSeconds.toFixed(1)} s, user ${r.userSeconds} s, sys ${r.systemSeconds} s, ${r.faults} faults, RSS ${(r.peakRssBytes / 1e6).toFixed(0)} MB, load ${r.load.toFixed(1)}`);
        rows.push([
          family, method, label, `${gb(inputBytes)} GB`,
          r.code === 0 ? r.wallSeconds.toFixed(1) : `failed (${r.code})`, (inputBytes / 1e9 / r.wallSeconds).toFixed(2),
          `${cat.toFixed(2)} (${(inputBytes / 1e9 / cat).toFixed(1)} GB/s)`, `${(r.wallSeconds / cat).toFixed(1)}x (target ${TARGET_X[method] ?? '—'}x)`,
          `${mathSeconds.toFixed(2)} (${math.get(method)!.toFixed(2)} GB/s)`, `${(r.wallSeconds / mathSeconds).toFixed(1)}x`,
          `${r.userSeconds.toFixed(1)} / ${r.systemSeconds.toFixed(1)}`, `${((100 * r.systemSeconds) / cpu).toFixed(0)}%`,
          r.faults, Math.round(r.faults / (inputBytes / 1e9)), `${(r.peakRssBytes / 1e6).toFixed(0)} MB`, r.load.toFixed(1),
        ]);
      }
    }
  }
  const load1 = loadavg();
  console.log(`\n### CLI end to end: merge-studio merge of real-shaped bf16 families (${started.toISOString()}, load average ${load0.map((l) => l.toFixed(1)).join(' ')} at start, ${load1.map((l) => l.toFixed(1)).join(' ')} at end)\n`);
  console.log(opts.table(['family', 'method', 'code', 'input', 'wall s', 'GB/s', 'cat s (warm)', 'wall vs cat', 'merge math s (in memory)', 'wall vs math', 'user / sys s', 'sys share', 'page faults', 'faults per GB', 'peak RSS', 'load (1 min)'], rows));
  if (before) console.log(`\n("before" is ${before}, measured alternately with "this" in the same run)`);
}
