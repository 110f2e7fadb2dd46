#!/usr/bin/env node
// Runs the built CLI (dist-cli/, made by `npm run build:cli`, which `npm install` runs as `prepare`)
// when it is newer than every source file it was built from; otherwise (a checkout being edited, or
// no build yet) runs the TypeScript sources through tsx, so the CLI never runs stale code.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name === 'fixtures' || entry.name === 'app') continue;
      newest = Math.max(newest, newestMtime(path));
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
      newest = Math.max(newest, statSync(path).mtimeMs);
    }
  }
  return newest;
}

function builtCli() {
  if (process.env.MERGE_STUDIO_FROM_SOURCE === '1') return null;
  try {
    const { builtAt } = JSON.parse(readFileSync(join(root, 'dist-cli', 'build.json'), 'utf8'));
    return newestMtime(join(root, 'src')) < builtAt ? join(root, 'dist-cli', 'main.mjs') : null;
  } catch {
    return null;
  }
}

let entry = builtCli();
if (!entry) {
  const { register } = await import('tsx/esm/api');
  register();
  entry = join(root, 'src', 'cli', 'main.ts');
}
const { main } = await import(entry);
process.exitCode = await main(process.argv.slice(2));
