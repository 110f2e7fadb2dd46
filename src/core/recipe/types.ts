// The recipe: one mergekit-shaped description of a merge. The studio's store, the CLI and the
// search all hold this same object; YAML import/export maps it 1:1 to mergekit's configuration.
import type { ParamValue } from '../methods/types.ts';

/** A scalar parameter value as written in a recipe. */
export type ParamScalar = ParamValue;

/** One `{filter, value}` entry: applies when `filter` is a substring of the tensor name (or is
 * absent / `*`, which matches every tensor). The first matching entry wins. */
export interface ParamCondition {
  filter?: string;
  value: ParamScalar | ParamScalar[];
}

/** A scalar, a gradient (list interpolated across layers) or a list of conditions. */
export type ParamSetting = ParamScalar | ParamScalar[] | ParamCondition[];

export type ParamMap = Record<string, ParamSetting>;

export interface RecipeModel {
  model: string;
  parameters?: ParamMap;
}

export interface SliceSource {
  model: string;
  /** Input layers [start, end), end exclusive, as in mergekit. */
  layer_range: [number, number];
  parameters?: ParamMap;
}

export interface RecipeSlice {
  sources: SliceSource[];
  parameters?: ParamMap;
}

export interface Recipe {
  name?: string;
  merge_method: string;
  base_model?: string;
  /** Exactly one of `models` and `slices` is given. */
  models?: RecipeModel[];
  slices?: RecipeSlice[];
  parameters?: ParamMap;
  /** mergekit dtype names: float32, float16, bfloat16 (and their short forms). */
  dtype?: string;
  out_dtype?: string;
  /** mergekit's `tokenizer_source`: 'union', 'base' or one of the recipe's models. Given (or
   * `tokenizer` given), the embedding and lm_head rows follow the merged vocabulary (see
   * src/core/tokenizer/README.md). */
  tokenizer_source?: string;
  /** mergekit's `tokenizer:` block (exclusive with tokenizer_source). */
  tokenizer?: RecipeTokenizer;
  /** A built-in template name (see CHAT_TEMPLATES), a Jinja template string, or 'auto' (the
   * template most input models share); written into the export's tokenizer_config.json. */
  chat_template?: string;
  random_seed?: number;
  /** The earlier documents of a multi-document recipe (mergekit-multi): each has a `name` that
   * later documents use as a model reference. The recipe itself is the final document. */
  stages?: Recipe[];
}

/** Where the embedding row of a token comes from (mergekit's `TokenEmbeddingConfig.source`): a
 * model's own row for that token, a zero row, or the row of some token of a model. */
export type TokenSource = string | { kind: 'zero' } | { kind: 'model_token'; model: string; token?: string; token_id?: number };

export interface TokenOverride {
  source?: TokenSource;
  /** Use the source's row even in models that have the token. */
  force?: boolean;
}

export interface RecipeTokenizer {
  /** 'union' (mergekit's default), 'base' or a model of the recipe. */
  source?: string;
  /** Per-token overrides, by token text; a token no model has is added to the vocabulary. */
  tokens?: Record<string, TokenOverride>;
  /** The embedding's row count is rounded up to a multiple of this. */
  pad_to_multiple_of?: number;
}
