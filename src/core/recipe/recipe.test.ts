import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { getMethod } from '../methods/index.ts';
import { evaluateSetting, outputLayerCount, parseRecipeYaml, recipeToYaml, resolveParams } from './index.ts';
import { errorOf } from '../error-of.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');

describe('mergekit example recipes', () => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.yml'));
  it('has the examples of mergekit examples/ and docs/', () => {
    expect(files.length).toBeGreaterThanOrEqual(9);
  });
  for (const file of files) {
    it(`round-trips ${file}`, () => {
      const text = fixture(file);
      const recipe = parseRecipeYaml(text, { source: file });
      const yaml = recipeToYaml(recipe);
      // Same data as the original document, and the same recipe when read back.
      expect(parseYaml(yaml)).toEqual(parseYaml(text));
      expect(parseRecipeYaml(yaml)).toEqual(recipe);
    });
  }
  it('writes number lists in flow style like mergekit', () => {
    const yaml = recipeToYaml(parseRecipeYaml(fixture('orcamini-platy-44layer.yml')));
    expect(yaml).toContain('layer_range: [ 0, 24 ]');
  });
});

describe('gradients and filters follow mergekit semantics', () => {
  const ties = parseRecipeYaml(fixture('ties.yml'));
  const spec = getMethod('ties').params;
  const at = (name: string, layer: number) => resolveParams(ties, name, { layer }, 40, spec);

  it('interpolates a gradient at t = layer / (num_layers - 1)', () => {
    // density [1, 0.7, 0.1]: t = 13/39 = 1/3 -> scaled 2/3 -> 1*(1/3) + 0.7*(2/3) = 0.8
    expect(at('model.layers.13.mlp.up_proj.weight', 13).inputs[0].params.density).toBeCloseTo(0.8, 12);
    // t = 26/39 = 2/3 -> scaled 4/3 -> 0.7*(2/3) + 0.1*(1/3) = 0.5
    expect(at('model.layers.26.mlp.up_proj.weight', 26).inputs[0].params.density).toBeCloseTo(0.5, 12);
    expect(at('model.layers.0.mlp.up_proj.weight', 0).inputs[0].params.density).toBe(1);
    expect(at('model.layers.39.mlp.up_proj.weight', 39).inputs[0].params.density).toBeCloseTo(0.1, 12);
    // weight [0, 0.3, 0.7, 1] on model 1: t = 20/39 -> scaled 60/39 -> 0.3 + 0.4 * (21/39)
    expect(at('model.layers.20.self_attn.q_proj.weight', 20).inputs[1].params.weight).toBeCloseTo(0.3 + (0.4 * 21) / 39, 12);
  });

  it('gives embeddings and final weights t = 0 (a gradient\'s first value)', () => {
    for (const position of ['pre', 'post'] as const) {
      const r = resolveParams(ties, position === 'pre' ? 'model.embed_tokens.weight' : 'lm_head.weight', { layer: null, position }, 40, spec);
      expect(r.t).toBe(0);
      expect(r.inputs[0].params.density).toBe(1);
      expect(r.inputs[1].params.weight).toBe(0);
      expect(r.inputs.map((i) => i.inputLayer)).toEqual([null, null, null, null]);
    }
  });

  it('takes the first matching filter, with an unfiltered default', () => {
    expect(at('model.layers.5.mlp.down_proj.weight', 5).inputs[2].params.weight).toBe(0.5);
    expect(at('model.layers.5.self_attn.o_proj.weight', 5).inputs[2].params.weight).toBe(0);
  });

  it('appends the base model as the last input with top-level and default values', () => {
    const r = at('model.layers.3.mlp.up_proj.weight', 3);
    expect(r.inputs.map((i) => [i.model, i.isBase])).toEqual([
      ['psmathur/orca_mini_v3_13b', false],
      ['garage-bAInd/Platypus2-13B', false],
      ['WizardLM/WizardMath-13B-V1.0', false],
      ['TheBloke/Llama-2-13B-fp16', true],
    ]);
    expect(r.global).toMatchObject({ normalize: true, int8_mask: true });
  });

  it('applies per-tensor conditions of gradient-slerp.yml', () => {
    const recipe = parseRecipeYaml(fixture('gradient-slerp.yml'));
    const t = (name: string, layer: number) => resolveParams(recipe, name, { layer }, 40, getMethod('slerp').params).global.t;
    expect(t('model.layers.0.self_attn.q_proj.weight', 0)).toBe(0);
    expect(t('model.layers.39.self_attn.q_proj.weight', 39)).toBe(1);
    expect(t('model.layers.0.mlp.up_proj.weight', 0)).toBe(1);
    // [0, 0.5, 0.3, 0.7, 1] at t = 20/39: scaled = 80/39 = 2 + 2/39 -> 0.3 + 0.4 * 2/39
    expect(t('model.layers.20.self_attn.k_proj.weight', 20)).toBeCloseTo(0.3 + (0.4 * 2) / 39, 12);
    expect(t('model.layers.7.input_layernorm.weight', 7)).toBe(0.5);
  });

  it('lets a condition list without a match fall through to the next level', () => {
    const recipe = parseRecipeYaml(`
models:
  - model: a
    parameters:
      weight: [{filter: mlp, value: 2}]
  - model: b
parameters:
  weight: 0.25
merge_method: linear
`);
    const spec2 = getMethod('linear').params;
    expect(resolveParams(recipe, 'model.layers.0.mlp.up_proj.weight', { layer: 0 }, 4, spec2).inputs.map((i) => i.params.weight)).toEqual([2, 0.25]);
    expect(resolveParams(recipe, 'model.layers.0.self_attn.q_proj.weight', { layer: 0 }, 4, spec2).inputs.map((i) => i.params.weight)).toEqual([0.25, 0.25]);
  });

  it('computes t within each slice and maps output layers to input layers', () => {
    const recipe = parseRecipeYaml(`
slices:
  - sources: [{model: a, layer_range: [0, 3]}, {model: b, layer_range: [0, 3]}]
    parameters: {t: [0, 1]}
  - sources: [{model: a, layer_range: [5, 6]}, {model: b, layer_range: [2, 3]}]
merge_method: slerp
base_model: a
parameters: {t: 0.9}
`);
    const spec2 = getMethod('slerp').params;
    expect(outputLayerCount(recipe, 99)).toBe(4);
    const r1 = resolveParams(recipe, 'x', { layer: 1 }, 99, spec2);
    expect([r1.slice, r1.t, r1.global.t]).toEqual([0, 0.5, 0.5]);
    const r3 = resolveParams(recipe, 'x', { layer: 3 }, 99, spec2);
    // a one-layer slice has t = 1 (mergekit), and no slice parameter: the top-level value
    expect([r3.slice, r3.t, r3.global.t]).toEqual([1, 1, 0.9]);
    expect(r3.inputs.map((i) => i.inputLayer)).toEqual([5, 2]);
    expect(resolveParams(recipe, 'lm_head.weight', { layer: null, position: 'post' }, 99, spec2).slice).toBe(1);
    expect(() => resolveParams(recipe, 'x', { layer: 4 }, 99, spec2)).toThrow(/layer 4 is outside the merged model's 4 layers/);
  });

  it('reads YAML 1.1 booleans like PyYAML does', () => {
    const recipe = parseRecipeYaml('models: [{model: a, parameters: {weight: 1}}, {model: b, parameters: {weight: 1}}]\nmerge_method: linear\nparameters: {normalize: no}\n');
    expect(recipe.parameters).toEqual({ normalize: false });
  });

  it('writes model names that YAML 1.1 would read as booleans or numbers quoted, so they read back as names', () => {
    const names = ['y', 'no', 'on', 'e0', '1:20', '1_000', 'org/model'];
    const text = `models:\n${names.map((n) => `  - model: "${n}"\n    parameters: {weight: 0.5}`).join('\n')}\nmerge_method: linear\n`;
    const recipe = parseRecipeYaml(text);
    const back = parseRecipeYaml(recipeToYaml(recipe));
    expect(back).toEqual(recipe);
    expect(back.models?.map((m) => m.model)).toEqual(names);
  });

  it('evaluates settings exactly like mergekit evaluate_setting', () => {
    expect(evaluateSetting([0, 1], 'x', 0.25)).toBe(0.25);
    expect(evaluateSetting([2], 'x', 0.7)).toBe(2);
    expect(evaluateSetting([1, 3, 2], 'x', 1)).toBe(2);
    expect(evaluateSetting([true, false, true], 'x', 0.6)).toBe(false);
    expect(evaluateSetting([{ filter: '*', value: 3 }], 'x', 0)).toBe(3);
    expect(evaluateSetting([{ filter: 'mlp', value: 3 }], 'attn', 0)).toBeUndefined();
  });
});

describe('recipe errors name the YAML path and suggest the closest name', () => {
  it('misspelled parameter', () => {
    const e = errorOf(() => parseRecipeYaml('models:\n  - model: a\n    parameters:\n      wieght: 1\n  - model: b\n    parameters: {weight: 1}\nmerge_method: linear\n'));
    expect(e.code).toBe('recipe-unknown-parameter');
    expect(e.message).toMatch(/^line 4: models\[0\]\.parameters\.wieght: linear has no parameter 'wieght'; did you mean 'weight'\?/);
  });
  it('misspelled top-level key', () => {
    const e = errorOf(() => parseRecipeYaml('merge_methd: linear\nmodels: [{model: a}]\n'));
    expect(e.code).toBe('recipe-unknown-key');
    expect(e.message).toContain("unknown key 'merge_methd'; did you mean 'merge_method'?");
  });
  it('unknown method', () => {
    const e = errorOf(() => parseRecipeYaml('merge_method: tie\nbase_model: a\nmodels: [{model: b}]\n'));
    expect(e.message).toMatch(/merge_method: unknown merge_method 'tie'; did you mean 'ties'\?/);
  });
  it('bad layer range', () => {
    const e = errorOf(() => parseRecipeYaml('merge_method: passthrough\nslices:\n  - sources:\n      - {model: a, layer_range: [0, 4]}\n      - {model: b, layer_range: [4, 2]}\n'));
    expect(e.code).toBe('recipe-bad-layer-range');
    expect(e.message).toContain('line 5: slices[0].sources[1].layer_range: end 2 must be greater than start 4');
  });
  it('sources of different lengths', () => {
    const e = errorOf(() => parseRecipeYaml('merge_method: slerp\nbase_model: a\nparameters: {t: 0.5}\nslices:\n  - sources:\n      - {model: a, layer_range: [0, 4]}\n      - {model: b, layer_range: [0, 3]}\n'));
    expect(e.message).toContain('slices[0].sources[1].layer_range: all sources of a slice must span the same number of layers');
  });
  it('missing base for a method that needs one', () => {
    const e = errorOf(() => parseRecipeYaml('merge_method: ties\nmodels: [{model: a, parameters: {weight: 1}}]\n'));
    expect(e.code).toBe('recipe-missing-base');
    expect(e.message).toContain('base_model: ties needs a base_model');
  });
  it('wrong parameter type and out-of-range values', () => {
    expect(errorOf(() => parseRecipeYaml('merge_method: slerp\nbase_model: a\nmodels: [{model: a}, {model: b}]\nparameters: {t: yes please}\n')).message).toContain(
      'parameters.t: expected a number, a boolean or a gradient list, found string "yes please"',
    );
    expect(errorOf(() => parseRecipeYaml('merge_method: slerp\nbase_model: a\nmodels: [{model: a}, {model: b}]\nparameters: {t: [0, 1.5]}\n')).message).toContain(
      "parameters.t[1]: slerp parameter 't' must lie in [0, 1], found 1.5",
    );
    expect(errorOf(() => parseRecipeYaml('merge_method: ties\nbase_model: a\nmodels: [{model: b, parameters: {weight: 1, normalize: true}}]\n')).message).toContain(
      "models[0].parameters.normalize: 'normalize' is a global parameter of ties",
    );
  });
  it('required parameter missing', () => {
    const e = errorOf(() => parseRecipeYaml('merge_method: linear\nmodels: [{model: a, parameters: {weight: 1}}, {model: b}]\n'));
    expect(e.code).toBe('recipe-missing-parameter');
    expect(e.message).toContain("models[1].parameters: linear needs the parameter 'weight' for model 'b'");
  });
  it('unsupported mergekit features are refused clearly', () => {
    expect(errorOf(() => parseRecipeYaml('merge_method: linear\nmodules: {}\n')).code).toBe('recipe-unsupported');
  });
  it('bad dtype, bad YAML, both models and slices', () => {
    expect(errorOf(() => parseRecipeYaml('merge_method: linear\nmodels: [{model: a}]\nparameters: {weight: 1}\ndtype: bfloat61\n')).message).toContain("did you mean 'bfloat16'?");
    expect(errorOf(() => parseRecipeYaml('merge_method: [linear\n')).code).toBe('recipe-yaml');
    expect(errorOf(() => parseRecipeYaml('merge_method: linear\nmodels: [{model: a}]\nslices: []\n')).message).toContain("give either 'models' or 'slices', not both");
  });
});

describe("mergekit's tokenizer settings", () => {
  const head = 'merge_method: task_arithmetic\nbase_model: a\nmodels:\n  - model: b\n    parameters: {weight: 1}\n  - model: c\n    parameters: {weight: 0.5}\n';
  it('tokenizer_source union/base/model and the tokenizer: block round-trip through YAML', () => {
    for (const ts of ['union', 'base', 'c']) expect(parseRecipeYaml(`${head}tokenizer_source: ${ts}\n`).tokenizer_source).toBe(ts);
    const text = `${head}tokenizer:\n  source: union\n  pad_to_multiple_of: 64\n  tokens:\n    <|im_start|>:\n      source: b\n    <|im_end|>:\n      source: {kind: model_token, model: c, token: </s>}\n      force: true\n    <tool>:\n      source: {kind: zero}\n    <x>:\n      source: {kind: model_token, model: a, token_id: 3}\nchat_template: chatml\n`;
    const recipe = parseRecipeYaml(text);
    expect(recipe.tokenizer).toEqual({
      source: 'union',
      pad_to_multiple_of: 64,
      tokens: {
        '<|im_start|>': { source: 'b' },
        '<|im_end|>': { source: { kind: 'model_token', model: 'c', token: '</s>' }, force: true },
        '<tool>': { source: { kind: 'zero' } },
        '<x>': { source: { kind: 'model_token', model: 'a', token_id: 3 } },
      },
    });
    expect(recipe.chat_template).toBe('chatml');
    const yaml = recipeToYaml(recipe);
    expect(parseRecipeYaml(yaml)).toEqual(recipe);
    expect(yaml).toMatch(/\ntokenizer:\n {2}source: union\n/);
    // A template string (mergekit: 20+ characters with a '{') and 'auto' are kept as written.
    const template = "{% for m in messages %}{{ m['content'] }}{% endfor %}";
    expect(parseRecipeYaml(`${head}chat_template: ${JSON.stringify(template)}\n`).chat_template).toBe(template);
    expect(parseRecipeYaml(`${head}chat_template: auto\n`).chat_template).toBe('auto');
  });
  it('misspelled keys, unknown models and tokens, both settings: errors name the key', () => {
    const e = (tail: string) => errorOf(() => parseRecipeYaml(`${head}${tail}`));
    expect(e('tokenizer:\n  sorce: union\n').message).toMatch(/line \d+: tokenizer\.sorce: unknown key 'sorce'; did you mean 'source'\?/);
    expect(e('tokenizer:\n  tokens:\n    <a>: {source: b, forse: true}\n').message).toContain("tokenizer.tokens.<a>.forse: unknown key 'forse'; did you mean 'force'?");
    expect(e('tokenizer_source: unoin\n').message).toContain("tokenizer_source: 'unoin' is neither 'union', 'base' nor one of the recipe's models; did you mean 'union'?");
    expect(e('tokenizer:\n  source: d\n').message).toContain("tokenizer.source: 'd' is neither");
    expect(e('tokenizer:\n  tokens:\n    <a>: {source: bb}\n').message).toContain("tokenizer.tokens.<a>.source: token '<a>': 'bb' is not one of the recipe's models; did you mean 'b'?");
    expect(e('tokenizer:\n  tokens:\n    <a>: {source: {kind: model_token, model: z, token: x}}\n').message).toContain("tokenizer.tokens.<a>.source.model: token '<a>': 'z' is not one of the recipe's models");
    expect(e('tokenizer:\n  tokens:\n    <a>: {source: {kind: model_tokn, model: b, token: x}}\n').message).toContain("did you mean 'model_token'?");
    expect(e('tokenizer:\n  tokens:\n    <a>: {source: {kind: model_token, model: b}}\n').message).toContain("needs 'token'");
    expect(e('tokenizer:\n  tokens:\n    <a>: {force: true}\n').message).toContain("tokenizer.tokens.<a>.source: token '<a>' needs a source");
    expect(e('tokenizer:\n  pad_to_multiple_of: 0\n').message).toContain('tokenizer.pad_to_multiple_of: expected a positive integer');
    expect(e('tokenizer_source: base\ntokenizer: {source: union}\n').message).toContain("give either 'tokenizer_source' or a 'tokenizer:' block");
    const ct = e('chat_template: chatm\n');
    expect(ct.code).toBe('recipe-bad-chat-template');
    expect(ct.message).toMatch(/line \d+: chat_template: unknown chat template 'chatm'; did you mean 'chatml'\?/);
  });
});
