// Parsing the model references users type: `org/name`, `org/name@revision`, or a Hub model URL.
import { MergeStudioError } from '../errors.ts';

export interface HubRef {
  /** `org/name` (or a legacy single-segment name such as `gpt2`). */
  repo: string;
  revision?: string;
}

const SEGMENT = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?$/;

/** Accepts `org/name[@rev]` and `https://host/org/name[/tree/rev]`; rejects anything else with a
 * message that shows the expected form. */
export function parseHubRef(text: string): HubRef {
  let s = text.trim();
  let revision: string | undefined;
  const url = /^https?:\/\/[^/]+\/(.+)$/.exec(s);
  if (url) {
    const parts = url[1].replace(/\/+$/, '').split('/');
    s = parts.slice(0, 2).join('/');
    if (parts[2] === 'tree' && parts[3]) revision = decodeURIComponent(parts.slice(3).join('/'));
  } else {
    const at = s.indexOf('@');
    if (at >= 0) {
      revision = s.slice(at + 1);
      s = s.slice(0, at);
    }
  }
  const segments = s.split('/');
  const bad = (why: string) =>
    new MergeStudioError('hub-bad-id', `'${text}' is not a Hub model id: ${why} (expected org/name or org/name@revision, e.g. zoo/tiny-llama-base@main)`, { found: text });
  if (segments.length > 2 || !segments.every((p) => SEGMENT.test(p)) || segments.some((p) => p.includes('..') || p.includes('--'))) {
    throw bad('names are letters, digits, "-", "_" and "." with at most one "/"');
  }
  if (revision !== undefined) {
    if (revision === '' || /\s/.test(revision) || revision.split('/').some((p) => p === '..' || p === '.' || p === '')) {
      throw bad(`the revision '${revision}' is empty or malformed`);
    }
  }
  return { repo: segments.join('/'), ...(revision !== undefined ? { revision } : {}) };
}

/** True when a string is shaped like a Hub id (used to choose between a local path and the Hub). */
export function looksLikeHubRef(text: string): boolean {
  try {
    parseHubRef(text);
    return true;
  } catch {
    return false;
  }
}
