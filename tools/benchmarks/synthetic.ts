// Synthetic benchmark datasets in the real datasets' schemas and Hub layouts, for offline tests and
// demos: the column names and types (strings, int64, list<string>, struct of lists) and the file
// paths are those of the Hub repos lm-eval reads (allenai/ai2_arc, Rowan/hellaswag through its
// refs/convert/parquet conversion, baber/piqa, allenai/winogrande, openai/gsm8k, cais/mmlu, google/IFEval); the
// contents are made up, from the demo zoo's character alphabet so the demo models can read them.
//
//   npx tsx tools/benchmarks/synthetic.ts --out DIR   writes DIR/<org>/<name>/<files> (+ DIR/<org>/<name>@refs%2Fconvert%2Fparquet/...)
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parquetWriteBuffer } from 'hyparquet-writer';
import type { MockDatasetSpec } from '../mock-hub/server.ts';
import { MMLU_SUBJECTS } from '../../src/core/benchmarks/definitions.ts';

type SchemaElement = Parameters<typeof parquetWriteBuffer>[0]['schema'] extends (infer S)[] | undefined ? S : never;
type Column = { name: string; kind: 'string' | 'int64' | 'strings' | 'choices' };

const str = (name: string): SchemaElement[] => [{ name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' }];
const int64 = (name: string): SchemaElement[] => [{ name, type: 'INT64', repetition_type: 'OPTIONAL' }];
const strings = (name: string): SchemaElement[] => [
  { name, repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
  { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
  { name: 'element', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
];
/** ARC's `choices`: struct<text: list<string>, label: list<string>>. */
const choices = (name: string): SchemaElement[] => [{ name, repetition_type: 'OPTIONAL', num_children: 2 }, ...strings('text'), ...strings('label')];
const SCHEMA: Record<Column['kind'], (name: string) => SchemaElement[]> = { string: str, int64, strings, choices };

/** A parquet file with the given columns, in row groups of `rowGroupSize` rows. */
export function parquetFile(columns: Column[], rows: Record<string, unknown>[], rowGroupSize = 16): Uint8Array {
  const buf = parquetWriteBuffer({
    columnData: columns.map((c) => ({ name: c.name, data: rows.map((r) => (c.kind === 'int64' ? BigInt(r[c.name] as number) : r[c.name])) as never })),
    schema: [{ name: 'root', num_children: columns.length }, ...columns.flatMap((c) => SCHEMA[c.kind](c.name))],
    rowGroupSize,
  });
  return new Uint8Array(buf);
}

/** A deterministic stream of small integers (LCG), so every build writes the same bytes. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
function word(r: () => number, min = 3, max = 6): string {
  const n = min + (r() % (max - min + 1));
  let w = '';
  for (let i = 0; i < n; i++) w += LETTERS[r() % 26];
  return w;
}
/** The demo zoo's caesar skill (shift by 3): questions the caesar expert can answer. */
function caesar(w: string): string {
  return [...w].map((c) => LETTERS[(LETTERS.indexOf(c) + 3) % 26]).join('');
}
function mcItem(r: () => number, n: number): { question: string; options: string[]; gold: number } {
  const w = word(r);
  const gold = r() % n;
  const options = Array.from({ length: n }, (_, i) => (i === gold ? caesar(w) : caesar(word(r, w.length, w.length))));
  return { question: `rot ${w}=`, options, gold };
}

export interface SyntheticSizes {
  /** Rows of each evaluation split. */
  evalRows?: number;
  /** Rows of each few-shot split. */
  trainRows?: number;
  rowGroupSize?: number;
}

/** The synthetic dataset repos, ready for the mock Hub's `datasets` option. */
export function syntheticDatasets(sizes: SyntheticSizes = {}): MockDatasetSpec[] {
  const evalRows = sizes.evalRows ?? 60;
  const trainRows = sizes.trainRows ?? 40;
  const g = sizes.rowGroupSize ?? 16;
  const out: MockDatasetSpec[] = [];

  const arcCols: Column[] = [{ name: 'id', kind: 'string' }, { name: 'question', kind: 'string' }, { name: 'choices', kind: 'choices' }, { name: 'answerKey', kind: 'string' }];
  const arcRows = (seed: number, n: number, numeric: boolean) => {
    const r = rng(seed);
    return Array.from({ length: n }, (_, i) => {
      const it = mcItem(r, 4);
      const labels = numeric && i % 5 === 0 ? ['1', '2', '3', '4'] : ['A', 'B', 'C', 'D'];
      return { id: `q${seed}_${i}`, question: it.question, choices: { text: it.options, label: labels }, answerKey: labels[it.gold] };
    });
  };
  const arcFiles: [string, Uint8Array][] = [];
  for (const [config, seed] of [['ARC-Easy', 1], ['ARC-Challenge', 2]] as const) {
    arcFiles.push([`${config}/test-00000-of-00001.parquet`, parquetFile(arcCols, arcRows(seed, evalRows, true), g)]);
    arcFiles.push([`${config}/train-00000-of-00001.parquet`, parquetFile(arcCols, arcRows(seed + 10, trainRows, false), g)]);
    arcFiles.push([`${config}/validation-00000-of-00001.parquet`, parquetFile(arcCols, arcRows(seed + 20, 8, false), g)]);
  }
  arcFiles.push(['README.md', new TextEncoder().encode('# ai2_arc (synthetic stand-in)\n')]);
  out.push({ id: 'allenai/ai2_arc', files: arcFiles });

  // HellaSwag: the repo holds only a loading script; the data is in the parquet conversion.
  const hsCols: Column[] = [
    { name: 'ind', kind: 'int64' }, { name: 'activity_label', kind: 'string' }, { name: 'ctx_a', kind: 'string' }, { name: 'ctx_b', kind: 'string' },
    { name: 'ctx', kind: 'string' }, { name: 'endings', kind: 'strings' }, { name: 'source_id', kind: 'string' }, { name: 'split', kind: 'string' },
    { name: 'split_type', kind: 'string' }, { name: 'label', kind: 'string' },
  ];
  const hsRows = (seed: number, n: number, split: string) => {
    const r = rng(seed);
    return Array.from({ length: n }, (_, i) => {
      const it = mcItem(r, 4);
      return { ind: i, activity_label: 'rot', ctx_a: it.question, ctx_b: i % 3 === 0 ? 'then [title] more' : 'next', ctx: it.question, endings: it.options, source_id: `s${i}`, split, split_type: 'indomain', label: String(it.gold) };
    });
  };
  out.push({
    id: 'Rowan/hellaswag',
    files: [['hellaswag.py', new TextEncoder().encode('# loading script (not run by anyone here)\n')], ['README.md', new TextEncoder().encode('# hellaswag (synthetic stand-in)\n')]],
    parquetConversion: [
      ['default/validation/0000.parquet', parquetFile(hsCols, hsRows(3, evalRows, 'val'), g)],
      ['default/train/0000.parquet', parquetFile(hsCols, hsRows(4, trainRows, 'train'), g)],
    ],
  });

  const piqaCols: Column[] = [{ name: 'goal', kind: 'string' }, { name: 'sol1', kind: 'string' }, { name: 'sol2', kind: 'string' }, { name: 'label', kind: 'int64' }];
  const piqaRows = (seed: number, n: number) => {
    const r = rng(seed);
    return Array.from({ length: n }, () => {
      const it = mcItem(r, 2);
      return { goal: it.question, sol1: it.options[0], sol2: it.options[1], label: it.gold };
    });
  };
  out.push({ id: 'baber/piqa', files: [['data/validation-00000-of-00001.parquet', parquetFile(piqaCols, piqaRows(5, evalRows), g)], ['data/train-00000-of-00001.parquet', parquetFile(piqaCols, piqaRows(6, trainRows), g)]] });

  const wgCols: Column[] = [{ name: 'sentence', kind: 'string' }, { name: 'option1', kind: 'string' }, { name: 'option2', kind: 'string' }, { name: 'answer', kind: 'string' }];
  const wgRows = (seed: number, n: number) => {
    const r = rng(seed);
    return Array.from({ length: n }, () => {
      const w = word(r);
      const gold = r() % 2;
      const opts = [caesar(w), caesar(word(r, w.length, w.length))];
      if (gold === 1) opts.reverse();
      return { sentence: `rot ${w}=_ done`, option1: opts[0], option2: opts[1], answer: String(gold + 1) };
    });
  };
  out.push({ id: 'allenai/winogrande', files: [['winogrande_xl/validation-00000-of-00001.parquet', parquetFile(wgCols, wgRows(7, evalRows), g)], ['winogrande_xl/train-00000-of-00001.parquet', parquetFile(wgCols, wgRows(8, trainRows), g)]] });

  const gsmCols: Column[] = [{ name: 'question', kind: 'string' }, { name: 'answer', kind: 'string' }];
  const gsmRows = (seed: number, n: number) => {
    const r = rng(seed);
    return Array.from({ length: n }, () => {
      const a = r() % 50;
      const b = r() % 50;
      return { question: `add ${a}+${b}=`, answer: `${a}+${b}=<<${a}+${b}=${a + b}>>${a + b}\n#### ${a + b}` };
    });
  };
  out.push({ id: 'openai/gsm8k', files: [['main/test-00000-of-00001.parquet', parquetFile(gsmCols, gsmRows(9, evalRows), g)], ['main/train-00000-of-00001.parquet', parquetFile(gsmCols, gsmRows(10, trainRows), g)]] });

  const mmluCols: Column[] = [{ name: 'question', kind: 'string' }, { name: 'subject', kind: 'string' }, { name: 'choices', kind: 'strings' }, { name: 'answer', kind: 'int64' }];
  const mmluFiles: [string, Uint8Array][] = [];
  MMLU_SUBJECTS.forEach((subject, k) => {
    const rows = (seed: number, n: number) => {
      const r = rng(seed);
      return Array.from({ length: n }, () => {
        const it = mcItem(r, 4);
        return { question: it.question, subject, choices: it.options, answer: it.gold };
      });
    };
    mmluFiles.push([`${subject}/test-00000-of-00001.parquet`, parquetFile(mmluCols, rows(100 + k, 4 + (k % 3)), g)]);
    mmluFiles.push([`${subject}/dev-00000-of-00001.parquet`, parquetFile(mmluCols, rows(200 + k, 5), g)]);
  });
  out.push({ id: 'cais/mmlu', files: mmluFiles });

  // google/IFEval: one JSON Lines file at the repo root (its card's data_files), each line
  // {key, prompt, instruction_id_list, kwargs} with only each instruction's own kwargs.
  const ifevalKinds: [string, Record<string, unknown>][] = [
    ['punctuation:no_comma', {}],
    ['detectable_format:title', {}],
    ['keywords:existence', { keywords: ['ab', 'cd'] }],
    ['length_constraints:number_words', { num_words: 5, relation: 'at least' }],
    ['startend:end_checker', { end_phrase: 'xy' }],
    ['language:response_language', { language: 'de' }],
    ['keywords:letter_frequency', { letter: 'a', let_frequency: 2, let_relation: 'at least' }],
    ['detectable_format:number_highlighted_sections', { num_highlights: 1 }],
    ['change_case:english_lowercase', {}],
    ['combination:repeat_prompt', { prompt_to_repeat: 'rot ab' }],
  ];
  const ifr = rng(11);
  const ifevalLines = Array.from({ length: Math.min(evalRows, 40) }, (_, i) => {
    const a = ifevalKinds[i % ifevalKinds.length];
    const b = ifevalKinds[(i * 3 + 1) % ifevalKinds.length];
    const pairs = a[0] === b[0] ? [a] : [a, b];
    return JSON.stringify({ key: 1000 + i, prompt: `rot ${word(ifr)}=`, instruction_id_list: pairs.map((p) => p[0]), kwargs: pairs.map((p) => p[1]) });
  });
  out.push({ id: 'google/IFEval', files: [['ifeval_input_data.jsonl', new TextEncoder().encode(ifevalLines.join('\n') + '\n')]] });
  return out;
}

/** Writes the datasets as folders a mock Hub can serve with `--datasets DIR`. */
export async function writeSyntheticDatasets(dir: string, sizes?: SyntheticSizes): Promise<void> {
  for (const d of syntheticDatasets(sizes)) {
    for (const [rev, files] of [['', d.files], ['@refs%2Fconvert%2Fparquet', d.parquetConversion ?? []]] as const) {
      for (const [path, bytes] of files) {
        const file = join(dir, `${d.id}${rev}`, path);
        await mkdir(dirname(file), { recursive: true });
        await writeFile(file, bytes);
      }
    }
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const i = process.argv.indexOf('--out');
  if (i < 0) {
    process.stderr.write('usage: npx tsx tools/benchmarks/synthetic.ts --out DIR\n');
    process.exit(2);
  }
  await writeSyntheticDatasets(process.argv[i + 1]);
  process.stdout.write(`wrote synthetic benchmark datasets to ${process.argv[i + 1]}\n`);
}
