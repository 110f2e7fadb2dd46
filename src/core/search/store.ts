import { MergeStudioError } from '../errors.ts';
import type { DimensionValue } from './space.ts';

/** One evaluation of one candidate at one fidelity. Candidates keep their id across fidelities. */
export interface TrialRecord<R = unknown> {
  /** Position in the run, 0-based; the order trials were evaluated in. */
  id: number;
  /** The candidate configuration (shared by its evaluations at several fidelities). */
  candidate: number;
  bracket: number;
  rung: number;
  /** The optimizer's point in the unit cube. */
  params: number[];
  values: Record<string, DimensionValue>;
  recipe: R;
  /** Fraction of the task examples evaluated. */
  fidelity: number;
  objectives: Record<string, number>;
  /** Wall time of the evaluation. */
  seconds: number;
  finishedAt: string;
}

/** Append-only persistence of a run's trials: a JSONL file in Node, IndexedDB/localStorage in the
 * browser. The trials alone are enough to resume: the run replays them through the seeded optimizer. */
export interface TrialStore {
  load(): Promise<TrialRecord[]>;
  append(trial: TrialRecord): Promise<void>;
}

export function memoryTrialStore(initial: TrialRecord[] = []): TrialStore & { trials: TrialRecord[] } {
  const trials = initial.map((t) => structuredClone(t));
  return {
    trials,
    async load() {
      return trials.map((t) => structuredClone(t));
    },
    async append(t) {
      trials.push(structuredClone(t));
    },
  };
}

/** Minimal key-value storage (the browser's localStorage satisfies it). */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** Trials as JSON lines under one key of a key-value storage (localStorage in the studio). */
export function keyValueTrialStore(storage: KeyValueStorage, key: string): TrialStore {
  return {
    async load() {
      return parseTrialLines(storage.getItem(key) ?? '', key);
    },
    async append(t) {
      storage.setItem(key, (storage.getItem(key) ?? '') + JSON.stringify(t) + '\n');
    },
  };
}

/** Parses JSONL trials; a torn last line (the process died mid-write) is dropped, any other bad
 * line is an error naming the source and line. */
export function parseTrialLines(text: string, source: string): TrialRecord[] {
  const lines = text.split('\n');
  const out: TrialRecord[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as TrialRecord);
    } catch (err) {
      if (i === lines.length - 1) break;
      throw new MergeStudioError('search-trials-corrupt', `${source}: line ${i + 1} is not a JSON trial record (${(err as Error).message})`, { source, line: i + 1 });
    }
  }
  return out;
}
