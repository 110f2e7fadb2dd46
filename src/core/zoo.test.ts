// The demo zoo (public/zoo) read with the project's own code and checked against what PyTorch
// recorded in manifest.json: file hashes, tensor names and shapes, the tokenizer's ids, the CPU
// runtime's logits against references/<family>-<model>.safetensors, and task metrics within two
// items of the manifest. ZOO_FULL=1 evaluates every model on every task (minutes on 2 cores);
// by default experts are evaluated on their own skill and bases on the first skill.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CpuCausalLM } from './eval/cpu.ts';
import { openEvalModel } from './eval/load.ts';
import { evaluateTask } from './eval/metrics.ts';
import { parseTaskJsonl, type EvalTask } from './eval/tasks.ts';
import { readHostTensors } from './eval/weights.ts';
import { nodeFileSource, nodeFolderTree } from './io/node-file.ts';
import { openSafetensorsModel, readSafetensorsHeader, readTensorBytes, readTensorF32 } from './safetensors/index.ts';

const ZOO = process.env.ZOO_DIR ?? 'public/zoo';
const FULL = process.env.ZOO_FULL === '1';

interface ZooModel {
  path: string;
  role: 'base' | 'expert';
  skill: string | null;
  files: Record<string, { sha256: string; bytes: number }>;
  tensors: Record<string, number[]>;
  scores: Record<string, { exact_match: number; mc_accuracy: number; perplexity: number }>;
  reference: { path: string; sha256: string };
}
interface Manifest {
  vocab: string[];
  prompting: { max_new_tokens: number };
  tasks: Record<string, { files: Record<'gen' | 'mc' | 'ppl', string>; counts: Record<'gen' | 'mc' | 'ppl', number> }>;
  families: Record<string, { models: Record<string, ZooModel> }>;
}

const manifestPath = join(ZOO, 'manifest.json');
const manifest: Manifest | null = existsSync(manifestPath) ? JSON.parse(readFileSync(manifestPath, 'utf8')) : null;
const models = manifest ? Object.entries(manifest.families).flatMap(([family, f]) => Object.entries(f.models).map(([name, m]) => ({ family, name, m }))) : [];
const taskCache = new Map<string, EvalTask>();
function task(file: string): EvalTask {
  if (!taskCache.has(file)) taskCache.set(file, parseTaskJsonl(readFileSync(join(ZOO, file), 'utf8'), file));
  return taskCache.get(file)!;
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

describe.skipIf(!manifest)(`demo zoo (${ZOO})`, () => {
  it('lists models of both families', () => {
    expect(new Set(models.map((x) => x.family))).toEqual(new Set(['tiny-llama', 'tiny-qwen2']));
  });

  for (const { family, name, m } of models) {
    describe(`${family}/${name}`, () => {
      const dir = join(ZOO, m.path);

      it('has the files, hashes, tensor names and shapes of the manifest', async () => {
        for (const [file, { sha256: hash, bytes }] of Object.entries(m.files)) {
          const buf = readFileSync(join(dir, file));
          expect(buf.byteLength, file).toBe(bytes);
          expect(sha256(join(dir, file)), file).toBe(hash);
        }
        expect(sha256(join(ZOO, m.reference.path))).toBe(m.reference.sha256);
        const st = await openSafetensorsModel(nodeFolderTree(dir));
        expect([...st.tensors.keys()].sort()).toEqual(Object.keys(m.tensors).sort());
        for (const [t, shape] of Object.entries(m.tensors)) expect(st.tensors.get(t)!.shape, t).toEqual(shape);
      });

      it('tokenizer.json post-processor adds <s> as transformers reads it, so prompts are BOS + text with or without a forced BOS', async () => {
        const tokenizerJson = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
        expect(tokenizerJson.post_processor.type).toBe('TemplateProcessing');
        const tok = (await openEvalModel(nodeFolderTree(dir))).tokenizer;
        const bos = manifest!.vocab.indexOf('<s>');
        expect(tok.specialRule).toMatch(/post_processor \(TemplateProcessing\)/);
        expect([tok.specialPrefix, tok.specialSuffix]).toEqual([[bos], []]);
        // The old convention forced BOS + text; the post-processor now gives the same ids for every
        // prompt of the model's tasks, so the scores below are the manifest's either way.
        for (const skill of Object.keys(m.scores)) {
          for (const kind of ['gen', 'mc'] as const) {
            for (const item of task(manifest!.tasks[skill].files[kind]).items as { prompt: string }[]) {
              expect(Array.from(tok.encodePrompt(item.prompt))).toEqual([bos, ...tok.encode(item.prompt)]);
            }
          }
        }
      });

      it('tokenizes the manifest vocabulary to its ids and matches the PyTorch logits on the CPU', async () => {
        const files = await openEvalModel(nodeFolderTree(dir));
        manifest!.vocab.forEach((piece, id) => {
          if (id > 3) expect(files.tokenizer.encode(piece), JSON.stringify(piece)).toEqual([id]);
        });
        const lm = new CpuCausalLM(files.config, await readHostTensors(files.config, files.tensors, dir));
        const ref = await readSafetensorsHeader(await nodeFileSource(join(ZOO, m.reference.path)));
        let worst = 0, checked = 0;
        for (const [tensor, info] of ref.tensors) {
          if (!tensor.startsWith('input_ids.')) continue;
          const k = tensor.slice('input_ids.'.length);
          const bytes = await readTensorBytes(info);
          const ids = new Int32Array(bytes.slice().buffer);
          const want = await readTensorF32(ref.tensors.get(`logits.${k}`)!);
          const got = await lm.logits(ids);
          expect(got.length).toBe(want.length);
          for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
          checked++;
        }
        expect(checked).toBeGreaterThan(0);
        expect(worst).toBeLessThan(1e-4);
      });

      const skills = FULL ? Object.keys(m.scores) : [m.skill ?? Object.keys(m.scores)[0]];
      it(`reproduces the manifest's scores on ${skills.join(', ')} within two items`, async () => {
        const files = await openEvalModel(nodeFolderTree(dir));
        const lm = new CpuCausalLM(files.config, await readHostTensors(files.config, files.tensors, dir));
        const maxNew = manifest!.prompting.max_new_tokens;
        for (const skill of skills) {
          const t = manifest!.tasks[skill], want = m.scores[skill];
          const mc = await evaluateTask(lm, files.tokenizer, task(t.files.mc));
          expect(Math.abs(mc.metrics.accuracy - want.mc_accuracy) * t.counts.mc, `${skill} mc`).toBeLessThanOrEqual(2);
          const ppl = await evaluateTask(lm, files.tokenizer, task(t.files.ppl));
          expect(Math.abs(ppl.metrics.perplexity / want.perplexity - 1), `${skill} ppl`).toBeLessThan(1e-3);
          const em = await evaluateTask(lm, files.tokenizer, task(t.files.gen), { maxNewTokens: maxNew });
          expect(Math.abs(em.metrics.exact_match - want.exact_match) * t.counts.gen, `${skill} exact match`).toBeLessThanOrEqual(2);
        }
      }, 300_000);
    });
  }
});

describe('small real models offered in the studio (public/zoo/real-models.json)', () => {
  const real = JSON.parse(readFileSync('public/zoo/real-models.json', 'utf8')) as { models: Record<string, { path: string; files: Record<string, { sha256: string; bytes: number }>; tasks: Record<string, { path: string; items: number }> }> };
  for (const [name, m] of Object.entries(real.models)) {
    it(`${name}: files and hashes as listed, a loadable Llama-family model, task files with the listed item counts`, async () => {
      for (const [file, { sha256: hash, bytes }] of Object.entries(m.files)) {
        expect(readFileSync(join('public/zoo', m.path, file)).byteLength, file).toBe(bytes);
        expect(sha256(join('public/zoo', m.path, file)), file).toBe(hash);
      }
      const files = await openEvalModel(nodeFolderTree(join('public/zoo', m.path)));
      expect(files.config.modelType).toBe('llama');
      for (const t of Object.values(m.tasks)) {
        const parsed = parseTaskJsonl(readFileSync(join('public/zoo', t.path), 'utf8'), t.path);
        expect(parsed.items.length, t.path).toBe(t.items);
      }
    });
  }
});
