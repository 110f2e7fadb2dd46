// `npm run bench -- --real-size`: merges of real-shaped families (tools/realshape) at full layer
// count, each as a child process `node bin/merge-studio.mjs merge ...` under /usr/bin/time -v, so
// wall time and peak RSS are the CLI's own. Compared with the file-read bound measured in the same
// run (cat of the inputs, page cache warm) and with mergekit's math on this machine class
// (/work/shared/golden/README.md: input GB/s of the bf16 merge math alone, idle machine; projected
// to the same input bytes, wall vs wall). A 3 x Qwen2.5-0.5B-shaped merge from the mock Hub
// (tools/mock-hub/server.ts in its own process) is compared with the same merge from local folders
// plus the transfer time of the same files. Not part of the default bench or CI: inputs are GBs.
// Options: --real-size-families qwen2.5-0.5b,llama-3.2-1b[,mistral-7b] --real-size-methods a,b
// --real-size-cache DIR (default $REALSHAPE_CACHE or <tmpdir>/merge-studio-realshape) --real-size-no-hub
// --real-size-layers N (a smoke run on cut families; the figures are then not real size)
// --real-size-hub-only (only the mock Hub comparison) --real-size-backends cpu,gpu (default cpu; gpu
// rows run `merge --backend gpu`: Dawn in Node, SwiftShader on a machine without a GPU, and their
// peak RSS then includes the "GPU" memory). Each row is also logged on stderr when measured.
// When llama-3.2-1b is among the families and the studio is built (`npm run build`), the studio's
// export of 3 x Llama-3.2-1B-shaped from the mock Hub in Chromium follows, once per tab target
// (tools/bench/studio-export.ts as a child; --real-size-studio-targets opfs,directory,download,
// --real-size-studio-methods task_arithmetic[,ties], --real-size-no-studio skips it), with the page's
// renderer + GPU process RSS as its peak.
import { spawn } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { FAMILY_NAMES, isFamilyName, type FamilyName } from '../realshape/families.ts';
import { generateFamily, type GeneratedFamily } from '../realshape/generate.ts';
import { writeFixtureModel, FIXTURE_LLAMA } from '../mock-hub/fixture-zoo.ts';

/** mergekit's bf16 merge math, input GB/s, idle run (golden README); model_stock was not measured. */
const MERGEKIT_BF16_GBPS: Record<string, number> = { task_arithmetic: 0.89, ties: 0.036, dare_ties: 0.089, slerp: 0.46 };

export const REAL_SIZE_METHODS = ['task_arithmetic', 'ties', 'dare_ties', 'slerp', 'model_stock'];

export interface RealSizeRow {
  shape: string;
  what: string;
  inputBytes: number;
  wallSeconds: number;
  peakRssBytes: number | null;
  note?: string;
}

export interface RealSizeContext {
  root: string;
  cacheDir: string;
  families: Map<FamilyName, GeneratedFamily>;
  log: (line: string) => void;
}

/** The studio's export of 3 x Llama-3.2-1B-shaped in Chromium, one child run per target and method. */
async function studioExportRows(ctx: RealSizeContext, args: string[]): Promise<RealSizeRow[]> {
  const arg = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
  if (!existsSync(join(ctx.root, 'dist', 'index.html'))) {
    ctx.log('real size: studio export skipped (run `npm run build` first)');
    return [];
  }
  const family = ctx.families.get('llama-3.2-1b')!;
  const inputBytes = bytesOf(family.models.flatMap((m) => safetensorsFiles(m.path)));
  // studio-export.ts reuses CACHE/realshape/FAMILY (hard links) when the cache folder is named so.
  const env = { ...process.env, ...(basename(ctx.cacheDir) === 'realshape' ? { MERGE_STUDIO_CACHE: dirname(ctx.cacheDir) } : {}) };
  const rows: RealSizeRow[] = [];
  for (const method of (arg('--real-size-studio-methods') ?? 'task_arithmetic').split(',')) {
    for (const target of (arg('--real-size-studio-targets') ?? 'opfs,directory,download').split(',')) {
      ctx.log(`real size: studio export (${target}, ${method}) in Chromium ...`);
      const out = await new Promise<{ code: number; stdout: string }>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', join(ctx.root, 'tools/bench/studio-export.ts'), '--studio-export', '--family', 'llama-3.2-1b', '--target', target, '--method', method], { cwd: ctx.root, env, stdio: ['ignore', 'pipe', 'inherit'] });
        let stdout = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.on('close', (code) => resolve({ code: code ?? 1, stdout }));
      });
      const line = out.stdout.split('\n').find((l) => l.startsWith('STUDIO_EXPORT_JSON '));
      if (out.code !== 0 || !line) {
        rows.push({ shape: 'llama-3.2-1b', what: `studio export (${target}, ${method})`, inputBytes, wallSeconds: NaN, peakRssBytes: null, note: `failed (exit ${out.code})` });
        continue;
      }
      const r = JSON.parse(line.slice('STUDIO_EXPORT_JSON '.length)) as { seconds: number; peaks: Record<string, number>; idle: Record<string, number> };
      const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
      rows.push({
        shape: 'llama-3.2-1b', what: `studio export (${target}, ${method}), page's renderer + GPU RSS`, inputBytes, wallSeconds: r.seconds, peakRssBytes: r.peaks.busiestRendererGpuRss,
        note: `PSS renderers + GPU ${mib(r.peaks.rendererGpuPss)}; RSS of all renderers + GPU ${mib(r.peaks.rendererGpuRss)}; before the export ${mib(r.idle.busiestRendererGpuRss)}`,
      });
    }
  }
  return rows;
}

export interface Timed {
  wallSeconds: number;
  peakRssBytes: number | null;
  code: number;
  stderr: string;
}

/** Runs a command under /usr/bin/time -v (when present) and returns wall time and peak RSS. */
export function timed(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<Timed> {
  const haveTime = existsSync('/usr/bin/time');
  const [file, argv] = haveTime ? ['/usr/bin/time', ['-v', cmd, ...args]] : [cmd, args];
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(file, argv, { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const wallSeconds = (performance.now() - t0) / 1000;
      const kb = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
      resolve({ wallSeconds, peakRssBytes: kb ? Number(kb[1]) * 1024 : null, code: code ?? -1, stderr });
    });
  });
}

/** User and system CPU seconds, system share and page faults of a run, from /usr/bin/time -v's report
 * (the "CLI end to end" section's columns, for rows measured here). */
export function cpuLine(stderr: string, wallSeconds: number): string {
  const num = (re: RegExp) => Number(re.exec(stderr)?.[1] ?? NaN);
  const user = num(/User time \(seconds\): ([\d.]+)/);
  const sys = num(/System time \(seconds\): ([\d.]+)/);
  const faults = num(/Minor \(reclaiming a frame\) page faults: (\d+)/) + num(/Major \(requiring I\/O\) page faults: (\d+)/);
  if (!Number.isFinite(user)) return `wall ${wallSeconds.toFixed(1)} s`;
  return `wall ${wallSeconds.toFixed(1)} s, user ${user.toFixed(1)} s, sys ${sys.toFixed(1)} s (${((100 * sys) / (user + sys)).toFixed(0)}% sys), ${faults} page faults, load ${loadavg()[0].toFixed(1)}`;
}

export function safetensorsFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.safetensors')).map((f) => join(dir, f));
}

export const bytesOf = (files: string[]) => files.reduce((a, f) => a + statSync(f).size, 0);

/** Seconds to read the files with cat, after one warming pass (warm page cache where RAM allows). */
export async function catSeconds(files: string[], cwd: string): Promise<number> {
  await timed('cat', files.length ? ['--', ...files] : [], cwd);
  const t = await timed('sh', ['-c', 'cat -- "$@" > /dev/null', 'cat', ...files], cwd);
  return t.wallSeconds;
}

export function recipe(method: string, models: string[]): string {
  const [base, e1, e2] = models;
  switch (method) {
    case 'slerp':
      return `merge_method: slerp\nbase_model: ${base}\nmodels:\n  - model: ${base}\n  - model: ${e1}\nparameters:\n  t: 0.5\ndtype: bfloat16\n`;
    case 'model_stock':
      return `merge_method: model_stock\nbase_model: ${base}\nmodels:\n  - model: ${e1}\n  - model: ${e2}\ndtype: bfloat16\n`;
    case 'task_arithmetic':
      return `merge_method: task_arithmetic\nbase_model: ${base}\nmodels:\n  - model: ${e1}\n    parameters: {weight: 0.5}\n  - model: ${e2}\n    parameters: {weight: 0.5}\ndtype: bfloat16\n`;
    default:
      return `merge_method: ${method}\nbase_model: ${base}\nmodels:\n  - model: ${e1}\n    parameters: {weight: 0.5, density: 0.5}\n  - model: ${e2}\n    parameters: {weight: 0.5, density: 0.5}\ndtype: bfloat16\n`;
  }
}

/** Models a method reads: slerp base + 1, the others base + 2. */
export const modelsRead = (method: string) => (method === 'slerp' ? 2 : 3);

async function cliMerge(ctx: RealSizeContext, method: string, models: string[], extraArgs: string[] = [], env?: NodeJS.ProcessEnv): Promise<Timed> {
  const work = join(ctx.cacheDir, `bench-work-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const yml = join(work, `${method}.yml`);
  writeFileSync(yml, recipe(method, models));
  const out = join(work, 'out');
  try {
    const t = await timed(process.execPath, [join(ctx.root, 'bin/merge-studio.mjs'), 'merge', yml, '--out', out, ...extraArgs], ctx.root, env);
    if (t.code !== 0) ctx.log(`    merge failed (exit ${t.code}): ${t.stderr.split('\n').filter((l) => l && !/^\s/.test(l)).slice(-3).join(' | ')}`);
    else ctx.log(`    ${method}: ${cpuLine(t.stderr, t.wallSeconds)}`);
    return t;
  } finally {
    // The output of a 7B merge is 14.5 GB: never keep it.
    rmSync(work, { recursive: true, force: true });
  }
}

/** Starts the mock Hub in its own process (it streams the large files from disk) and waits for its URL. */
function startHubProcess(root: string, servedRoot: string): Promise<{ url: string; stop: () => void }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'tools/mock-hub/server.ts'), '--port', '0', '--root', servedRoot], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /mock hub on (http:\/\/[^\s]+)/.exec(out);
      if (m) resolve({ url: m[1].replace(/\/$/, ''), stop: () => child.kill('SIGTERM') });
    });
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => reject(new Error(`mock hub exited (${code}): ${out.slice(-500)}`)));
  });
}

/** Hard links of a family's model folders (no extra disk) plus a tiny template model, so the mock
 * Hub's derived test repos are built from the tiny one, not from a GB model. */
async function hubRoot(family: GeneratedFamily, dir: string): Promise<string[]> {
  rmSync(dir, { recursive: true, force: true });
  const ids: string[] = [];
  for (const m of family.models) {
    const to = join(dir, `rs-${m.name}`);
    mkdirSync(to, { recursive: true });
    for (const f of readdirSync(m.path)) linkSync(join(m.path, f), join(to, f));
    ids.push(`zoo/rs-${m.name}`);
  }
  await writeFixtureModel(join(dir, 'tiny-llama', 'base'), FIXTURE_LLAMA, 1);
  return ids;
}

async function transferSeconds(url: string, ids: string[], files: string[]): Promise<number> {
  const t0 = performance.now();
  for (const id of ids) {
    for (const f of files) {
      const resp = await fetch(`${url}/${id}/resolve/main/${f}`);
      if (!resp.ok || !resp.body) throw new Error(`mock hub: ${id}/${f} answered ${resp.status}`);
      const reader = resp.body.getReader();
      while (!(await reader.read()).done);
    }
  }
  return (performance.now() - t0) / 1000;
}

export async function realSizeSection(opts: { root: string; args: string[]; log: (line: string) => void; table: (header: string[], rows: (string | number)[][]) => string }): Promise<void> {
  const { args, log } = opts;
  const arg = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const families = (arg('--real-size-families') ?? 'qwen2.5-0.5b,llama-3.2-1b').split(',').filter((f): f is FamilyName => {
    if (!isFamilyName(f)) throw new Error(`--real-size-families: '${f}' is not one of ${FAMILY_NAMES.join(', ')}`);
    return true;
  });
  const methods = (arg('--real-size-methods') ?? REAL_SIZE_METHODS.join(',')).split(',');
  const backends = (arg('--real-size-backends') ?? 'cpu').split(',');
  for (const b of backends) if (b !== 'cpu' && b !== 'gpu') throw new Error(`--real-size-backends: '${b}' is not cpu or gpu`);
  const cacheDir = arg('--real-size-cache') ?? process.env.REALSHAPE_CACHE ?? join(tmpdir(), 'merge-studio-realshape');
  const layers = arg('--real-size-layers') === undefined ? undefined : Number(arg('--real-size-layers'));
  const ctx: RealSizeContext = { root: opts.root, cacheDir, families: new Map(), log };
  const rows: (string | number)[][] = [];
  const started = new Date();
  const load0 = loadavg();
  const gb = (b: number) => (b / 1e9).toFixed(2);
  const mb = (b: number | null) => (b === null ? '—' : `${(b / 1e6).toFixed(0)} MB`);

  for (const family of families) {
    const dirName = layers === undefined ? family : `${family}-l${layers}`;
    log(`real size: ${family} (base + 2 experts, ${layers ?? 'full'} layers) in ${join(cacheDir, dirName)} ...`);
    const t0 = performance.now();
    const fam = await generateFamily({ family, layers, experts: 2, out: join(cacheDir, dirName), onProgress: (p) => log(`  ${p.phase} ${gb(p.done)}/${gb(p.total)} GB, ${((p.rate ?? 0) / 1e6).toFixed(0)} MB/s`) });
    log(`  ${fam.skipped ? 'reused' : `generated in ${((performance.now() - t0) / 1000).toFixed(0)} s`}`);
    ctx.families.set(family, fam);
    const paths = fam.models.map((m) => m.path);
    const perModel = paths.map((p) => safetensorsFiles(p));
    const modelBytes = bytesOf(perModel[0]);
    for (const [method, backend] of (args.includes('--real-size-hub-only') ? [] : methods).flatMap((m) => backends.map((b) => [m, b] as const))) {
      const n = modelsRead(method);
      const inputs = perModel.slice(0, n).flat();
      const inputBytes = bytesOf(inputs);
      log(`  ${method}: cat bound ...`);
      const cat = await catSeconds(inputs, opts.root);
      log(`  ${method}: merge (${backend}) ...`);
      const t = await cliMerge(ctx, method, paths, backend === 'gpu' ? ['--backend', 'gpu'] : []);
      const mk = MERGEKIT_BF16_GBPS[method];
      const mkSeconds = mk ? inputBytes / 1e9 / mk : null;
      log(`  ${method} (${backend}): wall ${t.wallSeconds.toFixed(1)} s, peak RSS ${mb(t.peakRssBytes)}, cat ${cat.toFixed(1)} s (exit ${t.code})`);
      rows.push([
        layers === undefined ? family : `${family} (${layers} layers)`, backend === 'gpu' ? `${method} (--backend gpu)` : method, `${n} x ${gb(modelBytes)} GB`, t.code === 0 ? t.wallSeconds.toFixed(1) : `failed (${t.code})`, (inputBytes / 1e9 / t.wallSeconds).toFixed(2), mb(t.peakRssBytes),
        cat.toFixed(1), (inputBytes / 1e9 / cat).toFixed(2), mkSeconds === null ? '—' : mkSeconds.toFixed(1), mkSeconds === null ? '—' : `${(mkSeconds / t.wallSeconds).toFixed(1)}x`,
      ]);
    }
  }

  const hubRows: (string | number)[][] = [];
  const qwen = ctx.families.get('qwen2.5-0.5b');
  if (qwen && !args.includes('--real-size-no-hub')) {
    const servedRoot = join(cacheDir, `hub-root-${process.pid}`);
    const ids = await hubRoot(qwen, servedRoot);
    log('real size: mock Hub (streams the 3 models from disk) ...');
    const hub = await startHubProcess(opts.root, servedRoot);
    try {
      const files = readdirSync(qwen.models[0].path);
      const transfer = await transferSeconds(hub.url, ids, files);
      const inputBytes = bytesOf(qwen.models.flatMap((m) => safetensorsFiles(m.path)));
      for (const method of methods.filter((m) => m === 'task_arithmetic' || m === 'ties')) {
        const local = await cliMerge(ctx, method, qwen.models.map((m) => m.path));
        const hubCache = join(cacheDir, `bench-hub-cache-${process.pid}`);
        rmSync(hubCache, { recursive: true, force: true });
        log(`  ${method} from the mock Hub (cold cache) ...`);
        const fromHub = await cliMerge(ctx, method, ids, ['--hub-url', hub.url, '--cache-dir', hubCache]);
        rmSync(hubCache, { recursive: true, force: true });
        log(`  ${method} from the mock Hub (--no-cache) ...`);
        const noCache = await cliMerge(ctx, method, ids, ['--hub-url', hub.url, '--no-cache']);
        const bound = local.wallSeconds + transfer;
        log(`  ${method}: local ${local.wallSeconds.toFixed(1)} s, Hub cold cache ${fromHub.wallSeconds.toFixed(1)} s (${mb(fromHub.peakRssBytes)}), Hub --no-cache ${noCache.wallSeconds.toFixed(1)} s (${mb(noCache.peakRssBytes)}), transfer ${transfer.toFixed(1)} s`);
        for (const [what, t] of [['local folders', local], ['mock Hub, cold disk cache', fromHub], ['mock Hub, --no-cache', noCache]] as const) {
          hubRows.push([`${method}`, what, t.code === 0 ? t.wallSeconds.toFixed(1) : `failed (${t.code})`, mb(t.peakRssBytes), what === 'local folders' ? '—' : `${(t.wallSeconds / bound).toFixed(2)}x`]);
        }
      }
      hubRows.push(['(transfer)', `all ${files.length} files x 3 over HTTP, ${gb(inputBytes)} GB of weights`, transfer.toFixed(1), '—', '—']);
    } finally {
      hub.stop();
      rmSync(servedRoot, { recursive: true, force: true });
    }
  }

  const extra: RealSizeRow[] = [];
  if (!args.includes('--real-size-no-studio') && ctx.families.has('llama-3.2-1b') && layers === undefined) extra.push(...(await studioExportRows(ctx, args)));

  const load1 = loadavg();
  console.log(`\n### Real size: CLI merges of real-shaped bf16 families (${started.toISOString()}, load average ${load0.map((l) => l.toFixed(1)).join(' ')} at start, ${load1.map((l) => l.toFixed(1)).join(' ')} at end)\n`);
  console.log(opts.table(['shape', 'method', 'input', 'wall s', 'input GB/s', 'peak RSS', 'cat s (warm)', 'cat GB/s', 'mergekit math s (projected)', 'vs mergekit'], rows));
  if (hubRows.length) {
    console.log('\n### Real size: 3 x Qwen2.5-0.5B-shaped from the mock Hub vs local folders (target: within 1.5x of local + transfer)\n');
    console.log(opts.table(['method', 'source', 'wall s', 'peak RSS', 'vs local + transfer'], hubRows));
  }
  if (extra.length) {
    console.log('\n### Real size: other rows\n');
    console.log(opts.table(['shape', 'what', 'input', 'wall s', 'peak RSS', 'note'], extra.map((r) => [r.shape, r.what, `${gb(r.inputBytes)} GB`, r.wallSeconds.toFixed(1), mb(r.peakRssBytes), r.note ?? ''])));
  }
}
