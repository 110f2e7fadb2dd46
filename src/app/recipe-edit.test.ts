// The studio's curve edits against the engine's planner: for every output tensor the plan merges,
// the value the chart draws (layer curve or embedding/final point) is the value the plan uses.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plan } from '../core/engine/index.ts';
import { nodeFolderTree } from '../core/io/node-file.ts';
import { getMethod } from '../core/methods/index.ts';
import { openModel, type ModelHandle } from '../core/model/handle.ts';
import { parseRecipeYaml, recipeToYaml, type Recipe } from '../core/recipe/index.ts';
import { FIXTURE_LLAMA, writeFixtureModel } from '../../tools/mock-hub/fixture-zoo.ts';
import type { ModuleGroup } from '../worker/protocol.ts';
import {
  PRESETS, edgeValues, isSplit, layerCurve, parseGradient, reorder, stackSlices, validateParamInput, withBase, withCurveChange, withGradient,
  withLayerValue, withMethod, withMirroredCurve, withModelAdded, withModelRemoved, withStack, type LayerLayout,
} from './recipe-edit.ts';

const LAYERS = 4;
let dir: string;
const handles = new Map<string, ModelHandle>();
const layout: LayerLayout = {
  numLayers: LAYERS,
  layerTensors: { attention: 'model.layers.0.self_attn.q_proj.weight', mlp: 'model.layers.0.mlp.up_proj.weight', other: 'model.layers.0.input_layernorm.weight' },
  edgeTensors: { pre: 'model.embed_tokens.weight', post: 'lm_head.weight' },
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'studio-edit-'));
  for (const [name, seed] of [['base', 1], ['add', 2], ['reverse', 3]] as const) {
    await writeFixtureModel(join(dir, name), { ...FIXTURE_LLAMA, layers: LAYERS, hidden: 16, intermediate: 32 }, seed);
    handles.set(`zoo/${name}`, await openModel(nodeFolderTree(join(dir, name)), undefined, `zoo/${name}`));
  }
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function groupOf(name: string): ModuleGroup {
  return name.includes('self_attn') ? 'attention' : name.includes('mlp') ? 'mlp' : 'other';
}

/** Every planned step's parameter equals what the chart shows for its layer and group. */
function expectChartMatchesPlan(recipe: Recipe, param: string) {
  const p = plan(recipe, handles);
  const spec = getMethod(recipe.merge_method).params.find((s) => s.name === param)!;
  let checked = 0;
  for (const step of p.steps) {
    const layer = step.role.layer;
    step.models.forEach((input, i) => {
      const planned = spec.scope === 'model' ? step.modelParams[i][param] : step.global[param];
      const model = spec.scope === 'model' ? input.model : null;
      const drawn = layer === null
        ? edgeValues(recipe, layout, spec, model)[step.role.position === 'pre' ? 'pre' : 'post']
        : layerCurve(recipe, layout, spec, model, groupOf(step.output))[layer];
      expect(drawn, `${step.output} ${input.model}`).toBeCloseTo(planned as number, 12);
      checked++;
    });
  }
  expect(checked).toBeGreaterThan(LAYERS * 9);
}

function demoRecipe(): Recipe {
  let r: Recipe = { merge_method: 'task_arithmetic' };
  r = withBase(r, 'zoo/base');
  r = withModelAdded(r, 'zoo/add');
  return withModelAdded(r, 'zoo/reverse');
}

describe('per-layer edits', () => {
  it('starts every expert at weight 1 and reads the engine values back', () => {
    const r = demoRecipe();
    expect(r.models).toEqual([{ model: 'zoo/add', parameters: { weight: 1 } }, { model: 'zoo/reverse', parameters: { weight: 1 } }]);
    expectChartMatchesPlan(r, 'weight');
  });

  it('moving one layer point writes a per-layer gradient that the planner resolves to the same values', () => {
    const spec = getMethod('task_arithmetic').params.find((s) => s.name === 'weight')!;
    const r = withLayerValue(demoRecipe(), layout, spec, 'zoo/add', null, false, 2, 0.25);
    expect(r.models![0].parameters!.weight).toEqual([1, 1, 0.25, 1]);
    expect(layerCurve(r, layout, spec, 'zoo/add', 'mlp')).toEqual([1, 1, 0.25, 1]);
    expect(layerCurve(r, layout, spec, 'zoo/reverse', 'mlp')).toEqual([1, 1, 1, 1]);
    expectChartMatchesPlan(r, 'weight');
    // and it survives a YAML round trip
    expect(parseRecipeYaml(recipeToYaml(r))).toEqual(r);
  });

  it('split curves become mergekit filter lists; embeddings and final weights take the first value', () => {
    const spec = getMethod('task_arithmetic').params.find((s) => s.name === 'weight')!;
    let r = withCurveChange(demoRecipe(), layout, spec, 'zoo/add', 'attention', true, PRESETS.ramp(0.2, 0.8));
    r = withCurveChange(r, layout, spec, 'zoo/add', 'mlp', true, PRESETS.ramp(0.9, 0.3));
    expect(isSplit(r, layout, spec, 'zoo/add')).toBe(true);
    expect(r.models![0].parameters!.weight).toEqual([{ filter: 'self_attn', value: [0.2, 0.4, 0.6, 0.8] }, { filter: 'mlp', value: [0.9, 0.7, 0.5, 0.3] }, { value: 1 }]);
    // mergekit: the embeddings and lm_head match no filter, so they take the fallback entry at t = 0
    expect(edgeValues(r, layout, spec, 'zoo/add')).toEqual({ pre: 1, post: 1 });
    expectChartMatchesPlan(r, 'weight');
  });

  it('a mergekit gradient list is drawn interpolated across the layers, as merged', () => {
    const spec = getMethod('task_arithmetic').params.find((s) => s.name === 'weight')!;
    const gradient = parseGradient('[0, 1, 0]');
    expect(gradient).toEqual([0, 1, 0]);
    const r = withGradient(demoRecipe(), 'zoo/reverse', 'weight', null, layout, spec, false, gradient as number[]);
    const curve = layerCurve(r, layout, spec, 'zoo/reverse', 'attention');
    expect(curve[0]).toBe(0);
    expect(curve[1]).toBeCloseTo(2 / 3, 12);
    expect(curve[2]).toBeCloseTo(2 / 3, 12);
    expect(curve[3]).toBe(0);
    expect(edgeValues(r, layout, spec, 'zoo/reverse')).toEqual({ pre: 0, post: 0 });
    expectChartMatchesPlan(r, 'weight');
  });

  it('global parameters (lambda) and whole-curve moves: shift, scale, mirror, clamped to the schema', () => {
    const ta = getMethod('task_arithmetic').params;
    const lambda = ta.find((s) => s.name === 'lambda')!;
    let r = withCurveChange(demoRecipe(), layout, lambda, null, null, false, PRESETS.ramp(0.5, 1.1));
    r = withCurveChange(r, layout, lambda, null, null, false, PRESETS.shift(0.1));
    expect(r.parameters!.lambda).toEqual([0.6, 0.8, 1, 1.2]);
    expectChartMatchesPlan(r, 'lambda');
    const weight = ta.find((s) => s.name === 'weight')!;
    r = withCurveChange(r, layout, weight, 'zoo/add', null, false, PRESETS.ramp(0, 0.6));
    r = withCurveChange(r, layout, weight, 'zoo/add', null, false, PRESETS.scale(2));
    expect(r.models![0].parameters!.weight).toEqual([0, 0.4, 0.8, 1.2]);
    r = withMirroredCurve(r, layout, weight, 'zoo/add', 'zoo/reverse', false);
    expect(r.models![1].parameters!.weight).toEqual([1.2, 0.8, 0.4, 0]);
    expectChartMatchesPlan(r, 'weight');
    const ties = withMethod(r, 'ties');
    const density = getMethod('ties').params.find((s) => s.name === 'density')!;
    const clamped = withCurveChange(ties, layout, density, 'zoo/add', null, false, PRESETS.flat(1.7));
    expect(clamped.models![0].parameters!.density).toBe(1);
  });

  it('validates typed parameter values against the schema', () => {
    const density = getMethod('ties').params.find((s) => s.name === 'density')!;
    expect(validateParamInput(density, '0.4')).toEqual({ value: 0.4 });
    expect(validateParamInput(density, '1.5')).toEqual({ error: 'density: must be at most 1' });
    expect(validateParamInput(density, 'abc')).toEqual({ error: "density: 'abc' is not a number" });
    expect(parseGradient('0, x')).toBe("'x' is not a number");
  });

  it('layer stacks are passthrough slices whose order and ranges the planner follows', () => {
    const r = withStack(demoRecipe(), [
      { model: 'zoo/base', start: 0, end: 3, scale: 1 },
      { model: 'zoo/add', start: 1, end: 4, scale: 0.5 },
    ]);
    const swapped = withStack(r, reorder(stackSlices(r), 1, 0));
    expect(stackSlices(swapped).map((s) => s.model)).toEqual(['zoo/add', 'zoo/base']);
    const p = plan(swapped, handles);
    expect(p.numLayers).toBe(6);
    const first = p.steps.find((s) => s.output === 'model.layers.0.mlp.up_proj.weight')!;
    expect(first.models[0].tensor).toBe('model.layers.1.mlp.up_proj.weight');
    expect(first.models[0].model).toBe('zoo/add');
    expect(first.modelParams[0].scale).toBe(0.5);
    const last = p.steps.find((s) => s.output === 'model.layers.5.mlp.up_proj.weight')!;
    expect(last.models[0]).toMatchObject({ model: 'zoo/base', tensor: 'model.layers.2.mlp.up_proj.weight' });
  });
});

describe('removing models from a layer stack', () => {
  it('drops the removed model\'s slices; removing the last one starts over with a models recipe the planner reads', () => {
    const stack = withStack({ merge_method: 'task_arithmetic' }, [{ model: 'a', start: 0, end: 2, scale: 1 }, { model: 'b', start: 1, end: 3, scale: 0.5 }]);
    const one = withModelRemoved(stack, 'a');
    expect(stackSlices(one)).toEqual([{ model: 'b', start: 1, end: 3, scale: 0.5 }]);
    const none = withModelRemoved(one, 'b');
    expect(none).toEqual({ merge_method: 'task_arithmetic' });
    // What the studio draws and writes from it: no slices left behind.
    expect(stackSlices(none)).toEqual([]);
    expect(parseRecipeYaml(recipeToYaml(withModelAdded(withBase(none, 'c'), 'd')))).toEqual({ merge_method: 'task_arithmetic', base_model: 'c', models: [{ model: 'd', parameters: { weight: 1 } }] });
  });
});
