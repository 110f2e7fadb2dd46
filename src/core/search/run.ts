import { MergeStudioError } from '../errors.ts';
import type { ProgressCallback } from '../progress.ts';
import { lossReference, toLosses, validateObjectives, type ObjectiveSpec } from './objectives.ts';
import type { OptimizerSpec } from './optimizer.ts';
import { createOptimizer } from './optimizers.ts';
import { hypervolume, paretoFront } from './pareto.ts';
import { brackets, promote, validateSchedule, type FidelitySchedule } from './schedule.ts';
import type { SearchSpace } from './space.ts';
import { memoryTrialStore, type TrialRecord, type TrialStore } from './store.ts';

/** What a search run needs besides the space and the objective function. */
export interface SearchConfig {
  objectives: ObjectiveSpec[];
  optimizer: OptimizerSpec;
  fidelity: FidelitySchedule;
  /** Stop after this many evaluations and/or this cost (in full evaluations: a trial at fidelity
   * 1/9 costs 1/9), whichever comes first. */
  budget: { trials?: number; cost?: number };
  seed: number;
}

/** Evaluates one recipe on the first `fidelity` fraction of each task's examples. */
export type ObjectiveFunction<R> = (recipe: R, fidelity: number, signal: AbortSignal) => Promise<Record<string, number>>;

export type SearchStatus = 'idle' | 'running' | 'paused' | 'stopped' | 'done' | 'failed';

export type SearchEvent<R> =
  | { type: 'trial'; trial: TrialRecord<R>; replayed: boolean }
  | { type: 'status'; status: SearchStatus; error?: unknown };

export interface SearchSummary {
  trials: number;
  cost: number;
  /** Trials per fidelity level. */
  perFidelity: Record<string, number>;
  /** Trial ids on the Pareto front of the full-fidelity trials. */
  front: number[];
  hypervolume: number;
  /** After each trial: its id, cumulative cost, and the hypervolume and best value of each
   * objective over the full-fidelity trials so far (for best-so-far and hypervolume charts). */
  history: { trial: number; cost: number; hypervolume: number; best: Record<string, number> }[];
  /** Best full-fidelity value of each objective and the trial that reached it. */
  best: Record<string, { value: number; trial: number }>;
}

class Paused extends Error {}

/** A seeded, resumable search. The whole run is a deterministic function of (config, space, seed,
 * objective values), so pausing aborts the evaluation in flight and `start()` later replays the
 * stored trials through a fresh optimizer (no re-evaluation) and goes on exactly as an
 * uninterrupted run would. UI-agnostic: the studio and the CLI listen through `subscribe`. */
export class SearchRun<R = unknown> {
  private trialList: TrialRecord<R>[];
  private listeners = new Set<(e: SearchEvent<R>) => void>();
  private controller: AbortController | null = null;
  private currentStatus: SearchStatus = 'idle';
  private readonly reference: number[];

  private constructor(
    readonly config: SearchConfig,
    readonly space: SearchSpace<R>,
    private readonly evaluate: ObjectiveFunction<R>,
    private readonly store: TrialStore,
    stored: TrialRecord<R>[],
    private readonly onProgress?: ProgressCallback,
  ) {
    this.trialList = stored;
    this.reference = lossReference(config.objectives);
  }

  /** Opens a run, loading the trials its store already holds (a reload or a resumed CLI run). */
  static async open<R>(
    config: SearchConfig,
    space: SearchSpace<R>,
    evaluate: ObjectiveFunction<R>,
    options: { store?: TrialStore; onProgress?: ProgressCallback } = {},
  ): Promise<SearchRun<R>> {
    validateConfig(config, space);
    const store = options.store ?? memoryTrialStore();
    const stored = (await store.load()) as TrialRecord<R>[];
    return new SearchRun(config, space, evaluate, store, stored, options.onProgress);
  }

  get status(): SearchStatus {
    return this.currentStatus;
  }

  get trials(): readonly TrialRecord<R>[] {
    return this.trialList;
  }

  subscribe(listener: (e: SearchEvent<R>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Runs (or resumes) until the budget is spent, `pause()`/`stop()` is called or `signal` aborts
   * (which pauses). Resolves with the final status; rejects if the objective function fails. */
  async start(signal?: AbortSignal): Promise<SearchStatus> {
    if (this.currentStatus === 'running') throw new MergeStudioError('search-running', 'this search is already running');
    if (this.currentStatus === 'stopped' || this.currentStatus === 'done') return this.currentStatus;
    const controller = new AbortController();
    this.controller = controller;
    const onAbort = () => controller.abort(new Paused('paused'));
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();
    this.setStatus('running');
    try {
      await this.program(controller.signal);
      this.setStatus('done');
    } catch (err) {
      if (controller.signal.aborted) {
        if ((this.currentStatus as SearchStatus) === 'running') this.setStatus('paused');
      } else {
        this.setStatus('failed', err);
        throw err;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.controller = null;
    }
    return this.currentStatus;
  }

  /** Aborts the evaluation in flight; `start()` resumes. */
  pause(): void {
    if (this.currentStatus !== 'running') return;
    this.setStatus('paused');
    this.controller?.abort(new Paused('paused'));
  }

  /** Ends the run for good (the trials stay). */
  stop(): void {
    const wasRunning = this.currentStatus === 'running';
    this.setStatus('stopped');
    if (wasRunning) this.controller?.abort(new Paused('stopped'));
  }

  /** Front, hypervolume, best values and per-fidelity counts of the trials so far. */
  summary(): SearchSummary {
    const objectives = this.config.objectives;
    const full: { id: number; losses: number[] }[] = [];
    const history: SearchSummary['history'] = [];
    const perFidelity: Record<string, number> = {};
    const best: SearchSummary['best'] = {};
    let cost = 0;
    let hv = 0;
    for (const t of this.trialList) {
      cost += t.fidelity;
      perFidelity[String(t.fidelity)] = (perFidelity[String(t.fidelity)] ?? 0) + 1;
      if (t.fidelity === 1) {
        full.push({ id: t.id, losses: toLosses(t.objectives, objectives) });
        hv = hypervolume(full.map((f) => f.losses), this.reference);
        for (const o of objectives) {
          const v = t.objectives[o.name];
          const prev = best[o.name];
          if (Number.isFinite(v) && (!prev || (o.direction === 'max' ? v > prev.value : v < prev.value))) {
            best[o.name] = { value: v, trial: t.id };
          }
        }
      }
      history.push({ trial: t.id, cost, hypervolume: hv, best: Object.fromEntries(Object.entries(best).map(([k, b]) => [k, b.value])) });
    }
    const front = paretoFront(full.map((f) => f.losses)).map((i) => full[i].id);
    return { trials: this.trialList.length, cost, perFidelity, front, hypervolume: hv, history, best };
  }

  private setStatus(status: SearchStatus, error?: unknown): void {
    this.currentStatus = status;
    for (const l of this.listeners) l({ type: 'status', status, error });
  }

  private emit(e: SearchEvent<R>): void {
    for (const l of this.listeners) l(e);
  }

  /** The deterministic search: Hyperband / successive-halving brackets over the fidelity levels
   * (one level: plain sequential ask/evaluate/tell), candidates proposed by the optimizer. */
  private async program(signal: AbortSignal): Promise<void> {
    const { config, space } = this;
    const optimizer = createOptimizer(config.optimizer, {
      dim: space.dimensions.length,
      objectives: config.objectives.length,
      seed: config.seed,
    });
    const plan = brackets(config.fidelity);
    let trialIndex = 0;
    let candidateCount = 0;
    let cost = 0;
    const budget = config.budget;

    // Returns null once the budget cannot pay for this evaluation.
    const measure = async (x: number[], candidate: number, fidelity: number, bracket: number, rung: number) => {
      if (budget.trials !== undefined && trialIndex >= budget.trials) return null;
      if (budget.cost !== undefined && cost + fidelity > budget.cost + 1e-9) return null;
      const replay = this.trialList[trialIndex];
      let trial: TrialRecord<R>;
      if (replay) {
        if (replay.fidelity !== fidelity || replay.params.length !== x.length || replay.params.some((v, i) => v !== x[i])) {
          throw new MergeStudioError(
            'search-resume-mismatch',
            `stored trial ${trialIndex} does not match what this search proposes now (fidelity ${replay.fidelity} vs ${fidelity}); the spec, seed or code changed since the trials were written — start a new output folder`,
            { trial: trialIndex },
          );
        }
        trial = replay;
      } else {
        if (signal.aborted) throw signal.reason;
        const decoded = space.decode(x);
        const began = performance.now();
        const objectives = await this.evaluate(decoded.recipe, fidelity, signal);
        if (signal.aborted) throw signal.reason;
        trial = {
          id: trialIndex,
          candidate,
          bracket,
          rung,
          params: x,
          values: decoded.values,
          recipe: decoded.recipe,
          fidelity,
          objectives,
          seconds: (performance.now() - began) / 1000,
          finishedAt: new Date().toISOString(),
        };
        toLosses(objectives, config.objectives); // refuse a result missing an objective before storing it
        await this.store.append(trial);
        this.trialList.push(trial);
      }
      trialIndex += 1;
      cost += fidelity;
      this.emit({ type: 'trial', trial, replayed: replay !== undefined });
      this.onProgress?.({
        phase: 'search',
        done: budget.cost !== undefined ? cost : trialIndex,
        total: budget.cost ?? budget.trials ?? 0,
        message: `trial ${trial.id} (candidate ${candidate}, fidelity ${fidelity.toFixed(3)}): ${Object.entries(trial.objectives)
          .map(([k, v]) => `${k}=${v.toFixed(4)}`)
          .join(' ')}`,
      });
      const losses = toLosses(trial.objectives, config.objectives);
      optimizer.tell(x, losses, fidelity);
      return losses;
    };

    for (let bracket = 0; ; bracket++) {
      const rungs = plan[bracket % plan.length];
      let members: { x: number[]; candidate: number; losses: number[] }[] = [];
      for (let i = 0; i < rungs[0].candidates; i++) {
        const x = optimizer.ask();
        const candidate = candidateCount++;
        const losses = await measure(x, candidate, rungs[0].fidelity, bracket, 0);
        if (!losses) return;
        members.push({ x, candidate, losses });
      }
      for (let r = 1; r < rungs.length; r++) {
        const promoted = promote(members.map((m) => m.losses), rungs[r].candidates).map((i) => members[i]);
        members = [];
        for (const m of promoted) {
          const losses = await measure(m.x, m.candidate, rungs[r].fidelity, bracket, r);
          if (!losses) return;
          members.push({ ...m, losses });
        }
      }
    }
  }
}

function validateConfig(config: SearchConfig, space: SearchSpace<unknown>): void {
  validateObjectives(config.objectives);
  validateSchedule(config.fidelity);
  const { trials, cost } = config.budget ?? {};
  if (trials === undefined && cost === undefined) {
    throw new MergeStudioError('search-budget', 'search spec: budget needs trials and/or cost (in full evaluations), found neither');
  }
  for (const [k, v] of Object.entries({ trials, cost })) {
    if (v !== undefined && !(typeof v === 'number' && v > 0)) {
      throw new MergeStudioError('search-budget', `search spec: budget.${k} must be a positive number, found ${String(v)}`);
    }
  }
  if (!Number.isInteger(config.seed)) throw new MergeStudioError('search-seed', `search spec: seed must be an integer, found ${String(config.seed)}`);
  if (space.dimensions.length === 0) throw new MergeStudioError('search-space-empty', `search space '${space.kind}' has no dimensions to search`);
}
