// A dataset split read lazily from any FileTree (a Hub dataset repo through range requests, a local
// folder): parquet files through hyparquet, which reads the footer and then only the row groups that
// hold the rows asked for; JSON Lines and CSV files are read whole (they have no index to seek by).
// Which files hold a split follows the Hub's layouts: `{config}/{split}-*.parquet` and
// `data/{split}-*.parquet` in a repo's own files, `{config}/{split}/*.parquet` in the parquet
// conversion the Hub keeps at the revision `refs/convert/parquet`.
import { parquetMetadataAsync, parquetReadObjects, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import { MergeStudioError } from '../errors.ts';
import type { ByteSource, FileTree } from '../io/types.ts';
import { throwIfAborted } from '../progress.ts';
import type { Doc } from './definitions.ts';

export interface DatasetSplit {
  /** e.g. `dataset allenai/ai2_arc@main: ARC-Easy/test`. */
  name: string;
  rows: number;
  /** Documents at these row indices, in the order asked. */
  read(indices: readonly number[], signal?: AbortSignal): Promise<Doc[]>;
}

const DATA_EXT = /\.(parquet|jsonl|json|csv)$/;

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The files of a split in a repo listing, sorted as shards are numbered; null when none match.
 * `named` (a task's data files for the split, BenchmarkDef.dataset.files) wins when all are listed. */
export function findSplitFiles(paths: readonly string[], config: string | undefined, split: string, named?: readonly string[]): string[] | null {
  if (named && named.length > 0 && named.every((f) => paths.includes(f))) return [...named];
  const s = escapeRe(split);
  const dirs = config ? [escapeRe(config)] : ['default', 'data', ''];
  if (config) dirs.push('data');
  for (const dir of dirs) {
    const prefix = dir ? `${dir}/` : '';
    const patterns = [
      new RegExp(`^${prefix}${s}(-[^/]*)?\\.(parquet|jsonl|json|csv)$`),
      new RegExp(`^${prefix}${s}/[^/]+\\.parquet$`),
    ];
    for (const re of patterns) {
      const hits = paths.filter((p) => re.test(p)).sort();
      if (hits.length > 0) return hits;
    }
  }
  return null;
}

function asyncBuffer(src: ByteSource, signal?: AbortSignal): AsyncBuffer {
  return {
    byteLength: src.size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const stop = Math.min(end ?? src.size, src.size);
      const bytes = await src.read(start, Math.max(0, stop - start), signal);
      return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? (bytes.buffer as ArrayBuffer) : (bytes.slice().buffer as ArrayBuffer);
    },
  };
}

/** Splits CSV text into records (RFC 4180: quoted fields, doubled quotes, newlines inside quotes). */
export function parseCsv(text: string, file: string): Doc[] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"' && cell === '') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += c;
  }
  if (quoted) throw new MergeStudioError('dataset-invalid', `${file}: a quoted field is never closed`, { file });
  if (cell !== '' || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  const [header, ...body] = rows.filter((r) => !(r.length === 1 && r[0] === ''));
  if (!header) throw new MergeStudioError('dataset-invalid', `${file}: no header row`, { file });
  return body.map((r, i) => {
    if (r.length !== header.length) throw new MergeStudioError('dataset-invalid', `${file}:${i + 2}: ${r.length} fields where the header has ${header.length}`, { file, line: i + 2 });
    return Object.fromEntries(header.map((h, j) => [h, r[j]]));
  });
}

function parseJsonLines(text: string, file: string): Doc[] {
  const trimmed = text.trim();
  if (file.endsWith('.json') && trimmed.startsWith('[')) {
    const v = JSON.parse(trimmed) as unknown;
    if (!Array.isArray(v)) throw new MergeStudioError('dataset-invalid', `${file}: expected a JSON array of objects`, { file });
    return v as Doc[];
  }
  return trimmed.split('\n').filter((l) => l.trim() !== '').map((l, i) => {
    try {
      const o = JSON.parse(l) as unknown;
      if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new Error('expected a JSON object');
      return o as Doc;
    } catch (err) {
      throw new MergeStudioError('dataset-invalid', `${file}:${i + 1}: not a JSON object (${err instanceof Error ? err.message : String(err)})`, { file, line: i + 1 });
    }
  });
}

/** Parquet INT64 columns arrive as BigInt: documents hold plain numbers (as Python ints print). */
function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object' && !(v instanceof Uint8Array) && !(v instanceof Date)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

interface Part {
  path: string;
  first: number;
  rows: number;
  readRange(start: number, end: number, signal?: AbortSignal): Promise<Doc[]>;
}

async function openPart(tree: FileTree, path: string, first: number, signal?: AbortSignal): Promise<Part> {
  const src = await tree.open(path, signal);
  if (path.endsWith('.parquet')) {
    let metadata: FileMetaData;
    try {
      // The footer is usually a few KB: fetch 64 KB from the end first (hyparquet reads more if needed).
      metadata = await parquetMetadataAsync(asyncBuffer(src, signal), { initialFetchSize: 1 << 16 });
    } catch (err) {
      throw new MergeStudioError('dataset-invalid', `${tree.name}/${path}: not a readable parquet file (${err instanceof Error ? err.message : String(err)})`, { file: path });
    }
    const rows = Number(metadata.num_rows);
    return {
      path,
      first,
      rows,
      async readRange(start, end, sig) {
        const docs = ((await parquetReadObjects({ file: asyncBuffer(src, sig), metadata, rowStart: start, rowEnd: end })) as Doc[]).map((d) => plain(d) as Doc);
        if (docs.length !== end - start) throw new MergeStudioError('dataset-invalid', `${tree.name}/${path}: asked rows ${start}-${end}, got ${docs.length}`, { file: path });
        return docs;
      },
    };
  }
  const text = new TextDecoder().decode(await src.read(0, src.size, signal));
  const docs = path.endsWith('.csv') ? parseCsv(text, `${tree.name}/${path}`) : parseJsonLines(text, `${tree.name}/${path}`);
  return { path, first, rows: docs.length, readRange: async (start, end) => docs.slice(start, end) };
}

/** Opens the split held by `files` (in shard order) of a tree. */
export async function openSplit(tree: FileTree, files: readonly string[], label: string, signal?: AbortSignal): Promise<DatasetSplit> {
  const parts: Part[] = [];
  let total = 0;
  for (const f of files) {
    throwIfAborted(signal);
    if (!DATA_EXT.test(f)) throw new MergeStudioError('dataset-invalid', `${tree.name}/${f}: not a parquet, JSON Lines or CSV file`, { file: f });
    const part = await openPart(tree, f, total, signal);
    parts.push(part);
    total += part.rows;
  }
  return {
    name: label,
    rows: total,
    async read(indices, sig) {
      const out: Doc[] = new Array(indices.length);
      // Group the wanted rows by file, then read each file's rows in contiguous runs.
      const wanted = indices.map((row, at) => ({ row, at })).sort((a, b) => a.row - b.row);
      let k = 0;
      while (k < wanted.length) {
        throwIfAborted(sig ?? signal);
        const { row } = wanted[k];
        if (!Number.isInteger(row) || row < 0 || row >= total) throw new MergeStudioError('dataset-row-range', `${label}: row ${row} is outside the split's ${total} rows`, { row, rows: total });
        const part = parts.find((p) => row >= p.first && row < p.first + p.rows)!;
        let j = k + 1;
        while (j < wanted.length && wanted[j].row <= wanted[j - 1].row + 1 && wanted[j].row < part.first + part.rows) j++;
        const start = row - part.first;
        const end = wanted[j - 1].row - part.first + 1;
        const docs = await part.readRange(start, end, sig ?? signal);
        for (let m = k; m < j; m++) out[wanted[m].at] = docs[wanted[m].row - part.first - start];
        k = j;
      }
      return out;
    },
  };
}
