import { useEffect, useState } from 'react';
import { METHODS, type ParamSpec } from '../core/methods/index.ts';
import type { ParamSetting, Recipe } from '../core/recipe/index.ts';
import { mergedModels, ownSetting, validateParamInput, withParam } from './recipe-edit.ts';
import { useStudio } from './store.ts';

function describeSetting(s: ParamSetting): string {
  if (!Array.isArray(s)) return String(s);
  if (s.every((v) => typeof v !== 'object')) return `gradient [${s.join(', ')}]`;
  return 'per module (see the layer chart)';
}

/** One parameter: validated as typed, committed to the recipe when valid. */
function ParamField({ spec, model, label }: { spec: ParamSpec; model: string | null; label: string }) {
  const recipe = useStudio((s) => s.recipe);
  const setting = ownSetting(recipe, model, spec.name);
  const scalar = setting === undefined || !Array.isArray(setting);
  const shown = setting === undefined ? '' : String(setting);
  const [text, setText] = useState(shown);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    // Keep what is being typed ("0." while typing "0.5") when it already means the recipe's value.
    setText((typed) => (typed.trim() !== '' && String(Number(typed)) === shown ? typed : shown));
    setError(null);
  }, [shown]);
  const id = `param-${model ?? 'global'}-${spec.name}`.replace(/[^A-Za-z0-9_-]/g, '-');
  const commit = (raw: string) => {
    setText(raw);
    if (raw.trim() === '' && !spec.required) {
      setError(null);
      useStudio.getState().setRecipe(withParam(useStudio.getState().recipe, model, spec.name, undefined));
      return;
    }
    const checked = validateParamInput(spec, raw);
    if ('error' in checked) setError(checked.error);
    else {
      setError(null);
      useStudio.getState().setRecipe(withParam(useStudio.getState().recipe, model, spec.name, checked.value));
    }
  };
  if (!scalar) {
    return (
      <div className="param">
        <span className="param-name">{label}</span>
        <span className="muted">{describeSetting(setting!)}</span>{' '}
        <button type="button" onClick={() => useStudio.getState().setRecipe(withParam(recipe, model, spec.name, undefined))} aria-label={`Reset ${label}`}>reset</button>
      </div>
    );
  }
  return (
    <div className="param">
      <label htmlFor={id} className="param-name">{label}</label>
      {spec.kind === 'boolean' ? (
        <select id={id} value={shown || String(spec.default ?? '')} onChange={(e) => commit(e.target.value)}>
          <option value="true">true</option>
          <option value="false">false</option>
        </select>
      ) : (
        <input id={id} inputMode="decimal" value={text} placeholder={spec.default !== undefined ? `default ${spec.default}` : spec.required ? 'required' : ''}
          onChange={(e) => commit(e.target.value)} aria-invalid={error !== null} aria-describedby={`${id}-help`} size={7} />
      )}
      <small id={`${id}-help`} className={error ? 'error' : 'muted'} role={error ? 'alert' : undefined}>{error ?? spec.description}</small>
    </div>
  );
}

/** A multi-stage recipe (a layer-wise search trial, or imported mergekit-multi YAML) is shown, not edited. */
function StagedRecipe({ recipe, error }: { recipe: Recipe; error: string | null }) {
  const stages = recipe.stages ?? [];
  const startOver = () => {
    const { name: _name, ...first } = stages[0];
    useStudio.getState().setRecipe(first);
  };
  return (
    <section aria-labelledby="recipe-heading" className="panel recipe">
      <h2 id="recipe-heading">Recipe</h2>
      <p data-testid="staged-recipe">
        Multi-stage recipe: {stages.length} stages ({stages.map((s) => `${s.name}: ${s.merge_method}`).join(', ')}), then a final {recipe.merge_method} merge of them.
      </p>
      <p className="muted">Stage editing is not in the curve editor: read or edit the documents in Recipe YAML; evaluate and export work as they are.</p>
      <button type="button" onClick={startOver}>Edit the first stage on its own</button>
      {error && <p role="alert" className="error" data-testid="plan-error">{error}</p>}
    </section>
  );
}

export function RecipePanel() {
  const recipe = useStudio((s) => s.recipe);
  const check = useStudio((s) => s.check);
  const compatibility = useStudio((s) => s.compatibility);
  const models = useStudio((s) => s.models);
  const { setMethod, setRecipe } = useStudio.getState();
  if (recipe.stages?.length) return <StagedRecipe recipe={recipe} error={check && !check.ok ? check.error : null} />;
  const method = Object.hasOwn(METHODS, recipe.merge_method) ? METHODS[recipe.merge_method] : undefined;
  const globals = method?.params.filter((p) => p.scope === 'global') ?? [];
  const perModel = method?.params.filter((p) => p.scope === 'model') ?? [];
  const experts = mergedModels(recipe);
  const labelOf = (ref: string) => models.find((m) => m.ref === ref)?.label ?? ref;

  return (
    <section aria-labelledby="recipe-heading" className="panel recipe">
      <h2 id="recipe-heading">Recipe</h2>
      <div className="param">
        <label htmlFor="merge-method" className="param-name">Method</label>
        <select id="merge-method" value={recipe.merge_method} onChange={(e) => setMethod(e.target.value)}>
          {Object.values(METHODS).map((m) => <option key={m.name} value={m.name}>{m.name}</option>)}
        </select>
        <small className="muted">{method?.description ?? `unknown method '${recipe.merge_method}'`}</small>
      </div>
      {method?.base === 'required' && !recipe.base_model && !recipe.slices && <p className="error" role="alert">{method.name} needs a base model: pick one in Models.</p>}
      {globals.length > 0 && (
        <fieldset>
          <legend>Method parameters</legend>
          {globals.map((p) => <ParamField key={p.name} spec={p} model={null} label={p.name} />)}
        </fieldset>
      )}
      {!recipe.slices && experts.length > 0 && perModel.length > 0 && (
        <fieldset>
          <legend>Per model</legend>
          {experts.map((ref) => (
            <div key={ref} className="per-model" role="group" aria-label={`Parameters of ${labelOf(ref)}`}>
              <strong>{labelOf(ref)}</strong>
              {perModel.map((p) => <ParamField key={p.name} spec={p} model={ref} label={`${p.name}`} />)}
            </div>
          ))}
        </fieldset>
      )}
      <fieldset className="inline">
        <legend>Output</legend>
        <label>dtype{' '}
          <select value={recipe.out_dtype ?? recipe.dtype ?? ''} onChange={(e) => { const next = { ...recipe }; if (e.target.value) next.out_dtype = e.target.value; else delete next.out_dtype; setRecipe(next); }}>
            <option value="">as inputs</option>
            <option value="bfloat16">bfloat16</option>
            <option value="float16">float16</option>
            <option value="float32">float32</option>
          </select>
        </label>{' '}
        <label>random_seed{' '}
          <input type="number" value={recipe.random_seed ?? ''} placeholder="0" size={5} onChange={(e) => { const next = { ...recipe }; const v = Number(e.target.value); if (e.target.value !== '' && Number.isInteger(v)) next.random_seed = v; else delete next.random_seed; setRecipe(next); }} />
        </label>
        {(compatibility?.vocab?.tokensDiffer || recipe.tokenizer_source !== undefined || recipe.tokenizer !== undefined) && (
          <>{' '}
            <label title="mergekit's tokenizer_source: which vocabulary the merged embed_tokens / lm_head rows and tokenizer follow">vocabulary{' '}
              {recipe.tokenizer ? (
                <span className="muted" data-testid="tokenizer-block">tokenizer: block (source {recipe.tokenizer.source ?? 'union'}), edit it in YAML</span>
              ) : (
                <select data-testid="tokenizer-source" value={recipe.tokenizer_source ?? ''} onChange={(e) => { const next = { ...recipe }; if (e.target.value) next.tokenizer_source = e.target.value; else delete next.tokenizer_source; setRecipe(next); }}>
                  <option value="">{compatibility?.vocab?.tokensDiffer ? 'union (vocabularies differ)' : 'as the base (no setting)'}</option>
                  {[...new Set(['union', 'base', ...(compatibility?.vocab?.choices ?? []), ...(recipe.tokenizer_source ? [recipe.tokenizer_source] : [])])].map((c) => (
                    <option key={c} value={c}>{c === 'union' || c === 'base' ? `tokenizer_source: ${c}` : `${labelOf(c)}'s vocabulary`}</option>
                  ))}
                </select>
              )}
            </label>
          </>
        )}
      </fieldset>
      {check && !check.ok && <p role="alert" className="error" data-testid="plan-error">{check.error}</p>}
      {check?.ok && <p className="muted" data-testid="plan-ok">Plan: {check.steps} tensors, {check.layers} layers{check.notices.length ? ` · ${check.notices.join(' · ')}` : ''}</p>}
    </section>
  );
}
