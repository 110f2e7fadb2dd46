import { MergeStudioError } from '../errors.ts';
import { Prng, type PrngState } from './prng.ts';
import { candidateKey, clampUnit, type Optimizer, type OptimizerContext } from './optimizer.ts';

interface PendingSample {
  key: string;
  /** The unclipped sample; its distance to the cube is penalised so the mean stays inside. */
  raw: number[];
  generation: number;
}

interface CmaEsState {
  rng: PrngState;
  generation: number;
  mean: number[];
  sigma: number;
  cov: number[][];
  /** Eigenvectors (columns) and square roots of eigenvalues of `cov`. */
  basis: number[][];
  scales: number[];
  pathC: number[];
  pathSigma: number[];
  pending: PendingSample[];
  told: { raw: number[]; fitness: number }[];
}

/** CMA-ES (Hansen's (mu/mu_w, lambda) with rank-one and rank-mu updates) for continuous,
 * single-objective runs. Box constraints of the unit cube: the candidate handed out is clipped,
 * and the squared distance of the raw sample to the cube is added to its loss. */
export class CmaEs implements Optimizer {
  readonly kind = 'cmaes' as const;
  private readonly rng: Prng;
  private readonly st: CmaEsState;
  readonly lambda: number;
  private readonly mu: number;
  private readonly weights: number[];
  private readonly muEff: number;
  private readonly cc: number;
  private readonly cs: number;
  private readonly c1: number;
  private readonly cmu: number;
  private readonly damps: number;
  private readonly chiN: number;

  constructor(
    private readonly ctx: OptimizerContext,
    options: { sigma?: number } = {},
    state?: CmaEsState,
  ) {
    if (ctx.objectives !== 1) {
      throw new MergeStudioError(
        'search-optimizer-objectives',
        `optimizer 'cmaes' optimises one objective, but the search has ${ctx.objectives}; use 'nsga2' or 'forest' (ParEGO) for several`,
        { objectives: ctx.objectives },
      );
    }
    const n = ctx.dim;
    this.lambda = 4 + Math.floor(3 * Math.log(n));
    this.mu = Math.floor(this.lambda / 2);
    const raw = Array.from({ length: this.mu }, (_, i) => Math.log(this.mu + 0.5) - Math.log(i + 1));
    const sum = raw.reduce((a, b) => a + b, 0);
    this.weights = raw.map((w) => w / sum);
    this.muEff = 1 / this.weights.reduce((a, w) => a + w * w, 0);
    this.cc = (4 + this.muEff / n) / (n + 4 + (2 * this.muEff) / n);
    this.cs = (this.muEff + 2) / (n + this.muEff + 5);
    this.c1 = 2 / ((n + 1.3) ** 2 + this.muEff);
    this.cmu = Math.min(1 - this.c1, (2 * (this.muEff - 2 + 1 / this.muEff)) / ((n + 2) ** 2 + this.muEff));
    this.damps = 1 + 2 * Math.max(0, Math.sqrt((this.muEff - 1) / (n + 1)) - 1) + this.cs;
    this.chiN = Math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n));
    const identity = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
    this.st = state
      ? structuredClone(state)
      : {
          rng: new Prng(ctx.seed).state(),
          generation: 0,
          mean: new Array(n).fill(0.5),
          sigma: options.sigma ?? 0.3,
          cov: identity.map((r) => [...r]),
          basis: identity.map((r) => [...r]),
          scales: new Array(n).fill(1),
          pathC: new Array(n).fill(0),
          pathSigma: new Array(n).fill(0),
          pending: [],
          told: [],
        };
    this.rng = new Prng(this.st.rng);
  }

  get mean(): readonly number[] {
    return this.st.mean;
  }

  ask(): number[] {
    const n = this.ctx.dim;
    const z = Array.from({ length: n }, () => this.rng.normal());
    const raw = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      let y = 0;
      for (let j = 0; j < n; j++) y += this.st.basis[i][j] * this.st.scales[j] * z[j];
      raw[i] = this.st.mean[i] + this.st.sigma * y;
    }
    const x = raw.map(clampUnit);
    this.st.pending.push({ key: candidateKey(x), raw, generation: this.st.generation });
    return x;
  }

  tell(x: readonly number[], losses: readonly number[]): void {
    const key = candidateKey(x);
    const at = this.st.pending.findIndex((p) => p.key === key);
    if (at < 0) return; // a re-evaluation at a higher fidelity: the sample was already counted
    const [sample] = this.st.pending.splice(at, 1);
    if (sample.generation !== this.st.generation) return; // drawn from a distribution since replaced
    const outside = sample.raw.reduce((a, r) => a + (r - clampUnit(r)) ** 2, 0);
    this.st.told.push({ raw: sample.raw, fitness: losses[0] + outside });
    if (this.st.told.length >= this.lambda) this.update();
  }

  exportState(): CmaEsState {
    return structuredClone({ ...this.st, rng: this.rng.state() });
  }

  private update(): void {
    const n = this.ctx.dim;
    const st = this.st;
    const ranked = [...st.told].sort((a, b) => a.fitness - b.fitness).slice(0, this.mu);
    const old = st.mean;
    const steps = ranked.map((r) => r.raw.map((v, i) => (v - old[i]) / st.sigma));
    const meanStep = new Array<number>(n).fill(0);
    for (let k = 0; k < this.mu; k++) for (let i = 0; i < n; i++) meanStep[i] += this.weights[k] * steps[k][i];
    st.mean = old.map((m, i) => m + st.sigma * meanStep[i]);

    // C^{-1/2} * meanStep = B diag(1/D) B^T meanStep
    const projected = new Array<number>(n).fill(0);
    for (let j = 0; j < n; j++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += st.basis[i][j] * meanStep[i];
      projected[j] = dot / st.scales[j];
    }
    const whitened = new Array<number>(n).fill(0);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) whitened[i] += st.basis[i][j] * projected[j];

    const csFactor = Math.sqrt(this.cs * (2 - this.cs) * this.muEff);
    st.pathSigma = st.pathSigma.map((p, i) => (1 - this.cs) * p + csFactor * whitened[i]);
    const psNorm = Math.hypot(...st.pathSigma);
    st.generation += 1;
    const hsig = psNorm / Math.sqrt(1 - (1 - this.cs) ** (2 * st.generation)) / this.chiN < 1.4 + 2 / (n + 1) ? 1 : 0;
    const ccFactor = Math.sqrt(this.cc * (2 - this.cc) * this.muEff);
    st.pathC = st.pathC.map((p, i) => (1 - this.cc) * p + hsig * ccFactor * meanStep[i]);

    const keep = 1 - this.c1 - this.cmu;
    const hsigCorrection = (1 - hsig) * this.cc * (2 - this.cc);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= i; j++) {
        let rankMu = 0;
        for (let k = 0; k < this.mu; k++) rankMu += this.weights[k] * steps[k][i] * steps[k][j];
        const v =
          keep * st.cov[i][j] +
          this.c1 * (st.pathC[i] * st.pathC[j] + hsigCorrection * st.cov[i][j]) +
          this.cmu * rankMu;
        st.cov[i][j] = v;
        st.cov[j][i] = v;
      }
    }
    st.sigma *= Math.exp((this.cs / this.damps) * (psNorm / this.chiN - 1));
    const { vectors, values } = symmetricEigen(st.cov);
    st.basis = vectors;
    st.scales = values.map((v) => Math.sqrt(Math.max(v, 1e-20)));
    st.told = [];
  }
}

/** Eigen-decomposition of a small symmetric matrix by cyclic Jacobi rotations. */
function symmetricEigen(matrix: readonly number[][]): { vectors: number[][]; values: number[] } {
  const n = matrix.length;
  const a = matrix.map((r) => [...r]);
  const v: number[][] = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p][q] * a[p][q];
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (Math.abs(a[p][q]) < 1e-300) continue;
        const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k][p];
          const akq = a[k][q];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p][k];
          const aqk = a[q][k];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k][p];
          const vkq = v[k][q];
          v[k][p] = c * vkp - s * vkq;
          v[k][q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { vectors: v, values: a.map((r, i) => r[i]) };
}
