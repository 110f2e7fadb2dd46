import { Prng, type PrngState } from './prng.ts';
import { candidateKey, clampUnit, type Optimizer, type OptimizerContext } from './optimizer.ts';
import { crowdingDistance, nonDominatedSort } from './pareto.ts';

interface Individual {
  x: number[];
  losses: number[];
  fidelity: number;
}

interface Nsga2State {
  rng: PrngState;
  parents: Individual[];
  /** Evaluated offspring not yet through environmental selection. */
  offspring: Individual[];
  /** Second child of the last crossover, handed out by the next ask. */
  spare: number[] | null;
}

/** NSGA-II (Deb et al. 2002): binary tournaments on (rank, crowding), simulated binary crossover
 * and polynomial mutation in the unit cube, elitist selection over parents + offspring. Candidates
 * are asked one at a time; a generation closes once `population` offspring have been told. A
 * candidate told again at a higher fidelity replaces its losses. */
export class Nsga2 implements Optimizer {
  readonly kind = 'nsga2' as const;
  private readonly rng: Prng;
  private readonly st: Nsga2State;
  private readonly population: number;
  private static readonly crossoverEta = 15;
  private static readonly mutationEta = 20;

  constructor(
    private readonly ctx: OptimizerContext,
    options: { population?: number } = {},
    state?: Nsga2State,
  ) {
    this.population = Math.max(4, options.population ?? 16);
    this.st = state ? structuredClone(state) : { rng: new Prng(ctx.seed).state(), parents: [], offspring: [], spare: null };
    this.rng = new Prng(this.st.rng);
  }

  ask(): number[] {
    if (this.st.parents.length === 0) return this.rng.unitVector(this.ctx.dim);
    if (this.st.spare) {
      const child = this.st.spare;
      this.st.spare = null;
      return child;
    }
    const ranks = this.rankParents();
    const a = this.tournament(ranks);
    const b = this.tournament(ranks);
    const [c1, c2] = this.crossover(this.st.parents[a].x, this.st.parents[b].x);
    this.st.spare = this.mutate(c2);
    return this.mutate(c1);
  }

  tell(x: readonly number[], losses: readonly number[], fidelity: number): void {
    const key = candidateKey(x);
    for (const pool of [this.st.offspring, this.st.parents]) {
      const known = pool.find((i) => candidateKey(i.x) === key);
      if (known) {
        if (fidelity >= known.fidelity) Object.assign(known, { losses: [...losses], fidelity });
        return;
      }
    }
    this.st.offspring.push({ x: [...x], losses: [...losses], fidelity });
    if (this.st.offspring.length >= this.population) this.select();
  }

  exportState(): Nsga2State {
    return structuredClone({ ...this.st, rng: this.rng.state() });
  }

  private select(): void {
    const all = [...this.st.parents, ...this.st.offspring];
    const points = all.map((i) => i.losses);
    const next: Individual[] = [];
    for (const front of nonDominatedSort(points)) {
      if (next.length + front.length <= this.population) {
        for (const i of front) next.push(all[i]);
        continue;
      }
      const crowd = crowdingDistance(points, front);
      const order = front.map((_, k) => k).sort((p, q) => crowd[q] - crowd[p] || front[p] - front[q]);
      for (const k of order.slice(0, this.population - next.length)) next.push(all[front[k]]);
      break;
    }
    this.st.parents = next;
    this.st.offspring = [];
    this.st.spare = null;
  }

  /** (front rank, crowding distance) of each parent, for the tournaments. */
  private rankParents(): { rank: number; crowd: number }[] {
    const points = this.st.parents.map((i) => i.losses);
    const out = points.map(() => ({ rank: 0, crowd: 0 }));
    nonDominatedSort(points).forEach((front, r) => {
      const crowd = crowdingDistance(points, front);
      front.forEach((i, k) => (out[i] = { rank: r, crowd: crowd[k] }));
    });
    return out;
  }

  private tournament(ranks: { rank: number; crowd: number }[]): number {
    const a = this.rng.int(ranks.length);
    const b = this.rng.int(ranks.length);
    if (ranks[a].rank !== ranks[b].rank) return ranks[a].rank < ranks[b].rank ? a : b;
    return ranks[a].crowd >= ranks[b].crowd ? a : b;
  }

  /** Simulated binary crossover (bounded form) per coordinate with probability 1/2. */
  private crossover(p1: readonly number[], p2: readonly number[]): [number[], number[]] {
    const c1 = [...p1];
    const c2 = [...p2];
    if (this.rng.uniform() > 0.9) return [c1, c2];
    const eta = Nsga2.crossoverEta;
    for (let i = 0; i < p1.length; i++) {
      if (this.rng.uniform() > 0.5 || Math.abs(p1[i] - p2[i]) < 1e-14) continue;
      const lo = Math.min(p1[i], p2[i]);
      const hi = Math.max(p1[i], p2[i]);
      const u = this.rng.uniform();
      const spread = (beta: number): number => {
        const alpha = 2 - beta ** -(eta + 1);
        const q = u <= 1 / alpha ? (u * alpha) ** (1 / (eta + 1)) : (1 / (2 - u * alpha)) ** (1 / (eta + 1));
        return q;
      };
      const q1 = spread(1 + (2 * lo) / (hi - lo));
      const q2 = spread(1 + (2 * (1 - hi)) / (hi - lo));
      const a = clampUnit(0.5 * (lo + hi - q1 * (hi - lo)));
      const b = clampUnit(0.5 * (lo + hi + q2 * (hi - lo)));
      const swap = this.rng.uniform() < 0.5;
      c1[i] = swap ? b : a;
      c2[i] = swap ? a : b;
    }
    return [c1, c2];
  }

  /** Polynomial mutation, each coordinate with probability 1/dim. */
  private mutate(x: number[]): number[] {
    const eta = Nsga2.mutationEta;
    return x.map((v) => {
      if (this.rng.uniform() >= 1 / x.length) return v;
      const u = this.rng.uniform();
      const delta =
        u < 0.5
          ? (2 * u + (1 - 2 * u) * (1 - v) ** (eta + 1)) ** (1 / (eta + 1)) - 1
          : 1 - (2 * (1 - u) + 2 * (u - 0.5) * v ** (eta + 1)) ** (1 / (eta + 1));
      return clampUnit(v + delta);
    });
  }
}
