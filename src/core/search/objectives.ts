import { MergeStudioError } from '../errors.ts';

/** One metric the search optimises, as named in the values the objective function returns. */
export interface ObjectiveSpec {
  name: string;
  direction: 'max' | 'min';
  /** Worst value that still counts, bounding the hypervolume (default 0 for maximised metrics;
   * required for minimised ones such as perplexity). */
  ref?: number;
}

export function validateObjectives(objectives: readonly ObjectiveSpec[]): void {
  if (objectives.length === 0) {
    throw new MergeStudioError('search-objectives', 'search spec: objectives is empty; give at least one metric to optimise');
  }
  const seen = new Set<string>();
  for (const [i, o] of objectives.entries()) {
    if (seen.has(o.name)) throw new MergeStudioError('search-objectives', `search spec: objectives[${i}] repeats '${o.name}'`);
    seen.add(o.name);
    if (o.direction !== 'max' && o.direction !== 'min') {
      throw new MergeStudioError('search-objectives', `search spec: objectives[${i}].direction must be 'max' or 'min', found '${String(o.direction)}'`);
    }
    if (o.direction === 'min' && (o.ref === undefined || !Number.isFinite(o.ref))) {
      throw new MergeStudioError(
        'search-objectives',
        `search spec: objectives[${i}] ('${o.name}') is minimised and needs a finite 'ref' (the worst value that still counts, e.g. a perplexity)`,
      );
    }
  }
}

/** Reference point in loss space (everything is minimised internally). */
export function lossReference(objectives: readonly ObjectiveSpec[]): number[] {
  return objectives.map((o) => (o.direction === 'max' ? -(o.ref ?? 0) : o.ref!));
}

/** Metric values -> losses to minimise. A missing value is an error; a non-finite one (a
 * diverged perplexity) counts as bad as the reference point. */
export function toLosses(values: Readonly<Record<string, number>>, objectives: readonly ObjectiveSpec[]): number[] {
  return objectives.map((o) => {
    const v = values[o.name];
    if (typeof v !== 'number') {
      throw new MergeStudioError(
        'search-objective-missing',
        `the objective function returned no value for '${o.name}' (it returned: ${Object.keys(values).join(', ') || 'nothing'})`,
        { objective: o.name },
      );
    }
    const worst = o.direction === 'max' ? -(o.ref ?? 0) : o.ref!;
    if (!Number.isFinite(v)) return worst;
    return o.direction === 'max' ? -v : v;
  });
}
