// Opens a split of a Hub dataset (`org/name`, a config, a split, a revision) for lazy reading: the
// repo's own parquet / JSON Lines / CSV files when they hold the split, else the Hub's parquet
// conversion at `refs/convert/parquet` (datasets whose repo has only a loading script).
import { MergeStudioError } from '../errors.ts';
import type { HubCache } from '../hub/cache.ts';
import { hubTree } from '../hub/tree.ts';
import type { ProgressCallback } from '../progress.ts';
import { findSplitFiles, openSplit, type DatasetSplit } from './dataset.ts';

export interface HubDatasetOptions {
  /** `org/name` (or `org/name@revision`). */
  id: string;
  config?: string;
  split: string;
  /** The split's data files by name (BenchmarkDef.dataset.files), used when all are present. */
  files?: string[];
  revision?: string;
  hubUrl?: string;
  accessToken?: string;
  cache?: HubCache;
  offline?: boolean;
  fetch?: typeof fetch;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
  retries?: number;
  retryDelayMs?: number;
}

export async function openHubDatasetSplit(opts: HubDatasetOptions): Promise<DatasetSplit> {
  const common = {
    repo: opts.id,
    repoType: 'dataset' as const,
    hubUrl: opts.hubUrl,
    accessToken: opts.accessToken,
    cache: opts.cache,
    offline: opts.offline,
    fetch: opts.fetch,
    signal: opts.signal,
    onProgress: opts.onProgress,
    retries: opts.retries,
    retryDelayMs: opts.retryDelayMs,
  };
  const what = `${opts.config ? `${opts.config}/` : ''}${opts.split}`;
  const tree = await hubTree({ ...common, revision: opts.revision });
  const paths = await tree.list();
  const files = findSplitFiles(paths, opts.config, opts.split, opts.files);
  if (files) return openSplit(tree, files, `${tree.name}: ${what}`, opts.signal);
  if (opts.revision === undefined || opts.revision === 'main') {
    let converted = null;
    try {
      converted = await hubTree({ ...common, revision: 'refs/convert/parquet' });
    } catch (err) {
      if (!(err instanceof MergeStudioError && err.code === 'hub-revision-not-found')) throw err;
    }
    if (converted) {
      const conv = findSplitFiles(await converted.list(), opts.config ?? 'default', opts.split);
      if (conv) return openSplit(converted, conv, `${converted.name}: ${what}`, opts.signal);
    }
  }
  const shown = paths.filter((p) => /\.(parquet|jsonl|json|csv)$/.test(p)).slice(0, 12);
  throw new MergeStudioError(
    'dataset-split-missing',
    `${tree.name}: no data files for split '${opts.split}'${opts.config ? ` of config '${opts.config}'` : ''} (looked for ${opts.config ?? 'default|data'}/${opts.split}-*.parquet|jsonl|csv here and in refs/convert/parquet; data files present: ${shown.length ? shown.join(', ') : 'none'})`,
    { dataset: opts.id, split: opts.split, config: opts.config },
  );
}
