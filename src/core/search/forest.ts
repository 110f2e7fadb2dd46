import { Prng, type PrngState } from './prng.ts';
import { clampUnit, type Optimizer, type OptimizerContext } from './optimizer.ts';

/** Step sizes of the local candidates around the best points: fine, medium and coarse moves. */
const LOCAL_SCALES = [0.02, 0.06, 0.15];

interface Observation {
  x: number[];
  losses: number[];
  fidelity: number;
}

interface ForestState {
  rng: PrngState;
  observations: Observation[];
}

/** Model-based optimizer in the spirit of SMAC (which the automated-merging paper uses): a random
 * forest fitted on the observations of the highest fidelity that has enough of them (as BOHB does),
 * expected improvement maximised over random and local candidates, one random proposal in five.
 * With several objectives, each ask draws a fresh ParEGO scalarisation (augmented Chebyshev with
 * random simplex weights over normalised losses), so successive proposals spread along the front. */
export class ForestOptimizer implements Optimizer {
  readonly kind = 'forest' as const;
  private readonly rng: Prng;
  private readonly st: ForestState;
  private readonly initialDesign: number;
  private readonly randomFraction: number;
  private static readonly trees = 12;
  private static readonly minLeaf = 2;

  constructor(
    private readonly ctx: OptimizerContext,
    options: { initialDesign?: number; randomFraction?: number } = {},
    state?: ForestState,
  ) {
    this.initialDesign = Math.max(2, options.initialDesign ?? Math.max(6, Math.ceil(ctx.dim / 4)));
    this.randomFraction = options.randomFraction ?? 0.2;
    this.st = state ? structuredClone(state) : { rng: new Prng(ctx.seed).state(), observations: [] };
    this.rng = new Prng(this.st.rng);
  }

  ask(): number[] {
    const training = this.trainingSet();
    const explore = this.rng.uniform() < this.randomFraction;
    if (!training || explore) return this.rng.unitVector(this.ctx.dim);
    const targets = this.scalarise(training.map((o) => o.losses));
    const forest = fitForest(training.map((o) => o.x), targets, this.rng, ForestOptimizer.trees, ForestOptimizer.minLeaf);
    const best = Math.min(...targets);
    const order = targets.map((_, i) => i).sort((a, b) => targets[a] - targets[b]);
    const candidates: number[][] = [];
    for (let i = 0; i < 256; i++) candidates.push(this.rng.unitVector(this.ctx.dim));
    for (const i of order.slice(0, 5)) {
      for (let k = 0; k < 60; k++) {
        const scale = LOCAL_SCALES[k % LOCAL_SCALES.length];
        candidates.push(training[i].x.map((v) => clampUnit(v + scale * this.rng.normal())));
      }
    }
    let chosen = candidates[0];
    let chosenValue = -Infinity;
    for (const c of candidates) {
      const { mean, variance } = predict(forest, c);
      const ei = expectedImprovement(best, mean, Math.sqrt(variance));
      if (ei > chosenValue) {
        chosenValue = ei;
        chosen = c;
      }
    }
    return chosen;
  }

  tell(x: readonly number[], losses: readonly number[], fidelity: number): void {
    this.st.observations.push({ x: [...x], losses: [...losses], fidelity });
  }

  exportState(): ForestState {
    return structuredClone({ ...this.st, rng: this.rng.state() });
  }

  /** Observations at the highest fidelity with at least `initialDesign` of them, or null. */
  private trainingSet(): Observation[] | null {
    const fidelities = [...new Set(this.st.observations.map((o) => o.fidelity))].sort((a, b) => b - a);
    for (const f of fidelities) {
      const set = this.st.observations.filter((o) => o.fidelity === f);
      if (set.length >= this.initialDesign) return set;
    }
    return null;
  }

  private scalarise(losses: number[][]): number[] {
    const m = this.ctx.objectives;
    if (m === 1) return losses.map((l) => l[0]);
    const lo = Array.from({ length: m }, (_, k) => Math.min(...losses.map((l) => l[k])));
    const hi = Array.from({ length: m }, (_, k) => Math.max(...losses.map((l) => l[k])));
    const w = this.rng.simplex(m);
    return losses.map((l) => {
      const f = l.map((v, k) => (hi[k] > lo[k] ? (v - lo[k]) / (hi[k] - lo[k]) : 0));
      const weighted = f.map((v, k) => w[k] * v);
      return Math.max(...weighted) + 0.05 * weighted.reduce((a, b) => a + b, 0);
    });
  }
}

type TreeNode = { leaf: true; value: number } | { leaf: false; feature: number; threshold: number; left: TreeNode; right: TreeNode };

function fitForest(xs: number[][], ys: number[], rng: Prng, trees: number, minLeaf: number): TreeNode[] {
  const n = xs.length;
  const dim = xs[0].length;
  const featuresPerSplit = Math.max(1, Math.ceil((dim * 5) / 6));
  return Array.from({ length: trees }, () => {
    const sample = Array.from({ length: n }, () => rng.int(n));
    return growTree(xs, ys, sample, rng, featuresPerSplit, minLeaf, 0);
  });
}

function growTree(
  xs: number[][],
  ys: number[],
  rows: number[],
  rng: Prng,
  featuresPerSplit: number,
  minLeaf: number,
  depth: number,
): TreeNode {
  const mean = rows.reduce((a, r) => a + ys[r], 0) / rows.length;
  if (rows.length < 2 * minLeaf || depth >= 24) return { leaf: true, value: mean };
  const dim = xs[0].length;
  // a random subset of the features, drawn by a partial Fisher-Yates shuffle
  const features = Array.from({ length: dim }, (_, i) => i);
  for (let i = 0; i < featuresPerSplit; i++) {
    const j = i + rng.int(dim - i);
    [features[i], features[j]] = [features[j], features[i]];
  }
  const total = rows.reduce((a, r) => a + ys[r], 0);
  const totalSq = rows.reduce((a, r) => a + ys[r] * ys[r], 0);
  const parentSse = totalSq - (total * total) / rows.length;
  let best = { gain: 1e-12, feature: -1, threshold: 0 };
  for (const f of features.slice(0, featuresPerSplit)) {
    const sorted = [...rows].sort((a, b) => xs[a][f] - xs[b][f]);
    let leftSum = 0;
    let leftSq = 0;
    for (let i = 0; i < sorted.length - 1; i++) {
      const y = ys[sorted[i]];
      leftSum += y;
      leftSq += y * y;
      const nl = i + 1;
      const nr = sorted.length - nl;
      if (nl < minLeaf || nr < minLeaf) continue;
      const a = xs[sorted[i]][f];
      const b = xs[sorted[i + 1]][f];
      if (a === b) continue;
      const rightSum = total - leftSum;
      const sse = leftSq - (leftSum * leftSum) / nl + (totalSq - leftSq) - (rightSum * rightSum) / nr;
      const gain = parentSse - sse;
      if (gain > best.gain) best = { gain, feature: f, threshold: (a + b) / 2 };
    }
  }
  if (best.feature < 0) return { leaf: true, value: mean };
  const left = rows.filter((r) => xs[r][best.feature] <= best.threshold);
  const right = rows.filter((r) => xs[r][best.feature] > best.threshold);
  return {
    leaf: false,
    feature: best.feature,
    threshold: best.threshold,
    left: growTree(xs, ys, left, rng, featuresPerSplit, minLeaf, depth + 1),
    right: growTree(xs, ys, right, rng, featuresPerSplit, minLeaf, depth + 1),
  };
}

/** Mean and spread of the trees' predictions (SMAC's uncertainty estimate). */
function predict(forest: TreeNode[], x: readonly number[]): { mean: number; variance: number } {
  const values = forest.map((tree) => {
    let node = tree;
    while (!node.leaf) node = x[node.feature] <= node.threshold ? node.left : node.right;
    return node.value;
  });
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length;
  return { mean, variance: Math.max(variance, 1e-12) };
}

function expectedImprovement(best: number, mean: number, sd: number): number {
  const z = (best - mean) / sd;
  return (best - mean) * normalCdf(z) + sd * Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);
}

function normalCdf(z: number): number {
  // Abramowitz-Stegun 7.1.26 on erf, error below 1.5e-7: plenty for ranking candidates
  const t = 1 / (1 + 0.3275911 * (Math.abs(z) / Math.SQRT2));
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-(z * z) / 2);
  return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}
