// A model folder served over HTTP by the page's own origin (the demo zoo under public/zoo): the
// file list comes from the zoo's manifest, bytes from HTTP range reads (core/io's httpRangeSource).
import { MergeStudioError } from '../core/errors.ts';
import { httpRangeSource } from '../core/io/http.ts';
import type { FileTree } from '../core/io/types.ts';

/** `files` maps each path (relative to `baseUrl`) to its size in bytes. */
export function urlFileTree(name: string, baseUrl: string, files: Readonly<Record<string, number>>): FileTree {
  const root = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  return {
    name,
    async list() {
      return Object.keys(files).sort();
    },
    async open(path: string, signal?: AbortSignal) {
      if (!Object.hasOwn(files, path)) throw new MergeStudioError('file-not-found', `${name}: no file '${path}'`, { file: path, tree: name });
      return httpRangeSource(new URL(path, root).href, { size: files[path], name: `${name}/${path}`, signal });
    },
  };
}
