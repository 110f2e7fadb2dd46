// The model card (README.md) of a merged model as the Hub reads it: YAML front matter with
// `base_model` (every input that is a Hub model), `base_model_relation: merge`, `tags`,
// `library_name`, `license` when all inputs share one, and `model-index` with the scores Merge
// Studio measured (task, metric, item count); then how the model was made and the recipe as
// mergekit YAML. Field names follow the Hub's model card metadata (huggingface_hub's
// ModelCardData / the modelcard.md template in huggingface/huggingface_hub; model-index as in
// huggingface/hub-docs "model-cards" docs).
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { FileTree } from '../io/types.ts';

/** One measured score: `task` is the task file's name (e.g. `caesar.gen`). */
export interface CardScore {
  task: string;
  metric: string;
  value: number;
  /** Items scored. */
  items: number;
  /** Items the task has, when a subset was scored. */
  of?: number;
}

export interface CardInput {
  /** As the recipe names it. */
  ref: string;
  /** The Hub id when the input is a Hub model (local folders are listed, not put in base_model). */
  hubId?: string;
  license?: string;
}

export interface CardInfo {
  title: string;
  method: string;
  methodDescription?: string;
  inputs: CardInput[];
  baseModel?: string;
  /** mergekit YAML of the recipe. */
  recipeYaml: string;
  scores?: CardScore[];
  /** Extra lines on how it was made (stages, layer/tensor counts). */
  notes?: string[];
}

export const CARD_TAGS = ['merge', 'mergekit', 'merge-studio'];

/** A license when every input declares the same one. */
export function sharedLicense(inputs: CardInput[]): string | undefined {
  const l = inputs.map((i) => i.license);
  return l.length > 0 && l.every((x) => x && x === l[0]) ? l[0] : undefined;
}

/** Splits README text into its front matter (parsed) and body; {} when there is none. */
export function parseFrontMatter(text: string): { data: Record<string, unknown>; body: string } {
  const m = /^---\r?\n([\s\S]*?)\r?\n---\r?\n?/.exec(text);
  if (!m) return { data: {}, body: text };
  const data = parseYaml(m[1]) as unknown;
  return { data: data && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, unknown>) : {}, body: text.slice(m[0].length) };
}

/** The `license` a model's README declares, if any. */
export async function readLicense(tree: FileTree, signal?: AbortSignal): Promise<string | undefined> {
  try {
    const src = await tree.open('README.md', signal);
    const text = new TextDecoder().decode(await src.read(0, Math.min(src.size, 64 * 1024), signal));
    const lic = parseFrontMatter(text).data.license;
    return typeof lic === 'string' ? lic : undefined;
  } catch {
    return undefined;
  }
}

function modelIndex(name: string, scores: CardScore[]): unknown[] {
  return [{
    name,
    results: scores.map((s) => ({
      task: { type: 'text-generation', name: 'Text Generation' },
      dataset: { name: s.task, type: s.task, args: { items: s.items, ...(s.of !== undefined ? { of: s.of } : {}) } },
      metrics: [{ type: s.metric, value: s.value, name: `${s.metric} (${s.items} items)` }],
      source: { name: 'Merge Studio', url: 'https://github.com/merge-studio' },
    })),
  }];
}

function scoreTable(scores: CardScore[]): string[] {
  if (scores.length === 0) return [];
  return [
    '## Scores measured by Merge Studio',
    '',
    '| task | metric | value | items |',
    '|---|---|---|---|',
    ...scores.map((s) => `| ${s.task} | ${s.metric} | ${Number.isFinite(s.value) ? s.value.toFixed(4) : String(s.value)} | ${s.items}${s.of !== undefined && s.of !== s.items ? ` of ${s.of}` : ''} |`),
    '',
  ];
}

function frontMatter(data: Record<string, unknown>): string {
  return `---\n${stringifyYaml(data, { lineWidth: 0 }).trimEnd()}\n---\n`;
}

export function renderModelCard(info: CardInfo): string {
  const hubIds = info.inputs.map((i) => i.hubId).filter((x): x is string => !!x);
  const license = sharedLicense(info.inputs);
  const data: Record<string, unknown> = {
    ...(hubIds.length ? { base_model: [...new Set(hubIds)], base_model_relation: 'merge' } : {}),
    library_name: 'transformers',
    tags: CARD_TAGS,
    ...(license ? { license } : {}),
    ...(info.scores?.length ? { 'model-index': modelIndex(info.title, info.scores) } : {}),
  };
  return [
    frontMatter(data).trimEnd(),
    `# ${info.title}`,
    '',
    `This is a merge of pre-trained language models made with Merge Studio (mergekit-compatible) using the \`${info.method}\` method.${info.methodDescription ? ` ${info.methodDescription}` : ''}`,
    '',
    ...(info.baseModel ? [`Base model: \`${info.baseModel}\``, ''] : []),
    'Models merged:',
    ...info.inputs.map((i) => `- \`${i.ref}\`${i.hubId && i.hubId !== i.ref ? ` (Hub: ${i.hubId})` : ''}${i.license ? ` — license ${i.license}` : ''}`),
    '',
    ...(info.notes ?? []).flatMap((n) => [n, '']),
    ...scoreTable(info.scores ?? []),
    '## Recipe',
    '',
    'The mergekit YAML below (also saved as `mergekit_config.yml`) reproduces the merge with Merge Studio or mergekit:',
    '',
    '```yaml',
    info.recipeYaml.trimEnd(),
    '```',
    '',
  ].join('\n');
}

/** Adds measured scores to an existing card (its front matter gains `model-index`, its body a table). */
export function withScores(card: string, scores: CardScore[], title?: string): string {
  if (scores.length === 0) return card;
  const { data, body } = parseFrontMatter(card);
  const name = title ?? /^#\s+(.+)$/m.exec(body)?.[1]?.trim() ?? 'merged model';
  const next = { ...data, 'model-index': modelIndex(name, scores) };
  const bodyLines = body.split('\n');
  const recipeAt = bodyLines.findIndex((l) => /^##\s+Recipe/.test(l));
  const table = scoreTable(scores);
  const merged = recipeAt >= 0 ? [...bodyLines.slice(0, recipeAt), ...table, ...bodyLines.slice(recipeAt)] : [...bodyLines, '', ...table];
  return `${frontMatter(next)}${merged.join('\n')}`;
}

/** Scores from `merge-studio eval --json` output (or the studio's TaskScore list). */
export function scoresFromEvalJson(value: unknown): CardScore[] {
  const results = (value as { results?: unknown })?.results;
  if (!Array.isArray(results)) throw new Error("expected the output of 'merge-studio eval --json' (an object with a results list)");
  const out: CardScore[] = [];
  for (const r of results as { task?: unknown; items?: unknown; metrics?: unknown }[]) {
    if (typeof r.task !== 'string' || typeof r.items !== 'number' || !r.metrics || typeof r.metrics !== 'object') throw new Error('each result needs task, items and metrics');
    const task = r.task.replace(/\.jsonl$/, '').replace(/^.*[\\/]/, '');
    for (const [metric, v] of Object.entries(r.metrics as Record<string, unknown>)) {
      if (typeof v === 'number' && metric !== 'tokens') out.push({ task, metric, value: v, items: r.items });
    }
  }
  return out;
}

/** The exported card made ready for the Hub by a caller who knows more than the export did: which
 * inputs are Hub models (`base_model`), their shared license, and the measured scores. */
export function publishCard(card: string, opts: { hubIds?: string[]; licenses?: (string | undefined)[]; scores?: CardScore[] }): string {
  const { data, body } = parseFrontMatter(card);
  const next: Record<string, unknown> = { ...data };
  if (opts.hubIds) {
    delete next.base_model;
    delete next.base_model_relation;
    if (opts.hubIds.length) Object.assign(next, { base_model: [...new Set(opts.hubIds)], base_model_relation: 'merge' });
  }
  const license = opts.licenses ? sharedLicense(opts.licenses.map((license, i) => ({ ref: String(i), license }))) : undefined;
  if (license) next.license = license;
  const out = `${frontMatter(next)}${body}`;
  return opts.scores?.length ? withScores(out, opts.scores) : out;
}
