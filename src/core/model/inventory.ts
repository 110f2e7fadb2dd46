// The compatibility inventory: what each model is (family, layers, each tensor's layer and module,
// parameters and bytes per dtype) and, across the chosen models, what stands in the way of
// merging them (architecture, missing/extra tensors, shapes, vocabulary, tokenizer). Built from
// config.json, the safetensors headers and the tokenizer files only; no weights are read.
import { dtypeBits, type DType } from '../dtype.ts';
import { MergeStudioError } from '../errors.ts';
import { throwIfAborted } from '../progress.ts';
import { weightTemplate, type ModuleKind } from './architecture.ts';
import type { ModelHandle } from './handle.ts';

export interface InventoryTensor {
  name: string;
  dtype: DType;
  shape: number[];
  layer: number | null;
  module: ModuleKind;
}

export interface DtypeTotals {
  dtype: DType;
  tensors: number;
  parameters: number;
  bytes: number;
}

export interface TokenizerInfo {
  /** Tokenizer files present. */
  files: string[];
  /** The file identity is taken from: tokenizer.json, else tokenizer.model; null without either. */
  file: string | null;
  /** Content ids of that file: its sha256 and/or its git blob id. A Hub repo's listing gives one of
   * them without a download; a local file gives both. Equal ids of one kind = identical files. */
  ids: { sha256?: string; gitSha1?: string };
  /** Both content ids, reading the file when the listing gave only one. */
  allIds(): Promise<{ sha256?: string; gitSha1?: string }>;
  /** token -> id from tokenizer.json (model vocab + added tokens); read only when tokenizers differ. */
  vocab(): Promise<Map<string, number> | null>;
}

export interface ModelInventory {
  id: string;
  /** Our family name ('llama', 'qwen2', ..., 'generic'). */
  architecture: string;
  /** config.json's architectures[0] (e.g. 'LlamaForCausalLM'), else its model_type. */
  configArchitecture: string;
  knownArchitecture: boolean;
  numLayers: number;
  hiddenSize: number | null;
  /** config.vocab_size, else the embedding's row count. */
  vocabSize: number | null;
  tiedEmbeddings: boolean;
  parameters: number;
  bytes: number;
  byDtype: DtypeTotals[];
  byModule: Record<ModuleKind, { tensors: number; parameters: number }>;
  tensors: InventoryTensor[];
  tokenizer: TokenizerInfo;
  notices: string[];
}

export interface ShapeMismatch {
  tensor: string;
  module: ModuleKind;
  /** Shape per model id, for the models that have the tensor. */
  shapes: Record<string, number[]>;
  /** Differs only in the vocabulary dimension (rows of embeddings / lm_head). */
  vocabOnly: boolean;
}

export interface CompatibilityReport {
  models: ModelInventory[];
  /** The model others are compared to (the base model: the first given). */
  reference: string;
  sameArchitecture: boolean;
  sameLayerCount: boolean;
  /** Per other model: tensors of the reference it lacks, and tensors it has that the reference lacks. */
  tensorSets: { model: string; missing: string[]; extra: string[]; tiedHead: boolean }[];
  shapeMismatches: ShapeMismatch[];
  /** `tokensDiffer`: the same id means different text somewhere; the merge then builds the union
   * vocabulary unless the recipe's tokenizer_source says otherwise. `choices`: the values of
   * tokenizer_source that make sense for these models. */
  vocab: { sizes: Record<string, number | null>; same: boolean; tokensDiffer: boolean; choices: string[]; action: string };
  tokenizer: { identical: boolean; groups: string[][]; note: string };
  /** Things that stop a plain merge. */
  problems: string[];
  /** Things the merge adjusts by itself, said up front. */
  adjustments: string[];
  verdict: 'compatible' | 'compatible-with-adjustments' | 'incompatible';
}

const MODULES: ModuleKind[] = ['embedding', 'attention', 'mlp', 'norm', 'head', 'other'];

function elements(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

async function digestHex(algorithm: 'SHA-256' | 'SHA-1', bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest(algorithm, bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** The id git gives a file's content: sha1 of "blob <size>\0" + content. */
function gitBlobSha1(bytes: Uint8Array): Promise<string> {
  const prefix = new TextEncoder().encode(`blob ${bytes.byteLength}\0`);
  const all = new Uint8Array(prefix.byteLength + bytes.byteLength);
  all.set(prefix);
  all.set(bytes, prefix.byteLength);
  return digestHex('SHA-1', all);
}

/** A tree that knows its files' content ids without reading them (a Hub repo's listing). */
interface ListedTree {
  files: readonly { path: string; etag: string; lfs: boolean }[];
}

function listedIds(tree: unknown, path: string): TokenizerInfo['ids'] | null {
  const files = (tree as Partial<ListedTree>).files;
  const entry = Array.isArray(files) ? files.find((f) => f.path === path) : undefined;
  if (!entry) return null;
  if (entry.lfs && /^[0-9a-f]{64}$/.test(entry.etag)) return { sha256: entry.etag };
  if (!entry.lfs && /^[0-9a-f]{40}$/.test(entry.etag)) return { gitSha1: entry.etag };
  return null;
}

/** token -> id from a tokenizer.json: BPE/WordPiece vocab objects, Unigram [piece, score] lists, added tokens. */
function vocabOf(json: unknown): Map<string, number> | null {
  if (typeof json !== 'object' || json === null) return null;
  const { model, added_tokens: added } = json as { model?: { vocab?: unknown }; added_tokens?: unknown };
  const out = new Map<string, number>();
  const vocab = model?.vocab;
  if (Array.isArray(vocab)) vocab.forEach((entry, id) => Array.isArray(entry) && typeof entry[0] === 'string' && out.set(entry[0], id));
  else if (typeof vocab === 'object' && vocab !== null) for (const [tok, id] of Object.entries(vocab)) if (typeof id === 'number') out.set(tok, id);
  else return null;
  if (Array.isArray(added)) for (const a of added) if (a && typeof a.content === 'string' && typeof a.id === 'number') out.set(a.content, a.id);
  return out;
}

async function tokenizerInfo(handle: ModelHandle, signal?: AbortSignal): Promise<TokenizerInfo> {
  const present = await handle.tree.list(signal);
  const file = ['tokenizer.json', 'tokenizer.model'].find((f) => present.includes(f)) ?? null;
  if (!file) return { files: handle.tokenizerFiles, file, ids: {}, allIds: async () => ({}), vocab: async () => null };
  let bytesP: Promise<Uint8Array> | null = null;
  const bytes = () => (bytesP ??= handle.tree.open(file, signal).then((src) => src.read(0, src.size, signal)));
  let allIdsP: Promise<{ sha256: string; gitSha1: string }> | null = null;
  const allIds = () => (allIdsP ??= bytes().then(async (b) => ({ sha256: await digestHex('SHA-256', b), gitSha1: await gitBlobSha1(b) })));
  const ids = listedIds(handle.tree, file) ?? (await allIds());
  let vocabP: Promise<Map<string, number> | null> | null = null;
  const vocab = () =>
    (vocabP ??= file !== 'tokenizer.json'
      ? Promise.resolve(null)
      : bytes().then((b) => {
          try {
            return vocabOf(JSON.parse(new TextDecoder().decode(b)));
          } catch {
            return null;
          }
        }));
  return { files: handle.tokenizerFiles, file, ids, allIds, vocab };
}

/** Same content when a content id both sides know agrees; null when they share no kind of id. */
function sameIds(a: TokenizerInfo['ids'], b: TokenizerInfo['ids']): boolean | null {
  if (a.sha256 && b.sha256) return a.sha256 === b.sha256;
  if (a.gitSha1 && b.gitSha1) return a.gitSha1 === b.gitSha1;
  return null;
}

async function sameTokenizerFile(a: TokenizerInfo, b: TokenizerInfo): Promise<boolean> {
  if (!a.file || !b.file || a.file !== b.file) return false;
  // Two Hub repos, one storing the file in LFS (sha256) and one in git (sha1): read both.
  return sameIds(a.ids, b.ids) ?? sameIds(await a.allIds(), await b.allIds()) ?? false;
}

/** One model's inventory. Reads at most its tokenizer file (none for a Hub repo, whose listing
 * carries the file's content id). */
export async function modelInventory(handle: ModelHandle, signal?: AbortSignal): Promise<ModelInventory> {
  throwIfAborted(signal);
  const tensors: InventoryTensor[] = [];
  const dtypes = new Map<DType, DtypeTotals>();
  const byModule = Object.fromEntries(MODULES.map((m) => [m, { tensors: 0, parameters: 0 }])) as ModelInventory['byModule'];
  let parameters = 0;
  let bytes = 0;
  for (const t of handle.tensors.values()) {
    const role = handle.roleOf(t.name);
    tensors.push({ name: t.name, dtype: t.dtype, shape: t.shape, layer: role.layer, module: role.module });
    const n = elements(t.shape);
    parameters += n;
    bytes += t.bytes;
    const d = dtypes.get(t.dtype) ?? { dtype: t.dtype, tensors: 0, parameters: 0, bytes: 0 };
    d.tensors += 1;
    d.parameters += n;
    d.bytes += t.bytes;
    dtypes.set(t.dtype, d);
    byModule[role.module].tensors += 1;
    byModule[role.module].parameters += n;
  }
  const cfg = handle.config;
  const embed = tensors.find((t) => t.module === 'embedding' && t.shape.length === 2);
  const archs = Array.isArray(cfg.architectures) ? cfg.architectures : [];
  return {
    id: handle.id,
    architecture: handle.architecture.name,
    configArchitecture: String(archs[0] ?? cfg.model_type ?? 'unknown'),
    knownArchitecture: handle.architecture.known,
    numLayers: handle.numLayers,
    hiddenSize: num(cfg.hidden_size) ?? embed?.shape[1] ?? null,
    vocabSize: num(cfg.vocab_size) ?? embed?.shape[0] ?? null,
    tiedEmbeddings: cfg.tie_word_embeddings === true || (!!embed && !tensors.some((t) => t.module === 'head')),
    parameters,
    bytes,
    byDtype: [...dtypes.values()].sort((a, b) => b.bytes - a.bytes),
    byModule,
    tensors,
    tokenizer: await tokenizerInfo(handle, signal),
    notices: handle.notices,
  };
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function list(names: string[], max = 4): string {
  return names.length <= max ? names.map((n) => `'${n}'`).join(', ') : `${names.slice(0, max).map((n) => `'${n}'`).join(', ')} and ${names.length - max} more`;
}

/** Compares several models (the first is the reference, normally the base model). */
export async function compatibilityReport(handles: ModelHandle[], signal?: AbortSignal): Promise<CompatibilityReport> {
  const models: ModelInventory[] = [];
  for (const h of handles) models.push(await modelInventory(h, signal));
  const ref = models[0];
  const refHandle = handles[0];
  const problems: string[] = [];
  const adjustments: string[] = [];

  const families = new Map<string, string[]>();
  for (const m of models) families.set(m.configArchitecture, [...(families.get(m.configArchitecture) ?? []), m.id]);
  const sameArchitecture = families.size === 1;
  if (!sameArchitecture) {
    problems.push(`different architectures: ${[...families].map(([a, ids]) => `${a} (${ids.join(', ')})`).join(' vs ')}; tensors of different architectures do not correspond, so these models cannot be merged`);
  }
  const sameLayerCount = models.every((m) => m.numLayers === ref.numLayers);
  if (!sameLayerCount) {
    // Layer ranges ('slices') only help models of one architecture.
    problems.push(`different layer counts: ${models.map((m) => `${m.id} has ${m.numLayers}`).join(', ')}${sameArchitecture ? "; only layer ranges of equal length can be merged (recipe 'slices')" : ''}`);
  }

  const refNames = new Set(ref.tensors.map((t) => t.name));
  const tensorSets = models.slice(1).map((m, i) => {
    const names = new Set(m.tensors.map((t) => t.name));
    let missing = [...refNames].filter((n) => !names.has(n));
    let extra = [...names].filter((n) => !refNames.has(n));
    // A tied lm_head is absent on purpose: the merge uses the embedding in its place.
    const handle = handles[i + 1];
    const tiedAway = (name: string, h: ModelHandle) => {
      const t = weightTemplate(h.architecture, name);
      return !!t?.optional && !!t.tiedTo && h.tensors.has(t.tiedTo);
    };
    const tiedHead = missing.some((n) => tiedAway(n, handle)) || extra.some((n) => tiedAway(n, refHandle));
    missing = missing.filter((n) => !tiedAway(n, handle));
    extra = extra.filter((n) => !tiedAway(n, refHandle));
    // Layers one model has and the other lacks are reported once, as a layer-count difference.
    const shared = Math.min(m.numLayers, ref.numLayers);
    const inSharedLayers = (n: string) => (handle.layerOf(n) ?? refHandle.layerOf(n) ?? -1) < shared;
    missing = missing.filter(inSharedLayers);
    extra = extra.filter(inSharedLayers);
    return { model: m.id, missing, extra, tiedHead };
  });
  for (const s of tensorSets) {
    if (s.missing.length) problems.push(`${s.model} lacks ${s.missing.length} tensor(s) of ${ref.id}: ${list(s.missing)}`);
    if (s.extra.length) problems.push(`${s.model} has ${s.extra.length} tensor(s) that ${ref.id} lacks: ${list(s.extra)}`);
    if (s.tiedHead) adjustments.push(`${s.model} and ${ref.id} differ in tying lm_head to the embedding: the tied model's embedding stands in for its lm_head`);
  }

  const shapeMismatches: ShapeMismatch[] = [];
  for (const t of ref.tensors) {
    const shapes: Record<string, number[]> = {};
    for (const m of models) {
      const other = m.tensors.find((x) => x.name === t.name);
      if (other) shapes[m.id] = other.shape;
    }
    const all = Object.values(shapes);
    if (all.every((s) => sameShape(s, t.shape))) continue;
    const vocabOnly = (t.module === 'embedding' || t.module === 'head') && all.every((s) => s.length === 2 && s[1] === t.shape[1]);
    shapeMismatches.push({ tensor: t.name, module: t.module, shapes, vocabOnly });
  }
  const hard = shapeMismatches.filter((s) => !s.vocabOnly);
  if (hard.length) {
    const first = hard[0];
    problems.push(`${hard.length} tensor(s) differ in shape, e.g. '${first.tensor}': ${Object.entries(first.shapes).map(([id, s]) => `${id} [${s.join(', ')}]`).join(', ')}`);
  }

  // Tokenizers: identical files (by content id), or at least the same token -> id table?
  const groups: { info: TokenizerInfo; ids: string[] }[] = [];
  for (const m of models) {
    let group: (typeof groups)[number] | undefined;
    for (const g of groups) {
      if (await sameTokenizerFile(g.info, m.tokenizer)) {
        group = g;
        break;
      }
    }
    if (group) group.ids.push(m.id);
    else groups.push({ info: m.tokenizer, ids: [m.id] });
  }
  let tokensDiffer = false;
  const missingTokenizer = models.filter((m) => m.tokenizer.file === null).map((m) => m.id);
  const identical = groups.length === 1 && missingTokenizer.length === 0;
  let note: string;
  if (identical) note = 'identical tokenizer files in every model';
  else if (missingTokenizer.length) note = `no tokenizer.json or tokenizer.model in ${missingTokenizer.join(', ')}: tokenizer identity cannot be checked`;
  else {
    const refVocab = await ref.tokenizer.vocab();
    const diffs: string[] = [];
    for (const m of models.slice(1)) {
      if (groups.find((g) => g.ids.includes(m.id))!.ids.includes(ref.id)) continue;
      const v = await m.tokenizer.vocab();
      if (!refVocab || !v) {
        diffs.push(`${m.id}: tokenizer differs (vocabulary not comparable)`);
        continue;
      }
      let differing = 0;
      for (const [tok, id] of refVocab) if (v.get(tok) !== id) differing++;
      for (const tok of v.keys()) if (!refVocab.has(tok)) differing++;
      diffs.push(differing === 0 ? `${m.id}: same tokens and ids, other tokenizer settings differ` : `${m.id}: ${differing} tokens differ in id or presence`);
    }
    note = `tokenizers differ: ${diffs.join('; ') || 'between the other models'}`;
    tokensDiffer = diffs.some((d) => d.includes('tokens differ'));
  }

  const sizes = Object.fromEntries(models.map((m) => [m.id, m.vocabSize]));
  const known = models.map((m) => m.vocabSize).filter((v): v is number => v !== null);
  const sameVocab = known.every((v) => v === known[0]);
  let action = 'same vocabulary size: embeddings and lm_head merge row for row';
  const fits = sameArchitecture && hard.length === 0;
  if (tokensDiffer) {
    // mergekit's tokenizer_source: union (src/core/tokenizer/README.md); the plan does this unless the recipe says otherwise.
    action = `vocabularies differ (${models.map((m) => `${m.id}: ${m.vocabSize ?? '?'}`).join(', ')}): the merge builds the union vocabulary (recipe 'tokenizer_source: union', mergekit's rules: each token's row comes from the models that have it, a model lacking a token takes the base's row, the only owner's row or the mean of the owners'), and writes the merged tokenizer; 'tokenizer_source: base' or a model name keeps one model's vocabulary instead`;
    if (fits) adjustments.push(action);
  } else if (!sameVocab) {
    const smallest = Math.min(...known);
    const owner = models.find((m) => m.vocabSize === smallest)!.id;
    action = `vocabulary sizes differ (${models.map((m) => `${m.id}: ${m.vocabSize ?? '?'}`).join(', ')}) with the same tokens: the merge cuts embed_tokens and lm_head to the first ${smallest} rows (the size of ${owner}), as mergekit does without a tokenizer setting; 'tokenizer_source: union' or 'base' sizes them to the vocabulary instead`;
    if (fits) adjustments.push(action);
  }

  const verdict = problems.length ? 'incompatible' : adjustments.length ? 'compatible-with-adjustments' : 'compatible';
  return { models, reference: ref.id, sameArchitecture, sameLayerCount, tensorSets, shapeMismatches, vocab: { sizes, same: sameVocab, tokensDiffer, choices: tokensDiffer || !sameVocab ? [...new Set(['union', 'base', ...models.map((m) => m.id)])] : [], action }, tokenizer: { identical, groups: groups.map((g) => g.ids), note }, problems, adjustments, verdict };
}

function humanCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

function humanSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[u]}`;
}

/** One paragraph per model. */
export function formatModelInventory(m: ModelInventory): string {
  const modules = MODULES.filter((k) => m.byModule[k].tensors > 0).map((k) => `${k} ${m.byModule[k].tensors} (${humanCount(m.byModule[k].parameters)})`).join(', ');
  const dtypes = m.byDtype.map((d) => `${d.dtype} ${humanCount(d.parameters)} params, ${humanSize(d.bytes)} (${dtypeBits(d.dtype)}-bit)`).join('; ');
  return [
    `${m.id}: ${m.configArchitecture} (${m.architecture}${m.knownArchitecture ? '' : ', unknown family'}), ${m.numLayers} layers, hidden ${m.hiddenSize ?? '?'}, vocabulary ${m.vocabSize ?? '?'}${m.tiedEmbeddings ? ', lm_head tied to the embedding' : ''}`,
    `  ${humanCount(m.parameters)} parameters in ${m.tensors.length} tensors, ${humanSize(m.bytes)}: ${dtypes}`,
    `  modules: ${modules}`,
    `  tokenizer: ${m.tokenizer.files.length ? m.tokenizer.files.join(', ') : 'none'}${m.tokenizer.ids.sha256 ? ` (sha256 ${m.tokenizer.ids.sha256.slice(0, 12)})` : m.tokenizer.ids.gitSha1 ? ` (git ${m.tokenizer.ids.gitSha1.slice(0, 12)})` : ''}`,
    ...m.notices.map((n) => `  note: ${n}`),
  ].join('\n');
}

/** The readable report (CLI `inspect A B ...`, and the studio's compatibility panel). */
export function formatCompatibilityReport(r: CompatibilityReport): string {
  const verdict = { compatible: 'COMPATIBLE', 'compatible-with-adjustments': 'COMPATIBLE, with adjustments', incompatible: 'NOT COMPATIBLE' }[r.verdict];
  const lines = [...r.models.map(formatModelInventory), '', `Compatibility (reference: ${r.reference}): ${verdict}`];
  lines.push(`  architecture: ${r.sameArchitecture ? `all ${r.models[0].configArchitecture}` : 'different (see below)'}`);
  lines.push(`  layers: ${r.sameLayerCount ? `all ${r.models[0].numLayers}` : r.models.map((m) => `${m.id} ${m.numLayers}`).join(', ')}`);
  for (const s of r.tensorSets) {
    lines.push(`  tensors of ${s.model}: ${s.missing.length || s.extra.length ? `${s.missing.length} missing, ${s.extra.length} extra` : 'same names'}${s.tiedHead ? ' (tied lm_head accounted for)' : ''}`);
  }
  lines.push(`  shapes: ${r.shapeMismatches.length ? `${r.shapeMismatches.length} tensor(s) differ` : 'all equal'}`);
  for (const s of r.shapeMismatches.slice(0, 8)) {
    lines.push(`    ${s.tensor}: ${Object.entries(s.shapes).map(([id, sh]) => `${id} [${sh.join(', ')}]`).join(', ')}${s.vocabOnly ? ' (vocabulary rows only)' : ''}`);
  }
  if (r.shapeMismatches.length > 8) lines.push(`    ... and ${r.shapeMismatches.length - 8} more`);
  lines.push(`  vocabulary: ${r.vocab.action}`);
  lines.push(`  tokenizer: ${r.tokenizer.note}`);
  for (const p of r.problems) lines.push(`  problem: ${p}`);
  for (const a of r.adjustments) lines.push(`  adjustment: ${a}`);
  return lines.join('\n');
}

/** A JSON-friendly copy (maps replaced; vocabularies left out). */
export function compatibilityReportJson(r: CompatibilityReport): unknown {
  return { ...r, models: r.models.map((m) => ({ ...m, tokenizer: { files: m.tokenizer.files, file: m.tokenizer.file, ids: m.tokenizer.ids } })) };
}

/** The report's problems as one typed error (null when there are none), for callers that must
 * refuse before planning, e.g. the studio's "Merge" button or a CLI pre-check. */
export function incompatibilityError(r: CompatibilityReport): MergeStudioError | null {
  if (r.problems.length === 0) return null;
  const ids = r.models.map((m) => m.id);
  return new MergeStudioError('models-incompatible', `${ids.join(', ')} cannot be merged:\n${r.problems.map((p) => `  - ${p}`).join('\n')}`, { models: ids, problems: r.problems });
}
