// A model as a set of safetensors files: one file, or shards listed by model.safetensors.index.json.
// Only headers are read here; tensor data stays in the sources until someone asks for it.
import { MergeStudioError } from '../errors.ts';
import type { FileTree } from '../io/types.ts';
import { throwIfAborted, type ProgressCallback } from '../progress.ts';
import { readSafetensorsHeader, type TensorInfo } from './header.ts';

export const INDEX_FILE = 'model.safetensors.index.json';

export interface SafetensorsModel {
  /** Every tensor of the model, shard by shard in file order. */
  tensors: Map<string, TensorInfo>;
  /** The safetensors files read, as paths in the tree. */
  files: string[];
  /** `__metadata__` of the shards (the first shard wins on conflicting keys). */
  metadata: Record<string, string>;
  /** The index's own `metadata` object (e.g. total_size), when there is an index. */
  indexMetadata?: Record<string, unknown>;
  /** Things worth telling the user that do not stop loading (tensors a shard has but the index omits). */
  warnings: string[];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

async function readIndex(tree: FileTree, signal?: AbortSignal): Promise<{ weightMap: Map<string, string>; metadata?: Record<string, unknown> }> {
  const where = `${tree.name}/${INDEX_FILE}`;
  const source = await tree.open(INDEX_FILE, signal);
  const bytes = await source.read(0, source.size, signal);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new MergeStudioError('safetensors-index-invalid', `${where}: not valid UTF-8 JSON (${err instanceof Error ? err.message : String(err)})`, { file: where });
  }
  if (!isPlainObject(parsed) || !isPlainObject(parsed.weight_map)) {
    throw new MergeStudioError('safetensors-index-invalid', `${where}: expected an object with a 'weight_map' object`, { file: where });
  }
  const weightMap = new Map<string, string>();
  for (const [tensor, shard] of Object.entries(parsed.weight_map)) {
    if (typeof shard !== 'string' || shard === '') {
      throw new MergeStudioError('safetensors-index-invalid', `${where}: weight_map entry '${tensor}' must name a file, found ${JSON.stringify(shard)}`, { file: where, tensor });
    }
    weightMap.set(tensor, shard);
  }
  return { weightMap, metadata: isPlainObject(parsed.metadata) ? parsed.metadata : undefined };
}

/** Opens a model folder/repo: reads every shard's header and cross-checks the index. */
export async function openSafetensorsModel(tree: FileTree, signal?: AbortSignal, onProgress?: ProgressCallback): Promise<SafetensorsModel> {
  throwIfAborted(signal);
  const listed = await tree.list(signal);
  const present = new Set(listed);
  const hasIndex = present.has(INDEX_FILE);
  const index = hasIndex ? await readIndex(tree, signal) : undefined;
  const files = index
    ? [...new Set(index.weightMap.values())].sort()
    : listed.filter((p) => !p.includes('/') && p.endsWith('.safetensors')).sort();
  if (files.length === 0) {
    throw new MergeStudioError('safetensors-no-files', `${tree.name}: no .safetensors files and no ${INDEX_FILE}`, { file: tree.name });
  }
  for (const f of files) {
    if (!present.has(f)) {
      const users = [...index!.weightMap].filter(([, s]) => s === f).map(([t]) => t);
      throw new MergeStudioError('safetensors-shard-missing', `${tree.name}: ${INDEX_FILE} lists shard '${f}' (for ${users.length} tensors, e.g. '${users[0]}') but the file is absent`, { file: f, tensor: users[0] });
    }
  }

  const tensors = new Map<string, TensorInfo>();
  const metadata: Record<string, string> = {};
  const warnings: string[] = [];
  for (const [i, f] of files.entries()) {
    throwIfAborted(signal);
    onProgress?.({ phase: 'headers', done: i, total: files.length, message: f });
    const source = await tree.open(f, signal);
    const header = await readSafetensorsHeader(source, signal);
    for (const [k, v] of Object.entries(header.metadata)) if (!(k in metadata)) metadata[k] = v;
    for (const [name, info] of header.tensors) {
      const other = tensors.get(name);
      if (other) {
        if (index && index.weightMap.get(name) !== f) continue; // the index decides which copy counts
        throw new MergeStudioError('safetensors-duplicate-tensor', `${tree.name}: tensor '${name}' is in both '${other.file}' and '${f}'`, { tensor: name, file: f });
      }
      if (index && index.weightMap.get(name) !== f) {
        if (!index.weightMap.has(name)) warnings.push(`${f}: tensor '${name}' is not in ${INDEX_FILE}; ignored`);
        continue;
      }
      tensors.set(name, { ...info, file: f });
    }
  }
  if (index) {
    for (const [name, shard] of index.weightMap) {
      if (!tensors.has(name)) {
        throw new MergeStudioError('safetensors-index-mismatch', `${tree.name}: ${INDEX_FILE} puts tensor '${name}' in '${shard}', but that shard has no such tensor`, { tensor: name, file: shard });
      }
    }
  }
  onProgress?.({ phase: 'headers', done: files.length, total: files.length });
  return { tensors, files, metadata, indexMetadata: index?.metadata, warnings };
}
