// Merges of the demo experts, made by our engine and scored by our evaluator, against the same
// merges made by PyTorch in the zoo generator (manifest.json `merges`): task arithmetic from the
// bf16 files, exact match on every held-out generation item, within two items.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runEval } from './eval.ts';

const ZOO = resolve(process.env.ZOO_DIR ?? 'public/zoo');

interface MergePoint { experts: string[]; weights: number[]; lambda?: number; exact_match: Record<string, number> }
interface FamilyMerges { lambda: number; pairs: MergePoint[]; frontier?: MergePoint[] }
interface Manifest {
  tasks: Record<string, { files: Record<'gen', string>; counts: Record<'gen', number> }>;
  families: Record<string, { merges?: FamilyMerges; models: Record<string, { path: string }> }>;
}

const manifestPath = join(ZOO, 'manifest.json');
const manifest: Manifest | null = existsSync(manifestPath) ? JSON.parse(readFileSync(manifestPath, 'utf8')) : null;
const work = mkdtempSync(join(tmpdir(), 'zoo-merge-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The first recorded pair, plus the frontier point whose two scores are most balanced (the most
 * informative: both skills partly kept). */
function casesOf(merges: FamilyMerges): MergePoint[] {
  const out = [{ ...merges.pairs[0], lambda: merges.lambda }];
  const balanced = (merges.frontier ?? [])
    .filter((p) => p.weights.every((w) => w > 0))
    .sort((a, b) => Math.min(...Object.values(b.exact_match)) - Math.min(...Object.values(a.exact_match)))[0];
  if (balanced) out.push({ ...balanced, lambda: balanced.lambda ?? merges.lambda });
  return out;
}

describe.skipIf(!manifest)('demo-expert merges reproduce PyTorch', () => {
  for (const [family, f] of Object.entries(manifest?.families ?? {})) {
    if (!f.merges?.pairs?.length) continue;
    for (const point of casesOf(f.merges)) {
      it(`${family}: task_arithmetic ${point.experts.join(' + ')} weights ${point.weights.join(', ')} lambda ${point.lambda}`, async () => {
        const dir = (name: string) => join(ZOO, f.models[name].path.replace(/^public\/zoo\//, ''));
        const recipe = [
          'models:',
          ...point.experts.flatMap((e, i) => [`  - model: ${dir(e)}`, `    parameters: {weight: ${point.weights[i]}}`]),
          `base_model: ${dir('base')}`,
          'merge_method: task_arithmetic',
          `parameters: {lambda: ${point.lambda}}`,
          'dtype: float32',
        ].join('\n');
        const file = join(work, `${family}-${point.experts.join('-')}-${point.weights.join('-')}.yml`);
        writeFileSync(file, `${recipe}\n`);
        const tasks = point.experts.map((skill) => join(ZOO, manifest!.tasks[skill].files.gen.replace(/^public\/zoo\//, '')));
        const { results } = await runEval({ target: file, tasks, seed: 0, backend: 'cpu', json: true });
        point.experts.forEach((skill, i) => {
          const items = manifest!.tasks[skill].counts.gen;
          expect(results[i].items).toBe(items);
          const ours = Math.round(results[i].metrics.exact_match * items);
          const pytorch = Math.round(point.exact_match[skill] * items);
          expect(Math.abs(ours - pytorch), `${skill}: ours ${ours}/${items}, PyTorch ${pytorch}/${items}`).toBeLessThanOrEqual(2);
        });
      }, 180_000);
    }
  }
});
