// Bench section "CLI start-up": wall time of `merge-studio inspect` on a demo model, run as a user
// runs it (a fresh `node bin/merge-studio.mjs` process), from the built bundle (dist-cli/) and from
// the TypeScript sources through tsx (MERGE_STUDIO_FROM_SOURCE=1), measured alternately in one run.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface StartupRow {
  mode: 'built (dist-cli)' | 'sources (tsx)';
  runs: number;
  medianSeconds: number;
  minSeconds: number;
}

function timeOnce(root: string, fromSource: boolean): number {
  const started = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [join(root, 'bin/merge-studio.mjs'), 'inspect', join(root, 'public/zoo/tiny-llama/base')], {
    env: { ...process.env, MERGE_STUDIO_FROM_SOURCE: fromSource ? '1' : '0' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0) throw new Error(`merge-studio inspect failed (${r.status}): ${r.stderr.toString().trim()}`);
  return seconds;
}

export function benchCliStartup(root: string, runs = 7): StartupRow[] {
  if (!existsSync(join(root, 'dist-cli/build.json'))) {
    const b = spawnSync(process.execPath, [join(root, 'tools/build-cli.mjs')], { stdio: 'inherit' });
    if (b.status !== 0) throw new Error('tools/build-cli.mjs failed');
  }
  const built: number[] = [];
  const source: number[] = [];
  timeOnce(root, false); // warm the page cache once
  for (let i = 0; i < runs; i++) {
    built.push(timeOnce(root, false));
    source.push(timeOnce(root, true));
  }
  const row = (mode: StartupRow['mode'], xs: number[]): StartupRow => {
    const s = [...xs].sort((a, b) => a - b);
    return { mode, runs, medianSeconds: s[Math.floor(s.length / 2)], minSeconds: s[0] };
  };
  return [row('built (dist-cli)', built), row('sources (tsx)', source)];
}
