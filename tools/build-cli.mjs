/* global process, console */
// Bundles the CLI (src/cli/main.ts and everything it imports from src/core) into dist-cli/ as plain
// ES modules, so `merge-studio` starts without compiling TypeScript. Each command stays a lazily
// loaded chunk (code splitting), so `inspect` never loads the search or DAM code. npm packages stay
// external (the `webgpu` native addon must load from node_modules). bin/merge-studio.mjs runs this
// bundle when it is newer than every source file, and falls back to tsx otherwise.
import { build } from 'esbuild';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outArg = process.argv.indexOf('--outdir');
const outdir = outArg >= 0 ? process.argv[outArg + 1] : join(root, 'dist-cli');
const started = Date.now();
await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });
await build({
  entryPoints: { main: join(root, 'src/cli/main.ts') },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  logLevel: 'warning',
});
// Written last: its presence marks a complete build; `builtAt` is compared with source mtimes.
await writeFile(join(outdir, 'build.json'), JSON.stringify({ builtAt: started }) + '\n');
console.log(`${outdir} built in ${Date.now() - started} ms`);
