// Where each loaded model came from, as far as it can be opened again without the user (a session
// restore, a recipe link, an undo that brings a removed model back): demo models and Hub ids. A
// dropped or picked local folder cannot be re-read without the user picking it again.
import type { ModelSource } from '../worker/protocol.ts';

/** A source that can be stored and reopened: no File objects, handles or tokens. */
export type ReopenableSource = { kind: 'demo'; ref: string } | { kind: 'hub'; repo: string; revision?: string; hubUrl: string; timeoutS?: number; cache?: boolean };

const sources = new Map<string, ReopenableSource | null>();

export function reopenable(source: ModelSource): ReopenableSource | null {
  if (source.kind === 'demo') return { kind: 'demo', ref: source.ref };
  if (source.kind === 'hub') return { kind: 'hub', repo: source.repo, revision: source.revision, hubUrl: source.hubUrl, timeoutS: source.timeoutS, cache: source.cache };
  return null;
}

export function rememberSource(ref: string, source: ModelSource): void {
  sources.set(ref, reopenable(source));
}

/** The stored source of a loaded model: null for a local folder, undefined when never loaded. */
export function sourceOf(ref: string): ReopenableSource | null | undefined {
  return sources.get(ref);
}
