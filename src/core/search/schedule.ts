import { MergeStudioError } from '../errors.ts';
import { crowdingDistance, nonDominatedSort } from './pareto.ts';

/** Multi-fidelity schedule: fidelity = fraction of each task's examples (nested subsets: a smaller
 * fraction is a prefix of a larger one), candidates promoted by successive halving. */
export interface FidelitySchedule {
  /** Ascending fractions in (0, 1], the last one 1 (all examples), e.g. [1/9, 1/3, 1]. */
  levels: number[];
  /** Keep the best 1/eta of each rung (default 3). */
  eta?: number;
  /** 'hyperband' cycles through brackets starting at each level; 'successive-halving' always
   * starts at the lowest. Ignored with a single level. */
  mode?: 'hyperband' | 'successive-halving';
}

export interface Rung {
  fidelity: number;
  candidates: number;
}

export function validateSchedule(s: FidelitySchedule): void {
  const { levels } = s;
  const bad = (msg: string) => new MergeStudioError('search-fidelity', `search spec: fidelity.${msg}`);
  if (!Array.isArray(levels) || levels.length === 0) throw bad('levels must be a non-empty list of fractions, e.g. [0.111, 0.333, 1]');
  for (const [i, f] of levels.entries()) {
    if (typeof f !== 'number' || !(f > 0 && f <= 1)) throw bad(`levels[${i}] must be a fraction in (0, 1], found ${String(f)}`);
    if (i > 0 && f <= levels[i - 1]) throw bad(`levels must increase, but levels[${i}] = ${f} follows ${levels[i - 1]}`);
  }
  if (levels[levels.length - 1] !== 1) throw bad(`levels must end with 1 (all examples), found ${levels[levels.length - 1]}`);
  if (s.eta !== undefined && !(Number.isInteger(s.eta) && s.eta >= 2)) throw bad(`eta must be an integer >= 2, found ${s.eta}`);
  if (s.mode !== undefined && s.mode !== 'hyperband' && s.mode !== 'successive-halving') {
    throw bad(`mode must be 'hyperband' or 'successive-halving', found '${String(s.mode)}'`);
  }
}

/** The brackets a run cycles through (Li et al., Hyperband): bracket s starts
 * ceil((smax+1)/(s+1) * eta^s) candidates at level smax-s and keeps floor(n/eta) per rung. */
export function brackets(s: FidelitySchedule): Rung[][] {
  const eta = s.eta ?? 3;
  const smax = s.levels.length - 1;
  const out: Rung[][] = [];
  for (let b = smax; b >= 0; b--) {
    const n0 = Math.ceil(((smax + 1) / (b + 1)) * eta ** b);
    const rungs: Rung[] = [];
    for (let i = 0; i <= b; i++) {
      rungs.push({ fidelity: s.levels[smax - b + i], candidates: Math.max(1, Math.floor(n0 / eta ** i)) });
    }
    out.push(rungs);
    if (s.mode === 'successive-halving') break;
  }
  return out;
}

/** Indices of the `count` best candidates of a rung: lowest loss with one objective; with several,
 * by non-dominated rank then crowding distance (NSGA-II's order), ties to the earlier candidate. */
export function promote(losses: readonly (readonly number[])[], count: number): number[] {
  const order: number[] = [];
  for (const front of nonDominatedSort(losses)) {
    const crowd = crowdingDistance(losses, front);
    const ranked = front.map((i, k) => ({ i, c: crowd[k] })).sort((a, b) => b.c - a.c || a.i - b.i);
    order.push(...ranked.map((r) => r.i));
  }
  return order.slice(0, count);
}
