// Training the coefficients: AdamW over seeded batches of each expert's sequences. A DamRun owns a
// plain resumable state (coefficients, Adam moments, step, loss history); pausing (its own pause()
// or an AbortSignal) stops after the step in progress, and run() continues from there. Batches are
// a pure function of (seed, expert, step), so a paused-and-resumed run equals an uninterrupted one.
import { MergeStudioError } from '../errors.ts';
import { itemOrder } from '../eval/tasks.ts';
import type { ProgressCallback } from '../progress.ts';
import { coefficientMeans, initialCoefficients } from './coefficients.ts';
import { DEFAULT_LOSS_SETTINGS, type CoefficientGradientOffload, type DamLossSettings, type DamObjective } from './objective.ts';

export interface DamTrainSettings extends DamLossSettings {
  steps: number;
  /** AdamW learning rate (default 1e-3). */
  learningRate: number;
  /** Sequences per expert per step (default 4). */
  batchSize: number;
  /** Decoupled weight decay of AdamW (default 0: no pull of the coefficients towards zero). */
  weightDecay: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  seed: number;
}

export const DEFAULT_TRAIN_SETTINGS: DamTrainSettings = {
  ...DEFAULT_LOSS_SETTINGS, steps: 100, learningRate: 1e-3, batchSize: 4, weightDecay: 0, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, seed: 0,
};

export interface DamStepRecord {
  step: number;
  loss: number;
  /** Per expert: T^2 * KL per token on this step's batch. */
  distillation: number[];
  similarity: number;
  /** Seconds since the run (first) started, excluding paused time. */
  seconds: number;
}

/** Everything needed to continue a run; plain data (typed arrays and numbers). */
export interface DamState {
  step: number;
  coefficients: Float64Array;
  adamM: Float64Array;
  adamV: Float64Array;
  history: DamStepRecord[];
  trainingSeconds: number;
}

export type DamStatus = 'idle' | 'running' | 'paused' | 'finished';

export type DamEvent =
  | { type: 'step'; record: DamStepRecord; steps: number }
  | { type: 'status'; status: DamStatus };

function checkSettings(s: DamTrainSettings): void {
  const positive = (name: string, v: number, integer = false) => {
    if (!(v > 0) || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
      throw new MergeStudioError('dam-setting-invalid', `DAM: '${name}' must be a positive ${integer ? 'integer' : 'number'}, found ${v}`, { parameter: name, found: v });
    }
  };
  const nonNegative = (name: string, v: number) => {
    if (!(v >= 0) || !Number.isFinite(v)) throw new MergeStudioError('dam-setting-invalid', `DAM: '${name}' must be a non-negative number, found ${v}`, { parameter: name, found: v });
  };
  positive('steps', s.steps, true);
  positive('lr', s.learningRate);
  positive('batch_size', s.batchSize, true);
  positive('temperature', s.temperature);
  nonNegative('lambda', s.similarity);
  nonNegative('l1', s.l1);
  nonNegative('l2', s.l2);
  nonNegative('weight_decay', s.weightDecay);
  if (!(s.beta1 >= 0 && s.beta1 < 1) || !(s.beta2 >= 0 && s.beta2 < 1)) throw new MergeStudioError('dam-setting-invalid', `DAM: Adam betas must lie in [0, 1), found ${s.beta1}, ${s.beta2}`, { parameter: 'betas' });
  if (!Number.isSafeInteger(s.seed) || s.seed < 0) throw new MergeStudioError('dam-setting-invalid', `DAM: 'seed' must be a non-negative integer, found ${s.seed}`, { parameter: 'seed', found: s.seed });
}

/** Expert `expert`'s sequence indices at `step`: consecutive slices of one seeded permutation per
 * epoch, so every sequence is seen once per epoch. */
export function batchIndices(sequences: number, batchSize: number, seed: number, expert: number, step: number): number[] {
  const out: number[] = [];
  for (let j = 0; j < batchSize; j++) {
    const position = step * batchSize + j;
    const epoch = Math.floor(position / sequences);
    const order = itemOrder(sequences, (seed * 7919 + expert * 104729 + epoch * 15485863) >>> 0);
    out.push(order[position % sequences]);
  }
  return out;
}

/** One AdamW update in place. `t` is the 1-based step. */
export function adamwUpdate(params: Float64Array, grad: Float64Array, m: Float64Array, v: Float64Array, t: number, s: DamTrainSettings): void {
  const c1 = 1 - Math.pow(s.beta1, t), c2 = 1 - Math.pow(s.beta2, t);
  for (let e = 0; e < params.length; e++) {
    m[e] = s.beta1 * m[e] + (1 - s.beta1) * grad[e];
    v[e] = s.beta2 * v[e] + (1 - s.beta2) * grad[e] * grad[e];
    params[e] -= s.learningRate * ((m[e] / c1) / (Math.sqrt(v[e] / c2) + s.epsilon) + s.weightDecay * params[e]);
  }
}

export interface DamRunOptions {
  /** Continue from this state (a paused run's, possibly saved and reloaded). */
  resume?: DamState;
  /** Where the linear layers' gradients are computed (the WebGPU backward); default the CPU. */
  offload?: CoefficientGradientOffload;
}

export class DamRun {
  readonly settings: DamTrainSettings;
  private currentState: DamState;
  private statusValue: DamStatus = 'idle';
  private readonly listeners = new Set<(e: DamEvent) => void>();
  private pauseController: AbortController | null = null;

  private readonly offload?: CoefficientGradientOffload;

  constructor(readonly objective: DamObjective, settings: Partial<DamTrainSettings> = {}, options: DamRunOptions = {}) {
    const { resume } = options;
    this.offload = options.offload;
    this.settings = { ...DEFAULT_TRAIN_SETTINGS, ...settings };
    checkSettings(this.settings);
    for (const e of objective.experts) {
      if (e.targets.length === 0) throw new MergeStudioError('dam-no-data', `DAM: expert '${e.name}' has no training sequences`, { model: e.name });
    }
    const size = objective.layout.size;
    if (resume && resume.coefficients.length !== size) throw new MergeStudioError('dam-state-mismatch', `DAM: the saved state has ${resume.coefficients.length} coefficients, this merge needs ${size}`, {});
    this.currentState = resume ?? { step: 0, coefficients: initialCoefficients(objective.layout), adamM: new Float64Array(size), adamV: new Float64Array(size), history: [], trainingSeconds: 0 };
    if (this.currentState.step >= this.settings.steps) this.statusValue = 'finished';
  }

  get state(): DamState {
    return this.currentState;
  }

  get status(): DamStatus {
    return this.statusValue;
  }

  /** Listens to steps and status changes; returns the unsubscribe function. */
  subscribe(listener: (e: DamEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Per learned tensor and model, the mean coefficient now (for the per-layer view). */
  coefficientMeans() {
    return coefficientMeans(this.objective.layout, this.currentState.coefficients);
  }

  /** Asks a running run to stop after its current step. */
  pause(): void {
    this.pauseController?.abort();
  }

  private emit(e: DamEvent): void {
    for (const l of this.listeners) l(e);
  }

  private setStatus(status: DamStatus): void {
    this.statusValue = status;
    this.emit({ type: 'status', status });
  }

  /** Trains until `settings.steps` (or a pause / abort); resolves with the status it stopped in.
   * Yields to the event loop between steps so that pause() and signals take effect. */
  async run(opts: { signal?: AbortSignal; onProgress?: ProgressCallback } = {}): Promise<DamStatus> {
    if (this.statusValue === 'running') throw new MergeStudioError('dam-already-running', 'DAM: this run is already training', {});
    if (this.statusValue === 'finished') return 'finished';
    const s = this.settings, st = this.currentState, experts = this.objective.experts;
    this.pauseController = new AbortController();
    const stopped = () => this.pauseController!.signal.aborted || opts.signal?.aborted === true;
    this.setStatus('running');
    try {
      while (st.step < s.steps) {
        await new Promise<void>((r) => setTimeout(r, 0));
        if (stopped()) {
          this.setStatus('paused');
          return 'paused';
        }
        const started = performance.now();
        const batch = experts.map((e, i) => batchIndices(e.targets.length, s.batchSize, s.seed, i, st.step));
        const r = this.offload ? await this.objective.evaluateOffloaded(st.coefficients, batch, s, this.offload) : this.objective.evaluate(st.coefficients, batch, s);
        if (!Number.isFinite(r.loss)) throw new MergeStudioError('dam-diverged', `DAM: the loss became ${r.loss} at step ${st.step + 1}; lower the learning rate`, { step: st.step + 1 });
        adamwUpdate(st.coefficients, r.gradient, st.adamM, st.adamV, st.step + 1, s);
        st.step++;
        st.trainingSeconds += (performance.now() - started) / 1000;
        const record: DamStepRecord = { step: st.step, loss: r.loss, distillation: r.distillation, similarity: r.similarity, seconds: st.trainingSeconds };
        st.history.push(record);
        this.emit({ type: 'step', record, steps: s.steps });
        opts.onProgress?.({ phase: 'dam-train', done: st.step, total: s.steps, rate: st.step / st.trainingSeconds, eta: (s.steps - st.step) * (st.trainingSeconds / st.step), message: `loss ${r.loss.toFixed(5)}` });
      }
      this.setStatus('finished');
      return 'finished';
    } catch (err) {
      this.setStatus('paused');
      throw err;
    } finally {
      this.pauseController = null;
    }
  }
}
