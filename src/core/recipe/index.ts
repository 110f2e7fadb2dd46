// Public surface of recipes: the type, YAML import/export, validation and per-tensor parameters.
export type { Recipe, RecipeTokenizer, TokenOverride, TokenSource, RecipeModel, RecipeSlice, SliceSource, ParamMap, ParamSetting, ParamCondition, ParamScalar } from './types.ts';
export { parseRecipeYaml, recipeToYaml, type ParseRecipeOptions } from './yaml.ts';
export { parseRecipeObject, checkRecipeAgainstMethod, referencedModels, formatPath, RECIPE_DTYPES, recipeTokenizer } from './validate.ts';
export { resolveParams, evaluateSetting, recipeSlices, outputLayerCount, type TensorSite, type ResolvedParams, type ResolvedInput, type ResolveOptions } from './params.ts';
export { closestName, editDistance } from './suggest.ts';
export { assembleStages, closestStage, documentModels, externalModels, recipeDocuments, renameModels, stageHint, stageNames, stageOrder } from './stages.ts';
