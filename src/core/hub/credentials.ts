// The studio's Hub token: in memory only, unless the user asks to remember it; then it is kept in
// the storage passed in (the page passes localStorage) and `storedWhere` tells the UI what to say.
import { MergeStudioError } from '../errors.ts';

/** The part of Web Storage used (localStorage in the page; a Map in tests). */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export const REMEMBERED_TOKEN_KEY = 'merge-studio.hub-token';

export interface HubTokenKeeper {
  readonly token: string | undefined;
  readonly remembered: boolean;
  /** Where a remembered token is kept (for the UI to show), or null when it is in memory only. */
  readonly storedWhere: string | null;
  /** Sets the token; `remember` keeps it in storage, otherwise any stored copy is removed. */
  set(token: string | undefined, opts?: { remember?: boolean }): void;
  /** Drops the token from memory and storage. */
  forget(): void;
}

/** Hugging Face user access tokens: "hf_" and letters/digits (checked before anything is stored or sent). */
export function checkHubToken(token: string): void {
  if (!/^hf_[A-Za-z0-9_-]+$/.test(token)) {
    throw new MergeStudioError('hub-bad-token', 'the Hub token is malformed: Hugging Face access tokens start with "hf_" followed by letters and digits (create one at huggingface.co/settings/tokens)', {});
  }
}

export function hubTokenKeeper(storage?: KeyValueStorage, where = "this browser's local storage for this site (key 'merge-studio.hub-token'); clear it with Forget or by clearing the site's data"): HubTokenKeeper {
  const stored = storage?.getItem(REMEMBERED_TOKEN_KEY) ?? undefined;
  let token = stored && /^hf_[A-Za-z0-9_-]+$/.test(stored) ? stored : undefined;
  let remembered = token !== undefined;
  return {
    get token() {
      return token;
    },
    get remembered() {
      return remembered;
    },
    get storedWhere() {
      return remembered ? where : null;
    },
    set(next, opts = {}) {
      if (next !== undefined) checkHubToken(next);
      token = next;
      remembered = !!opts.remember && next !== undefined && storage !== undefined;
      if (remembered) storage!.setItem(REMEMBERED_TOKEN_KEY, next!);
      else storage?.removeItem(REMEMBERED_TOKEN_KEY);
    },
    forget() {
      token = undefined;
      remembered = false;
      storage?.removeItem(REMEMBERED_TOKEN_KEY);
    },
  };
}
