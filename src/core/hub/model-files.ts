// Checks on a model's file list that explain, before any weights are read, why a repo or folder
// cannot be loaded: no safetensors at all (only pickles), or an index naming absent shards.
import { MergeStudioError } from '../errors.ts';
import type { FileTree } from '../io/types.ts';

export const SAFETENSORS_INDEX = 'model.safetensors.index.json';
const OTHER_WEIGHT_FORMATS = [/\.bin$/, /\.pt$/, /\.pth$/, /\.ckpt$/, /\.gguf$/, /\.h5$/, /\.msgpack$/, /\.onnx$/];

/** `codePrefix` is 'hub' for Hub repos and 'model' for local folders, so messages and codes say
 * which kind of source failed. */
export function checkHasSafetensors(treeName: string, paths: readonly string[], codePrefix: 'hub' | 'model'): void {
  const top = paths.filter((p) => !p.includes('/'));
  if (top.some((p) => p.endsWith('.safetensors') || p === SAFETENSORS_INDEX)) return;
  const others = paths.filter((p) => OTHER_WEIGHT_FORMATS.some((re) => re.test(p)));
  const nested = paths.filter((p) => p.endsWith('.safetensors'));
  if (nested.length) {
    throw new MergeStudioError(`${codePrefix}-no-safetensors`, `${treeName}: no .safetensors files at the top level; the ones present are in subfolders (${nested.slice(0, 3).join(', ')}${nested.length > 3 ? ', ...' : ''}), as in multi-component or quantized repos; Merge Studio reads a language model's top-level weights`, { file: treeName, found: nested });
  }
  const what = others.length
    ? `it has only ${others.slice(0, 3).join(', ')}${others.length > 3 ? ` and ${others.length - 3} more` : ''}. Merge Studio reads safetensors only and does not read .bin/.pt pickle files (they can run code when loaded); convert the model to safetensors first (for example with transformers: save_pretrained(..., safe_serialization=True)) or pick a repo that has model.safetensors`
    : `no weights were found (files: ${top.slice(0, 6).join(', ') || 'none'})`;
  throw new MergeStudioError(`${codePrefix}-no-safetensors`, `${treeName}: no .safetensors files: ${what}`, { file: treeName, found: others });
}

/** Reads the shard index (a small JSON file) and checks that every shard it names is present. */
export async function checkShardIndex(tree: FileTree, paths: readonly string[], codePrefix: 'hub' | 'model', signal?: AbortSignal): Promise<void> {
  if (!paths.includes(SAFETENSORS_INDEX)) return;
  const source = await tree.open(SAFETENSORS_INDEX, signal);
  let weightMap: Record<string, unknown>;
  try {
    const parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(await source.read(0, source.size, signal))) as { weight_map?: unknown };
    if (typeof parsed.weight_map !== 'object' || parsed.weight_map === null || Array.isArray(parsed.weight_map)) throw new Error("no 'weight_map' object");
    weightMap = parsed.weight_map as Record<string, unknown>;
  } catch (err) {
    if (err instanceof MergeStudioError) throw err;
    throw new MergeStudioError('safetensors-index-invalid', `${tree.name}/${SAFETENSORS_INDEX}: expected JSON with a 'weight_map' object (${err instanceof Error ? err.message : String(err)})`, { file: SAFETENSORS_INDEX });
  }
  const present = new Set(paths);
  const missing = new Map<string, string[]>();
  for (const [tensor, shard] of Object.entries(weightMap)) {
    if (typeof shard === 'string' && !present.has(shard)) missing.set(shard, [...(missing.get(shard) ?? []), tensor]);
  }
  if (missing.size === 0) return;
  const [shard, tensors] = [...missing][0];
  throw new MergeStudioError(
    `${codePrefix}-missing-shard`,
    `${tree.name}: ${SAFETENSORS_INDEX} names shard '${shard}' (holding ${tensors.length} tensors, e.g. '${tensors[0]}') but the ${codePrefix === 'hub' ? 'repo' : 'folder'} has no such file${missing.size > 1 ? `; ${missing.size - 1} more shards are missing too` : ''}`,
    { file: shard, tensor: tensors[0], missing: [...missing.keys()] },
  );
}

/** Both checks on a local folder or dropped files (the Hub tree runs them itself on open). */
export async function checkLocalModelFiles(tree: FileTree, signal?: AbortSignal): Promise<void> {
  const paths = await tree.list(signal);
  checkHasSafetensors(tree.name, paths, 'model');
  await checkShardIndex(tree, paths, 'model', signal);
}
