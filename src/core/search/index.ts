/** Automated merging: spaces (global, layer-wise fusion, depth-wise integration) over mergekit
 * recipes, ask/tell optimizers, multi-fidelity scheduling and the Pareto front of a run. */
export { SearchRun, type ObjectiveFunction, type SearchConfig, type SearchEvent, type SearchStatus, type SearchSummary } from './run.ts';
export { createSpace, SPACE_METHODS, type MergeFamily, type ParameterRanges, type SpaceMethod, type SpaceSpec } from './spaces.ts';
export type { Dimension, DimensionValue, SearchSpace } from './space.ts';
export { parseSearchSpec, type SearchSpec } from './spec.ts';
export { keyValueTrialStore, memoryTrialStore, parseTrialLines, type KeyValueStorage, type TrialRecord, type TrialStore } from './store.ts';
export { createOptimizer, OPTIMIZER_KINDS } from './optimizers.ts';
export type { Optimizer, OptimizerKind, OptimizerSpec } from './optimizer.ts';
export { brackets, type FidelitySchedule } from './schedule.ts';
export { crowdingDistance, dominates, hypervolume, nonDominatedSort, paretoFront } from './pareto.ts';
export { lossReference, toLosses, type ObjectiveSpec } from './objectives.ts';
export { Prng } from './prng.ts';
