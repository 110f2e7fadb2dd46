// Public surface of the merge engine: plan a recipe over opened models, then stream it to files
// or merge it into memory, on the CPU or any other MergeBackend.
export { plan, type Plan, type PlanStep, type PlanInput, type PlanOptions, type StagePlan } from './plan.ts';
export { execute, mergeToMemory, mergeToStoredTensors, streamedMergeInput, modelCard, cardInfoFromPlan, type ExportOptions, type ExportResult, type MemoryMergeOptions, type StoredMergedTensor } from './execute.ts';
export { cpuBackend, type MergeBackend } from './backend.ts';
