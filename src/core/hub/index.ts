// The Hub source, browser-safe part (the disk cache is in node-cache.ts, for Node only).
export { hubTree, DEFAULT_HUB_URL, type HubTree, type HubTreeOptions } from './tree.ts';
export { parseHubRef, looksLikeHubRef, type HubRef } from './repo-id.ts';
export { browserHubCache, type CacheStorageLike } from './browser-cache.ts';
export { checkLocalModelFiles, checkHasSafetensors, checkShardIndex } from './model-files.ts';
export type { HubCache, HubFileEntry, CachedFile } from './cache.ts';
export { hubTokenKeeper, checkHubToken, REMEMBERED_TOKEN_KEY, type HubTokenKeeper, type KeyValueStorage } from './credentials.ts';
