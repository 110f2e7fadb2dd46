import { useEffect, useState } from 'react';
import { recipeToYaml } from '../core/recipe/index.ts';
import { recipeForExport } from '../worker/export-refs.ts';
import { downloadBytes } from './download.ts';
import { useStudio } from './store.ts';

/** The recipe as mergekit YAML: always in sync with the controls until the user edits the text. */
export function YamlPanel() {
  const recipe = useStudio((s) => s.recipe);
  const yamlError = useStudio((s) => s.yamlError);
  const catalog = useStudio((s) => s.catalog);
  const generated = recipeToYaml(recipe);
  const [text, setText] = useState(generated);
  const [dirty, setDirty] = useState(false);
  useEffect(() => {
    setText(generated);
    setDirty(false);
  }, [generated]);
  const apply = (source: string) => {
    if (useStudio.getState().importYaml(source)) setDirty(false);
  };
  return (
    <section aria-labelledby="yaml-heading" className="panel yaml">
      <h2 id="yaml-heading">Recipe YAML</h2>
      <textarea aria-label="Recipe YAML" data-testid="recipe-yaml" value={text} spellCheck={false} rows={Math.min(24, Math.max(8, text.split('\n').length + 1))}
        onChange={(e) => { setText(e.target.value); setDirty(true); }} aria-invalid={yamlError !== null} aria-describedby="yaml-error" />
      {yamlError && <pre id="yaml-error" role="alert" className="error" data-testid="yaml-error">{yamlError}</pre>}
      <div className="row">
        <button type="button" disabled={!dirty} onClick={() => apply(text)}>Apply YAML</button>
        <button type="button" disabled={!dirty} onClick={() => { setText(generated); setDirty(false); useStudio.setState({ yamlError: null }); }}>Revert</button>
        <label className="linklike">Import .yml…<input type="file" accept=".yml,.yaml,text/yaml" hidden onChange={async (e) => { const f = e.target.files?.[0]; if (f) { const t = await f.text(); setText(t); setDirty(true); apply(t); } e.target.value = ''; }} /></label>
        <button type="button" onClick={() => downloadBytes('mergekit_config.yml', recipeToYaml(recipeForExport(recipe, catalog)), 'text/yaml')}>Export .yml</button>
      </div>
    </section>
  );
}
