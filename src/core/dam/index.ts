// Public surface of Differentiable Adaptive Merging: prepare the problem from experts and their
// data, train the coefficients in a pausable DamRun, export the folded merge and the coefficients.
export { coefficientLayout, coefficientMeans, initialCoefficients, type CoefficientBlock, type CoefficientKind, type CoefficientLayout, type DamScope } from './coefficients.ts';
export { prepareDamProblem, trainingTexts, trainingSequences, type DamDataOptions, type DamExpertSource, type DamProblem } from './data.ts';
export { COEFFICIENTS_FILE, coefficientsSafetensors, damPlan, exportDamMerge, type DamExportOptions } from './export.ts';
export { teacherTargets, type TeacherTargets } from './loss.ts';
export { DamObjective, DEFAULT_LOSS_SETTINGS, type DamExpertData, type DamLossResult, type DamLossSettings } from './objective.ts';
export { parseDamSpec, type DamSpec, type DamSpecExpert } from './spec.ts';
export { DamRun, DEFAULT_TRAIN_SETTINGS, type DamEvent, type DamState, type DamStatus, type DamStepRecord, type DamTrainSettings } from './train.ts';
