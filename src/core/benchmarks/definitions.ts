// Benchmark tasks modelled on lm-evaluation-harness (EleutherAI/lm-evaluation-harness at 4e7e0d47f,
// read with the search tool's fetch; nothing of it is copied). Each definition restates one task
// YAML of lm_eval/tasks/: the dataset, the splits, the prompt (doc_to_text / doc_to_choice /
// doc_to_target, process_docs), the number of shots and the sampler, the delimiters and the metrics.
// Prompt construction follows lm_eval/api/task.py (ConfigurableTask.fewshot_context, build_qa_turn,
// multiple_input_context, construct_requests) and lm_eval/api/utils.py (Message, maybe_delimit) for
// plain-text (non-chat) prompts. The README's table lists each task with its source file.
import { MergeStudioError } from '../errors.ts';

export type Doc = Record<string, unknown>;

export interface GenerationSpec {
  /** generation_kwargs.until: the output is cut at the first of these (and at EOS). */
  until: string[];
  /** max_gen_toks (lm-eval's default 256). */
  maxGenToks: number;
  /** exact_match's regexes_to_ignore (Python re.sub over prediction and reference). */
  regexesToIgnore: string[];
  ignoreCase: boolean;
  /** filter_list: one metric variant per filter, `exact_match,<name>` in lm-eval's output. */
  filters: { name: string; regex: string; groupSelect: number; fallback: string }[];
}

export interface BenchmarkDef {
  name: string;
  /** lm-eval's YAML this restates. */
  source: string;
  /** `files`: a split's data files by name, for datasets whose files do not follow the split
   * naming (the data_files of the dataset card's configs, e.g. google/IFEval's one JSONL file). */
  dataset: { path: string; config?: string; files?: Partial<Record<string, string[]>> };
  evalSplit: string;
  fewshotSplit: string;
  sampler: 'default' | 'first_n';
  /** The YAML's num_fewshot (lm-eval's default when none is given: 0). */
  numFewshot: number;
  outputType: 'multiple_choice' | 'generate_until';
  metrics: string[];
  description?: string;
  process?: (doc: Doc) => Doc;
  /** A string, or for multiple-input tasks (Winogrande) the index of the gold context. */
  docToText: (doc: Doc) => string | number;
  docToChoice?: (doc: Doc) => string[];
  docToTarget: (doc: Doc) => number | string;
  generation?: GenerationSpec;
  /** Scored by IFEval's verifiable-instruction checks (ifeval.ts) instead of exact match. */
  instructionFollowing?: boolean;
  /** target_delimiter / fewshot_delimiter (lm-eval's defaults " " and "\n\n"). */
  targetDelimiter: string;
  fewshotDelimiter: string;
}

function field(doc: Doc, key: string, task: string): unknown {
  if (!(key in doc)) throw new MergeStudioError('benchmark-doc-invalid', `${task}: a document has no '${key}' column (columns: ${Object.keys(doc).join(', ')})`, { task, key });
  return doc[key];
}
function str(doc: Doc, key: string, task: string): string {
  const v = field(doc, key, task);
  if (typeof v !== 'string') throw new MergeStudioError('benchmark-doc-invalid', `${task}: column '${key}' must be a string, found ${JSON.stringify(v)}`, { task, key });
  return v;
}
function strList(v: unknown, what: string, task: string): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new MergeStudioError('benchmark-doc-invalid', `${task}: ${what} must be a list of strings, found ${JSON.stringify(v)}`, { task });
  return v as string[];
}
function int(v: unknown, what: string, task: string): number {
  const n = typeof v === 'bigint' ? Number(v) : typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new MergeStudioError('benchmark-doc-invalid', `${task}: ${what} must be an integer, found ${JSON.stringify(typeof v === 'bigint' ? String(v) : v)}`, { task });
  return n;
}

/** Python's str.strip() (whitespace at both ends). */
const pyStrip = (s: string) => s.replace(/^\s+|\s+$/gu, '');
/** Python's str.capitalize(): first character upper case, the rest lower case. */
const pyCapitalize = (s: string) => (s.length === 0 ? s : s[0].toUpperCase() + s.slice(1).toLowerCase());

/** lm_eval/tasks/hellaswag/utils.py preprocess. */
function hellaswagPreprocess(text: string): string {
  let t = pyStrip(text);
  t = t.replaceAll(' [title]', '. ');
  t = t.replace(/\[.*?\]/g, '');
  t = t.replaceAll('  ', ' ');
  return t;
}

const MC_METRICS = ['acc', 'acc_norm'];

function arc(name: 'arc_easy' | 'arc_challenge', config: string): BenchmarkDef {
  return {
    name,
    source: `lm_eval/tasks/arc/${name}.yaml`,
    dataset: { path: 'allenai/ai2_arc', config },
    evalSplit: 'test',
    fewshotSplit: 'train',
    sampler: 'default',
    numFewshot: 0,
    outputType: 'multiple_choice',
    metrics: MC_METRICS,
    docToText: (d) => `Question: ${str(d, 'question', name)}\nAnswer:`,
    docToChoice: (d) => strList((field(d, 'choices', name) as Doc)?.text, "'choices.text'", name),
    docToTarget: (d) => {
      const labels = strList((field(d, 'choices', name) as Doc)?.label, "'choices.label'", name);
      const key = str(d, 'answerKey', name);
      const i = labels.indexOf(key);
      if (i < 0) throw new MergeStudioError('benchmark-doc-invalid', `${name}: answerKey '${key}' is not one of the choice labels ${JSON.stringify(labels)}`, { task: name });
      return i;
    },
    targetDelimiter: ' ',
    fewshotDelimiter: '\n\n',
  };
}

export const MMLU_SUBJECTS = [
  'abstract_algebra', 'anatomy', 'astronomy', 'business_ethics', 'clinical_knowledge', 'college_biology', 'college_chemistry',
  'college_computer_science', 'college_mathematics', 'college_medicine', 'college_physics', 'computer_security', 'conceptual_physics',
  'econometrics', 'electrical_engineering', 'elementary_mathematics', 'formal_logic', 'global_facts', 'high_school_biology',
  'high_school_chemistry', 'high_school_computer_science', 'high_school_european_history', 'high_school_geography',
  'high_school_government_and_politics', 'high_school_macroeconomics', 'high_school_mathematics', 'high_school_microeconomics',
  'high_school_physics', 'high_school_psychology', 'high_school_statistics', 'high_school_us_history', 'high_school_world_history',
  'human_aging', 'human_sexuality', 'international_law', 'jurisprudence', 'logical_fallacies', 'machine_learning', 'management',
  'marketing', 'medical_genetics', 'miscellaneous', 'moral_disputes', 'moral_scenarios', 'nutrition', 'philosophy', 'prehistory',
  'professional_accounting', 'professional_law', 'professional_medicine', 'professional_psychology', 'public_relations',
  'security_studies', 'sociology', 'us_foreign_policy', 'virology', 'world_religions',
] as const;

function mmlu(subject: string): BenchmarkDef {
  const name = `mmlu_${subject}`;
  return {
    name,
    source: `lm_eval/tasks/mmlu/default/mmlu_${subject}.yaml (+ _default_template_yaml)`,
    dataset: { path: 'cais/mmlu', config: subject },
    evalSplit: 'test',
    fewshotSplit: 'dev',
    sampler: 'first_n',
    numFewshot: 0,
    outputType: 'multiple_choice',
    metrics: ['acc'],
    description: `The following are multiple choice questions (with answers) about ${subject.replaceAll('_', ' ')}.\n\n`,
    docToText: (d) => {
      const c = strList(field(d, 'choices', name), "'choices'", name);
      if (c.length < 4) throw new MergeStudioError('benchmark-doc-invalid', `${name}: 'choices' must have 4 entries, found ${c.length}`, { task: name });
      return `${pyStrip(str(d, 'question', name))}\nA. ${c[0]}\nB. ${c[1]}\nC. ${c[2]}\nD. ${c[3]}\nAnswer:`;
    },
    docToChoice: () => ['A', 'B', 'C', 'D'],
    docToTarget: (d) => int(field(d, 'answer', name), "'answer'", name),
    targetDelimiter: ' ',
    fewshotDelimiter: '\n\n',
  };
}

const DEFINITIONS: BenchmarkDef[] = [
  arc('arc_easy', 'ARC-Easy'),
  arc('arc_challenge', 'ARC-Challenge'),
  {
    name: 'hellaswag',
    source: 'lm_eval/tasks/hellaswag/hellaswag.yaml (+ utils.py process_docs)',
    dataset: { path: 'Rowan/hellaswag' },
    evalSplit: 'validation',
    fewshotSplit: 'train',
    sampler: 'default',
    numFewshot: 0,
    outputType: 'multiple_choice',
    metrics: MC_METRICS,
    process: (d) => {
      const ctx = `${str(d, 'ctx_a', 'hellaswag')} ${pyCapitalize(str(d, 'ctx_b', 'hellaswag'))}`;
      return {
        ...d,
        query: hellaswagPreprocess(`${str(d, 'activity_label', 'hellaswag')}: ${ctx}`),
        choices: strList(field(d, 'endings', 'hellaswag'), "'endings'", 'hellaswag').map(hellaswagPreprocess),
        gold: int(field(d, 'label', 'hellaswag'), "'label'", 'hellaswag'),
      };
    },
    docToText: (d) => d.query as string,
    docToChoice: (d) => d.choices as string[],
    // doc_to_target "{{label}}": the dataset's label string, which lm-eval turns into an int.
    docToTarget: (d) => int(d.label, "'label'", 'hellaswag'),
    targetDelimiter: ' ',
    fewshotDelimiter: '\n\n',
  },
  {
    name: 'piqa',
    source: 'lm_eval/tasks/piqa/piqa.yaml',
    dataset: { path: 'baber/piqa' },
    evalSplit: 'validation',
    fewshotSplit: 'train',
    sampler: 'default',
    numFewshot: 0,
    outputType: 'multiple_choice',
    metrics: MC_METRICS,
    docToText: (d) => `Question: ${str(d, 'goal', 'piqa')}\nAnswer:`,
    docToChoice: (d) => [str(d, 'sol1', 'piqa'), str(d, 'sol2', 'piqa')],
    docToTarget: (d) => int(field(d, 'label', 'piqa'), "'label'", 'piqa'),
    targetDelimiter: ' ',
    fewshotDelimiter: '\n\n',
  },
  {
    name: 'winogrande',
    source: 'lm_eval/tasks/winogrande/default.yaml (+ preprocess_winogrande.py)',
    dataset: { path: 'allenai/winogrande', config: 'winogrande_xl' },
    evalSplit: 'validation',
    fewshotSplit: 'train',
    sampler: 'default',
    numFewshot: 0,
    outputType: 'multiple_choice',
    metrics: ['acc'],
    // Multiple inputs: the choices are contexts (the sentence up to the blank, filled with each
    // option), the target the rest of the sentence; doc_to_text gives the gold context's index.
    docToText: (d) => {
      const a = str(d, 'answer', 'winogrande');
      if (a !== '1' && a !== '2') throw new MergeStudioError('benchmark-doc-invalid', `winogrande: 'answer' must be "1" or "2", found ${JSON.stringify(a)}`, { task: 'winogrande' });
      return a === '1' ? 0 : 1;
    },
    docToChoice: (d) => {
      const s = str(d, 'sentence', 'winogrande');
      const i = s.indexOf('_');
      if (i < 0) throw new MergeStudioError('benchmark-doc-invalid', `winogrande: 'sentence' has no blank '_': ${JSON.stringify(s)}`, { task: 'winogrande' });
      return [s.slice(0, i) + str(d, 'option1', 'winogrande'), s.slice(0, i) + str(d, 'option2', 'winogrande')];
    },
    docToTarget: (d) => {
      const s = str(d, 'sentence', 'winogrande');
      return pyStrip(s.slice(s.indexOf('_') + 1));
    },
    targetDelimiter: ' ',
    fewshotDelimiter: '\n\n',
  },
  {
    name: 'gsm8k',
    source: 'lm_eval/tasks/gsm8k/gsm8k.yaml',
    dataset: { path: 'openai/gsm8k', config: 'main' },
    evalSplit: 'test',
    fewshotSplit: 'train',
    sampler: 'default',
    numFewshot: 5,
    outputType: 'generate_until',
    metrics: ['exact_match'],
    docToText: (d) => `Question: ${str(d, 'question', 'gsm8k')}\nAnswer:`,
    docToTarget: (d) => str(d, 'answer', 'gsm8k'),
    generation: {
      until: ['Question:', '</s>', '<|im_end|>'],
      maxGenToks: 256,
      regexesToIgnore: [',', '\\$', '(?s).*#### ', '\\.$'],
      ignoreCase: true,
      filters: [
        { name: 'strict-match', regex: '#### (\\-?[0-9\\.\\,]+)', groupSelect: 0, fallback: '[invalid]' },
        { name: 'flexible-extract', regex: '(-?[$0-9.,]{2,})|(-?[0-9]+)', groupSelect: -1, fallback: '[invalid]' },
      ],
    },
    targetDelimiter: ' ',
    fewshotDelimiter: '\n\n',
  },
  {
    name: 'ifeval',
    source: 'lm_eval/tasks/ifeval/ifeval.yaml (+ utils.py, instructions.py)',
    dataset: { path: 'google/IFEval', files: { train: ['ifeval_input_data.jsonl'] } },
    evalSplit: 'train',
    fewshotSplit: 'train',
    sampler: 'default',
    numFewshot: 0,
    outputType: 'generate_until',
    metrics: ['prompt_level_strict_acc', 'inst_level_strict_acc', 'prompt_level_loose_acc', 'inst_level_loose_acc'],
    docToText: (d) => str(d, 'prompt', 'ifeval'),
    docToTarget: () => 0,
    // until: [] (only EOS ends a response), greedy, max_gen_toks 1280.
    generation: { until: [], maxGenToks: 1280, regexesToIgnore: [], ignoreCase: false, filters: [] },
    instructionFollowing: true,
    targetDelimiter: ' ',
    fewshotDelimiter: '\n\n',
  },
  ...MMLU_SUBJECTS.map(mmlu),
];

export const BENCHMARKS: ReadonlyMap<string, BenchmarkDef> = new Map(DEFINITIONS.map((d) => [d.name, d]));

/** `mmlu` is the group of all subjects (lm-eval's _mmlu.yaml: acc weighted by subject size). */
export const BENCHMARK_GROUPS: ReadonlyMap<string, string[]> = new Map([['mmlu', MMLU_SUBJECTS.map((s) => `mmlu_${s}`)]]);

export function isBenchmarkName(name: string): boolean {
  return BENCHMARKS.has(name) || BENCHMARK_GROUPS.has(name);
}
