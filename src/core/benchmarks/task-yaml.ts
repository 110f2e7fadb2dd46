// A user's own benchmark task as a small YAML file in lm-eval's task shape (the keys of
// lm_eval/config/task.py TaskConfig that plain-text prompts use): dataset_path, dataset_name,
// test_split / validation_split, fewshot_split / training_split, output_type (multiple_choice or
// generate_until), doc_to_text, doc_to_choice, doc_to_target, description, num_fewshot,
// fewshot_config.sampler, target_delimiter, fewshot_delimiter, metric_list (acc, acc_norm,
// exact_match with ignore_case / regexes_to_ignore), generation_kwargs (until, max_gen_toks),
// filter_list (regex + take_first). Templates are Jinja, rendered by @huggingface/jinja; a template
// that is exactly a column name gives that column, as in lm-eval. Unlike Python Jinja, method calls
// on lists such as `.index()` are not available: use a column or a template without them.
import { Template } from '@huggingface/jinja';
import { parse as parseYaml } from 'yaml';
import { MergeStudioError } from '../errors.ts';
import type { BenchmarkDef, Doc, GenerationSpec } from './definitions.ts';

const KNOWN = new Set([
  'task', 'dataset_path', 'dataset_name', 'test_split', 'validation_split', 'training_split', 'fewshot_split', 'output_type', 'doc_to_text',
  'doc_to_choice', 'doc_to_target', 'description', 'num_fewshot', 'fewshot_config', 'target_delimiter', 'fewshot_delimiter', 'metric_list',
  'generation_kwargs', 'filter_list', 'tag', 'metadata', 'should_decontaminate', 'doc_to_decontamination_query', 'repeats',
]);

export function parseTaskYaml(text: string, file: string): BenchmarkDef {
  const bad = (key: string, why: string) => new MergeStudioError('task-yaml-invalid', `${file}: '${key}' ${why}`, { file, key });
  let y: unknown;
  try {
    y = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    throw new MergeStudioError('task-yaml-invalid', `${file}: not valid YAML (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`, { file });
  }
  if (typeof y !== 'object' || y === null || Array.isArray(y)) throw new MergeStudioError('task-yaml-invalid', `${file}: expected a mapping of task keys`, { file });
  const o = y as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KNOWN.has(k)) throw bad(k, `is not a task key this tool reads (known: ${[...KNOWN].sort().join(', ')})`);
  const s = (k: string, required = true): string | undefined => {
    const v = o[k];
    if (v === undefined) {
      if (required) throw bad(k, 'is required');
      return undefined;
    }
    if (typeof v !== 'string' || v === '') throw bad(k, `must be a non-empty string, found ${JSON.stringify(v)}`);
    return v;
  };
  const name = s('task')!;
  const outputType = s('output_type')!;
  if (outputType !== 'multiple_choice' && outputType !== 'generate_until') throw bad('output_type', `must be multiple_choice or generate_until, found '${outputType}'`);
  const evalSplit = s('test_split', false) ?? s('validation_split', false);
  if (!evalSplit) throw bad('test_split', 'or validation_split is required');
  const fewshotSplit = s('fewshot_split', false) ?? s('training_split', false) ?? s('validation_split', false) ?? evalSplit;

  const compile = (key: string, tpl: string) => {
    try {
      return new Template(tpl);
    } catch (err) {
      throw bad(key, `is not a valid template (${err instanceof Error ? err.message : String(err)})`);
    }
  };
  const renderer = (key: string, tpl: string) => {
    const t = compile(key, tpl);
    return (doc: Doc) => {
      if (tpl in doc) return doc[tpl];
      try {
        return t.render(doc as Record<string, never>);
      } catch (err) {
        throw new MergeStudioError('task-yaml-invalid', `${file}: '${key}' failed to render for a document (${err instanceof Error ? err.message : String(err)})`, { file, key });
      }
    };
  };
  const docText = renderer('doc_to_text', s('doc_to_text')!);
  const targetSrc = o.doc_to_target;
  if (typeof targetSrc !== 'string' && typeof targetSrc !== 'number') throw bad('doc_to_target', 'must be a template, a column name or an index');
  const target = typeof targetSrc === 'number' ? () => targetSrc : renderer('doc_to_target', targetSrc);
  let choice: ((doc: Doc) => string[]) | undefined;
  const choiceSrc = o.doc_to_choice;
  if (Array.isArray(choiceSrc)) {
    if (!choiceSrc.every((c) => typeof c === 'string')) throw bad('doc_to_choice', 'as a list must hold strings');
    choice = () => choiceSrc as string[];
  } else if (typeof choiceSrc === 'string') {
    const r = renderer('doc_to_choice', choiceSrc);
    choice = (doc) => {
      const v = r(doc);
      const list = typeof v === 'string' ? (() => { try { return JSON.parse(v) as unknown; } catch { return v; } })() : v;
      if (!Array.isArray(list) || !list.every((c) => typeof c === 'string')) throw new MergeStudioError('task-yaml-invalid', `${file}: 'doc_to_choice' must give a list of strings, gave ${JSON.stringify(v)}`, { file, key: 'doc_to_choice' });
      return list as string[];
    };
  } else if (outputType === 'multiple_choice') throw bad('doc_to_choice', 'is required for multiple_choice');

  const asIndexOrString = (v: unknown): number | string => {
    if (typeof v === 'number' || typeof v === 'bigint') return Number(v);
    const str = String(v);
    return /^\d+$/.test(str) && choice ? Number(str) : str;
  };
  const metrics = Array.isArray(o.metric_list) ? (o.metric_list as Record<string, unknown>[]).map((m) => String(m?.metric)) : outputType === 'multiple_choice' ? ['acc', 'acc_norm'] : ['exact_match'];
  for (const m of metrics) if (!['acc', 'acc_norm', 'exact_match'].includes(m)) throw bad('metric_list', `names '${m}'; this tool computes acc, acc_norm and exact_match`);
  let generation: GenerationSpec | undefined;
  if (outputType === 'generate_until') {
    const g = (o.generation_kwargs ?? {}) as Record<string, unknown>;
    const em = (Array.isArray(o.metric_list) ? (o.metric_list as Record<string, unknown>[]) : []).find((m) => m?.metric === 'exact_match') ?? {};
    const filters = Array.isArray(o.filter_list)
      ? (o.filter_list as Record<string, unknown>[]).map((f, i) => {
          const steps = Array.isArray(f.filter) ? (f.filter as Record<string, unknown>[]) : [];
          const re = steps.find((st) => st.function === 'regex');
          if (!re || typeof re.regex_pattern !== 'string') throw bad(`filter_list[${i}]`, 'must have a regex step with regex_pattern');
          return { name: String(f.name ?? `filter${i}`), regex: re.regex_pattern, groupSelect: Number(re.group_select ?? 0), fallback: String(re.fallback ?? '[invalid]') };
        })
      : [{ name: 'none', regex: '^([\\s\\S]*)$', groupSelect: 0, fallback: '' }];
    generation = {
      until: Array.isArray(g.until) ? (g.until as unknown[]).map(String) : ['\n\n'],
      maxGenToks: Number(g.max_gen_toks ?? 256),
      regexesToIgnore: Array.isArray(em.regexes_to_ignore) ? (em.regexes_to_ignore as unknown[]).map(String) : [],
      ignoreCase: em.ignore_case === true,
      filters,
    };
  }
  const fewshotConfig = (o.fewshot_config ?? {}) as Record<string, unknown>;
  const numFewshot = o.num_fewshot === undefined ? 0 : Number(o.num_fewshot);
  if (!Number.isInteger(numFewshot) || numFewshot < 0) throw bad('num_fewshot', `must be a non-negative integer, found ${JSON.stringify(o.num_fewshot)}`);
  return {
    name,
    source: file,
    dataset: { path: s('dataset_path')!, ...(s('dataset_name', false) ? { config: s('dataset_name', false) } : {}) },
    evalSplit,
    fewshotSplit,
    sampler: fewshotConfig.sampler === 'first_n' ? 'first_n' : 'default',
    numFewshot,
    outputType,
    metrics,
    ...(typeof o.description === 'string' ? { description: o.description } : {}),
    docToText: (d) => {
      const v = docText(d);
      return typeof v === 'number' ? v : String(v);
    },
    ...(choice ? { docToChoice: choice } : {}),
    docToTarget: (d) => asIndexOrString(target(d)),
    ...(generation ? { generation } : {}),
    targetDelimiter: typeof o.target_delimiter === 'string' ? o.target_delimiter : ' ',
    fewshotDelimiter: typeof o.fewshot_delimiter === 'string' ? o.fewshot_delimiter : '\n\n',
  };
}
