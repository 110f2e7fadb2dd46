/** Pareto dominance, non-dominated sorting, crowding distance and exact hypervolume.
 * Everything here MINIMISES: callers turn maximised metrics into losses first (see objectives.ts). */

/** True when `a` is no worse than `b` everywhere and strictly better somewhere. */
export function dominates(a: readonly number[], b: readonly number[]): boolean {
  let strictly = false;
  for (let k = 0; k < a.length; k++) {
    if (a[k] > b[k]) return false;
    if (a[k] < b[k]) strictly = true;
  }
  return strictly;
}

/** Fronts of a non-dominated sort (NSGA-II's fast sort): fronts[0] holds the indices of the
 * Pareto-optimal points, fronts[1] those dominated only by fronts[0], and so on. */
export function nonDominatedSort(points: readonly (readonly number[])[]): number[][] {
  const n = points.length;
  const dominatedBy: number[][] = Array.from({ length: n }, () => []);
  const dominationCount = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (dominates(points[i], points[j])) {
        dominatedBy[i].push(j);
        dominationCount[j]++;
      } else if (dominates(points[j], points[i])) {
        dominatedBy[j].push(i);
        dominationCount[i]++;
      }
    }
  }
  const fronts: number[][] = [];
  let current = [];
  for (let i = 0; i < n; i++) if (dominationCount[i] === 0) current.push(i);
  while (current.length > 0) {
    fronts.push(current);
    const next: number[] = [];
    for (const i of current) {
      for (const j of dominatedBy[i]) if (--dominationCount[j] === 0) next.push(j);
    }
    current = next.sort((a, b) => a - b);
  }
  return fronts;
}

/** Indices of the non-dominated points (duplicates of a front point are all kept). */
export function paretoFront(points: readonly (readonly number[])[]): number[] {
  return nonDominatedSort(points)[0] ?? [];
}

/** NSGA-II crowding distance of each member of one front (parallel to `front`); boundary points
 * get Infinity so that the extremes of the front are always kept. */
export function crowdingDistance(points: readonly (readonly number[])[], front: readonly number[]): number[] {
  const distance = new Array<number>(front.length).fill(0);
  if (front.length === 0) return distance;
  const m = points[front[0]].length;
  for (let k = 0; k < m; k++) {
    const order = front.map((_, i) => i).sort((a, b) => points[front[a]][k] - points[front[b]][k]);
    const lo = points[front[order[0]]][k];
    const hi = points[front[order[order.length - 1]]][k];
    distance[order[0]] = Infinity;
    distance[order[order.length - 1]] = Infinity;
    if (hi === lo) continue;
    for (let r = 1; r < order.length - 1; r++) {
      distance[order[r]] += (points[front[order[r + 1]]][k] - points[front[order[r - 1]]][k]) / (hi - lo);
    }
  }
  return distance;
}

/** Exact hypervolume dominated by `points` and bounded by the reference point `ref` (minimisation:
 * the box between each point and `ref`). Points not strictly better than `ref` in every objective
 * add nothing. Sweep in 2-D, slicing along the last objective above that (exact for any dimension,
 * O(n^2 log n) in 3-D, which is what the studio needs). */
export function hypervolume(points: readonly (readonly number[])[], ref: readonly number[]): number {
  const inside = points.filter((p) => p.length === ref.length && p.every((v, k) => v < ref[k]));
  return slicedVolume(inside, ref);
}

function slicedVolume(points: readonly (readonly number[])[], ref: readonly number[]): number {
  const d = ref.length;
  if (points.length === 0) return 0;
  if (d === 1) return ref[0] - Math.min(...points.map((p) => p[0]));
  if (d === 2) {
    const sorted = [...points].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let area = 0;
    let lowestY = ref[1];
    for (const p of sorted) {
      if (p[1] < lowestY) {
        area += (ref[0] - p[0]) * (lowestY - p[1]);
        lowestY = p[1];
      }
    }
    return area;
  }
  const sorted = [...points].sort((a, b) => a[d - 1] - b[d - 1]);
  const subRef = ref.slice(0, d - 1);
  let volume = 0;
  for (let i = 0; i < sorted.length; i++) {
    const top = i + 1 < sorted.length ? sorted[i + 1][d - 1] : ref[d - 1];
    const depth = top - sorted[i][d - 1];
    if (depth <= 0) continue;
    volume += depth * slicedVolume(sorted.slice(0, i + 1).map((p) => p.slice(0, d - 1)), subRef);
  }
  return volume;
}
