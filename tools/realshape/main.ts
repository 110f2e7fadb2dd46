// `npx tsx tools/realshape/main.ts --family qwen2.5-0.5b [--layers N] [--experts K] [--seed S]
//  [--max-shard-bytes B] --out DIR`: writes a real-shaped family (see README.md).
import { FAMILY_NAMES, isFamilyName } from './families.ts';
import { familyLayout, generateFamily } from './generate.ts';

function usage(message?: string): never {
  if (message) process.stderr.write(`${message}\n`);
  process.stderr.write(`usage: npx tsx tools/realshape/main.ts --family ${FAMILY_NAMES.join('|')} --out DIR [--layers N] [--experts K] [--seed S] [--max-shard-bytes B]\n`);
  process.exit(2);
}

function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opts: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--help' || a === '-h') usage();
    if (!a.startsWith('--') || i + 1 >= args.length) usage(`unexpected argument '${a}'`);
    opts[a.slice(2)] = args[++i];
  }
  for (const k of Object.keys(opts)) if (!['family', 'out', 'layers', 'experts', 'seed', 'max-shard-bytes'].includes(k)) usage(`unknown option --${k}`);
  const family = opts.family;
  if (!family || !isFamilyName(family)) usage(`--family must be one of ${FAMILY_NAMES.join(', ')}`);
  if (!opts.out) usage('--out DIR is required');
  const num = (k: string) => {
    if (opts[k] === undefined) return undefined;
    const v = Number(opts[k]);
    if (!Number.isFinite(v)) usage(`--${k} must be a number, found '${opts[k]}'`);
    return v;
  };
  const layers = num('layers');
  const maxShardBytes = num('max-shard-bytes');
  const layout = familyLayout(family, layers, maxShardBytes);
  const experts = num('experts') ?? 2;
  process.stderr.write(`${family}: ${layout.layers} layers, ${layout.tensors.length} tensors, ${layout.shards.length} file(s), ${(layout.dataBytes / 1e9).toFixed(2)} GB per model, ${experts + 1} models -> ${opts.out}\n`);
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  const t0 = performance.now();
  return generateFamily({
    family,
    layers,
    experts,
    seed: num('seed'),
    maxShardBytes,
    out: opts.out,
    signal: controller.signal,
    onProgress: (p) => process.stderr.write(`\r${p.phase}: ${(p.done / 1e9).toFixed(2)} / ${(p.total / 1e9).toFixed(2)} GB, ${((p.rate ?? 0) / 1e6).toFixed(0)} MB/s, ETA ${Math.round(p.eta ?? 0)} s   `),
  }).then((r) => {
    const s = (performance.now() - t0) / 1000;
    process.stderr.write(`\n${r.skipped ? 'already complete, skipped' : `written in ${s.toFixed(1)} s`}\n`);
    process.stdout.write(`${r.models.map((m) => m.path).join('\n')}\n`);
  });
}

main().catch((e: unknown) => {
  process.stderr.write(`\nrealshape: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
