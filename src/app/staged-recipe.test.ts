// Loading a multi-stage trial of the layer-wise search into the studio: the panels render it
// read-only (what it is, where to read it) instead of offering editors that assume one method.
import { createElement, type FunctionComponent } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { parseRecipeYaml } from '../core/recipe/index.ts';
import { createSpace } from '../core/search/spaces.ts';
import { LayerCurves } from './LayerCurves.tsx';
import { RecipePanel } from './RecipePanel.tsx';
import { StackPanel } from './StackPanel.tsx';
import { useStudio } from './store.ts';
import { YamlPanel } from './YamlPanel.tsx';

// A server render reads the store's initial state object, so the test writes into that one.
const show = (patch: Partial<ReturnType<typeof useStudio.getState>>) => Object.assign(useStudio.getInitialState(), patch);
const render = (panel: FunctionComponent) => renderToStaticMarkup(createElement(panel));

describe('a multi-stage recipe in the studio', () => {
  const space = createSpace({ kind: 'layerwise', methods: ['ties', 'linear'], blockSize: 2 }, { base: 'zoo/base', experts: ['zoo/add', 'zoo/sort'], numLayers: 4 });
  // attention by TIES, the rest linear
  const x = space.dimensions.map((d) => (d.kind === 'choice' ? (d.name.endsWith('.attn') ? 0.25 : 0.75) : 0.5));
  const trial = space.decode(x).recipe;

  it('is shown read-only with its stages, and the editors that assume one method stay out', () => {
    expect(trial.stages?.map((s) => s.merge_method)).toEqual(['ties', 'linear']);
    const models = ['base', 'add', 'sort'].map((m) => ({ ref: `zoo/${m}`, label: m, numLayers: 4 }));
    show({ recipe: trial, models: models as never, check: null });
    const recipePanel = render(RecipePanel);
    expect(recipePanel).toContain('Multi-stage recipe: 2 stages (lfs-stage-ties: ties, lfs-stage-linear: linear), then a final linear merge of them.');
    expect(recipePanel).toContain('Stage editing is not in the curve editor');
    expect(recipePanel).not.toContain('id="merge-method"');
    expect(render(LayerCurves)).toContain('its stages are not drawn here');
    expect(render(StackPanel)).toBe('');
    // The YAML view holds every document, and reads back as the same recipe.
    const yaml = /<textarea[^>]*>([\s\S]*?)<\/textarea>/.exec(render(YamlPanel))![1].replace(/&#x27;/g, "'").replace(/&quot;/g, '"').replace(/&amp;/g, '&');
    expect(yaml.match(/^---$/gm)).toHaveLength(2);
    expect(parseRecipeYaml(yaml)).toEqual(trial);
  });

  it('shows a plan error of a multi-stage recipe', () => {
    show({ recipe: trial, check: { ok: false, error: "no opened model for 'zoo/add'" } });
    expect(render(RecipePanel)).toContain('no opened model for &#x27;zoo/add&#x27;');
  });
});
