// `merge-studio inspect MODEL...`: the tensor table of one safetensors file, model folder or Hub
// repo; for several models, each one's inventory and the compatibility report (core/model/inventory).
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { dtypeBits, type DType } from '../core/dtype.ts';
import { MergeStudioError } from '../core/errors.ts';
import { nodeFileSource, nodeFolderTree } from '../core/io/node-file.ts';
import { looksLikeHubRef } from '../core/hub/repo-id.ts';
import { openModel } from '../core/model/handle.ts';
import { compatibilityReport, compatibilityReportJson, formatCompatibilityReport } from '../core/model/inventory.ts';
import { INDEX_FILE, openSafetensorsModel, readSafetensorsHeader, type TensorInfo } from '../core/safetensors/index.ts';
import { downloadProgressPrinter, parseSourceFlags, resolveModelRef, SOURCE_FLAGS_HELP, type SourceOptions } from './sources.ts';
import { escapeControl } from '../core/text.ts';

export interface InspectedModel {
  /** What the user named (a file or a folder). */
  path: string;
  tensors: Map<string, TensorInfo>;
  files: string[];
  metadata: Record<string, string>;
  warnings: string[];
}

/** Opens a single .safetensors file, an index file, or a model folder. */
export async function loadInspectTarget(path: string, signal?: AbortSignal): Promise<InspectedModel> {
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch {
    throw new MergeStudioError('file-not-found', `${path}: no such file or folder`, { file: path });
  }
  if (!isDir && basename(path) === INDEX_FILE) {
    path = dirname(path);
    isDir = true;
  }
  if (isDir) {
    const model = await openSafetensorsModel(nodeFolderTree(path), signal);
    return { path, tensors: model.tensors, files: model.files, metadata: model.metadata, warnings: model.warnings };
  }
  const header = await readSafetensorsHeader(await nodeFileSource(path), signal);
  return { path, tensors: header.tensors, files: [basename(path)], metadata: header.metadata, warnings: [] };
}

export function elementCount(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** 1234567 -> '1,234,567'. */
export function groupDigits(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Bytes in binary units: 1016 KiB, 12.3 MiB, 4.56 GiB. */
export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let u = 0;
  let v = n;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[u]}`;
}

function renderTable(header: string[], rows: string[][], rightAligned: Set<number>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** The tensor table (name, dtype, shape, bytes; a file column when there are shards) and a totals line. */
export function formatTensorTable(tensors: Iterable<TensorInfo>, opts: { showFile?: boolean } = {}): string {
  const list = [...tensors];
  const header = ['name', 'dtype', 'shape', 'bytes', ...(opts.showFile ? ['file'] : [])];
  const rows = list.map((t) => [t.name, t.dtype, `[${t.shape.join(', ')}]`, groupDigits(t.bytes), ...(opts.showFile ? [t.file] : [])]);
  let params = 0;
  let bytes = 0;
  const byDtype = new Map<DType, number>();
  for (const t of list) {
    params += elementCount(t.shape);
    bytes += t.bytes;
    byDtype.set(t.dtype, (byDtype.get(t.dtype) ?? 0) + 1);
  }
  const dtypes = [...byDtype].sort((a, b) => b[1] - a[1]).map(([d, n]) => `${d} x${n}`).join(', ');
  const totals = `total: ${groupDigits(list.length)} tensors, ${groupDigits(params)} parameters, ${groupDigits(bytes)} bytes (${humanBytes(bytes)})${dtypes ? `; ${dtypes}` : ''}`;
  return `${renderTable(header, rows, new Set([3]))}\n${totals}`;
}

/** A JSON summary for scripts (`--json`). */
export function tensorSummaryJson(model: InspectedModel): unknown {
  return {
    path: model.path,
    files: model.files,
    metadata: model.metadata,
    tensors: [...model.tensors.values()].map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: t.bytes, bits: dtypeBits(t.dtype), file: t.file })),
  };
}

const USAGE = `usage: merge-studio inspect [--json] [source options] MODEL [MODEL...]
  MODEL  a .safetensors file, a model.safetensors.index.json, a model folder, or a Hub id (org/name[@revision])
  One model: its tensor table. Several: each model's inventory and their compatibility report,
  compared with the first (the base model). Only headers, configs and tokenizer files are read.
${SOURCE_FLAGS_HELP}
`;

/** A Hub id's tensor table: headers read by range requests through the Hub source. */
async function loadHubTarget(ref: string, sources: SourceOptions): Promise<InspectedModel> {
  const tree = await resolveModelRef(ref, sources);
  const model = await openSafetensorsModel(tree, sources.signal);
  return { path: tree.name, tensors: model.tensors, files: model.files, metadata: model.metadata, warnings: model.warnings };
}

async function runCompatibility(refs: string[], sources: SourceOptions, json: boolean): Promise<number> {
  const handles = [];
  for (const ref of refs) handles.push(await openModel(await resolveModelRef(ref, sources), sources.signal, ref));
  const report = await compatibilityReport(handles, sources.signal);
  process.stdout.write(json ? `${JSON.stringify(compatibilityReportJson(report), null, 2)}\n` : `${formatCompatibilityReport(report)}\n`);
  for (const h of handles) for (const n of h.notices) process.stderr.write(`note: ${n}\n`);
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  let parsed: ReturnType<typeof parseSourceFlags>;
  try {
    parsed = parseSourceFlags(argv);
  } catch (err) {
    process.stderr.write(`merge-studio inspect: ${escapeControl(err instanceof Error ? err.message : String(err))}\n${USAGE}`);
    return 2;
  }
  const sources: SourceOptions = { ...parsed.options, onProgress: downloadProgressPrinter() };
  const json = parsed.rest.includes('--json');
  const paths = parsed.rest.filter((a) => a !== '--json');
  const unknown = paths.find((a) => a.startsWith('-'));
  if (paths.length === 0 || unknown) {
    process.stderr.write(`merge-studio inspect: ${unknown ? `unknown option '${unknown}'` : 'no model given'}\n${USAGE}`);
    return 2;
  }
  let model: InspectedModel;
  try {
    if (paths.length > 1) return await runCompatibility(paths, sources, json);
    const local = await stat(paths[0]).then(() => true, () => false);
    model = local || !looksLikeHubRef(paths[0]) ? await loadInspectTarget(paths[0]) : await loadHubTarget(paths[0], sources);
  } catch (err) {
    if (!(err instanceof MergeStudioError)) throw err;
    process.stderr.write(`merge-studio inspect: ${escapeControl(err.message)} [${err.code}]\n`);
    return 1;
  }
  if (json) {
    process.stdout.write(`${JSON.stringify(tensorSummaryJson(model), null, 2)}\n`);
    return 0;
  }
  const fileNote = model.files.length === 1 ? model.files[0] : `${model.files.length} shards`;
  process.stdout.write(`${model.path} (${fileNote})\n`);
  const meta = Object.entries(model.metadata);
  if (meta.length > 0) process.stdout.write(`metadata: ${meta.map(([k, v]) => `${k}=${v}`).join(', ')}\n`);
  process.stdout.write(`${formatTensorTable(model.tensors.values(), { showFile: model.files.length > 1 })}\n`);
  for (const w of model.warnings) process.stderr.write(`warning: ${w}\n`);
  return 0;
}
