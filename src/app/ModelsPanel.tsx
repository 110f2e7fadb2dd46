import { useEffect, useState, type DragEvent } from 'react';
import type { ModelSource } from '../worker/protocol.ts';
import { engine, errorText } from './engine-client.ts';
import { formatBytes, formatCount } from './format.ts';
import { useStudio } from './store.ts';
import { HubDownloads } from './HubDownloads.tsx';
import { modelColor } from './colors.ts';
import type { CompatibilitySummary } from '../worker/protocol.ts';
import { openDemoFamily } from './demo-family.ts';
import { isRecipeLink } from './recipe-link.ts';
import { autoRestore } from './session.ts';

/** Files of a dropped folder, with their paths (Chromium's entry API; the first segment is the folder). */
async function filesOfEntry(entry: FileSystemEntry, prefix = ''): Promise<{ path: string; file: File }[]> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    return [{ path: `${prefix}${entry.name}`, file }];
  }
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  const out: { path: string; file: File }[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) break;
    for (const child of batch) out.push(...(await filesOfEntry(child, `${prefix}${entry.name}/`)));
  }
  return out;
}

interface CompatRow { kind: 'problem' | 'adjustment' | 'ok'; check: string; detail: string }

/** The compatibility report's checks as table rows, problems first, then adjustments, then what passed. */
export function compatibilityRows(summary: CompatibilitySummary): CompatRow[] {
  const lines = summary.text.split('\n');
  const start = lines.findIndex((l) => l.startsWith('Compatibility ('));
  const checks: CompatRow[] = [];
  for (const line of start < 0 ? [] : lines.slice(start + 1)) {
    const nested = /^ {4}(.*)$/.exec(line);
    if (nested && checks.length) {
      checks[checks.length - 1].detail += `; ${nested[1].trim()}`;
      continue;
    }
    const m = /^ {2}([^:]+): (.*)$/.exec(line);
    if (!m || m[1] === 'problem' || m[1] === 'adjustment') continue;
    checks.push({ kind: 'ok', check: m[1], detail: m[2] });
  }
  return [
    ...summary.problems.map((p): CompatRow => ({ kind: 'problem', check: 'problem', detail: p })),
    ...summary.adjustments.map((a): CompatRow => ({ kind: 'adjustment', check: 'adjustment', detail: a })),
    ...checks,
  ];
}

function CompatibilityReport({ summary }: { summary: CompatibilitySummary }) {
  const rows = compatibilityRows(summary);
  return (
    <details className={`compat ${summary.verdict}`} open={summary.verdict !== 'compatible'} data-testid="compatibility">
      <summary>Compatibility: <strong>{summary.verdict.replace(/-/g, ' ')}</strong>
        {summary.problems.length > 0 && ` — ${summary.problems.length} problem(s)`}
        {summary.adjustments.length > 0 && ` — ${summary.adjustments.length} adjustment(s)`}
      </summary>
      <table className="compat-table" aria-label="Compatibility report">
        <thead><tr><th>Check</th><th>Result</th></tr></thead>
        <tbody>
          {rows.map((r, i) => <tr key={i} className={r.kind} data-kind={r.kind}><td>{r.kind === 'ok' ? `✓ ${r.check}` : r.kind === 'problem' ? '✗ problem' : '! adjustment'}</td><td>{r.detail}</td></tr>)}
        </tbody>
      </table>
      <details className="compat-full">
        <summary>Full report (per-model inventories)</summary>
        <pre>{summary.text}</pre>
      </details>
    </details>
  );
}

export function ModelsPanel() {
  const catalog = useStudio((s) => s.catalog);
  const models = useStudio((s) => s.models);
  const adding = useStudio((s) => s.adding);
  const modelError = useStudio((s) => s.modelError);
  const hubStatus = useStudio((s) => s.hubStatus);
  const failedSource = useStudio((s) => s.failedSource);
  const recipe = useStudio((s) => s.recipe);
  const compatibility = useStudio((s) => s.compatibility);
  const settings = useStudio((s) => s.settings);
  const { addModel, cancelAdd, removeModel, setBase } = useStudio.getState();
  const [repo, setRepo] = useState('');
  const [revision, setRevision] = useState('');
  const [token, setToken] = useState('');
  const [dragging, setDragging] = useState(false);

  useEffect(() => {
    engine().demoCatalog().then((c) => {
      useStudio.setState({ catalog: c });
      // The studio opens on the demo family: its base and two experts, ready to merge.
      // A recipe link opens the models its recipe names instead, and an automatic session restore
      // the session's (SessionBar).
      if (useStudio.getState().models.length === 0 && !isRecipeLink(location.hash) && !autoRestore()) void openDemoFamily(c);
    }, (err) => useStudio.setState({ catalog: { models: [], tasks: [], notice: errorText(err) } }));
  }, []);

  const loaded = new Set(models.map((m) => m.ref));
  const families = [...new Set(catalog?.models.map((m) => m.family) ?? [])];
  const addHub = () => {
    if (!repo.trim()) return;
    const source: ModelSource = { kind: 'hub', repo: repo.trim(), revision: revision.trim() || undefined, hubUrl: settings.hubUrl, token: token.trim() || settings.token.trim() || undefined, timeoutS: Number(settings.hubTimeout) > 0 ? Number(settings.hubTimeout) : undefined, cache: settings.hubCache };
    void addModel(source, repo.trim());
  };
  const onDrop = async (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    const items = [...e.dataTransfer.items].map((i) => i.webkitGetAsEntry()).filter((x): x is FileSystemEntry => x !== null);
    for (const entry of items) {
      const files = entry.isDirectory ? await filesOfEntry(entry) : await filesOfEntry(entry);
      void addModel({ kind: 'files', files }, entry.name);
    }
  };
  const onPick = (list: FileList | null) => {
    if (!list || list.length === 0) return;
    const files = [...list].map((file) => ({ path: file.webkitRelativePath || file.name, file }));
    void addModel({ kind: 'files', files }, files[0].path.split('/')[0]);
  };

  return (
    <section aria-labelledby="models-heading" className="panel models">
      <h2 id="models-heading">Models</h2>
      <div className="model-sources">
        <div>
          <h3>Demo models</h3>
          {catalog?.notice && <p className="muted" role="note">{catalog.notice}</p>}
          {families.map((family) => (
            <div key={family} className="demo-family" role="group" aria-label={`${family} demo family`}>
              <span className="family-name">{family}</span>
              {catalog!.models.filter((m) => m.family === family).map((m) => (
                <button key={m.ref} type="button" disabled={loaded.has(m.ref) || adding.includes(m.ref)} onClick={() => void addModel({ kind: 'demo', ref: m.ref }, m.ref)}
                  title={m.role === 'base' ? 'base model' : `expert: ${m.skill}`} aria-label={`Add demo ${family}-${m.name}`}>
                  + {m.name}
                </button>
              ))}
            </div>
          ))}
        </div>
        <form className="hub-form" onSubmit={(e) => { e.preventDefault(); addHub(); }} aria-label="Add from the Hub">
          <h3>From the Hub</h3>
          <label>Repo id <input value={repo} onChange={(e) => setRepo(e.target.value)} placeholder="org/name" spellCheck={false} /></label>
          <label>Revision <input value={revision} onChange={(e) => setRevision(e.target.value)} placeholder="main" spellCheck={false} size={8} /></label>
          <label>Token <input type="password" value={token} onChange={(e) => setToken(e.target.value)} placeholder={settings.token ? '(from Settings)' : 'optional'} autoComplete="off" size={10} /></label>
          <button type="submit" disabled={!repo.trim()}>Add</button>
        </form>
        <div className={`dropzone${dragging ? ' over' : ''}`} onDragOver={(e) => { e.preventDefault(); setDragging(true); }} onDragLeave={() => setDragging(false)} onDrop={(e) => void onDrop(e)}>
          <h3>Local folder</h3>
          <p>Drop a model folder here, or <label className="linklike">choose one<input type="file" hidden onChange={(e) => onPick(e.target.files)} {...{ webkitdirectory: '' }} /></label>.</p>
        </div>
      </div>
      {adding.length > 0 && (
        <p className="progress" role="status">
          Opening {adding.join(', ')}…
          {hubStatus && <span className="hub-stall" data-testid="hub-status"> {hubStatus} </span>}
          {hubStatus && adding.map((a) => <button key={a} type="button" onClick={() => cancelAdd(a)}>Cancel {a}</button>)}
        </p>
      )}
      <HubDownloads />
      {modelError && (
        <p role="alert" className="error" data-testid="model-error">
          {modelError}
          {failedSource && <> <button type="button" onClick={() => void addModel(failedSource.source, failedSource.label)}>Retry</button></>}
        </p>
      )}
      {models.length > 0 && (
        <table className="model-table" aria-label="Loaded models">
          <thead>
            <tr><th>Base</th><th>Model</th><th /></tr>
          </thead>
          <tbody>
            {models.map((m) => (
              <tr key={m.ref} data-testid={`model-${m.label}`}>
                <td><input type="radio" name="base-model" checked={recipe.base_model === m.ref} onChange={() => setBase(m.ref)} aria-label={`Use ${m.label} as the base model`} disabled={Boolean(recipe.slices)} /></td>
                <td title={`${m.ref} (${m.origin})`}>
                  <span className="swatch" style={{ background: modelColor(m.ref, models.map((x) => x.ref)) }} aria-hidden="true" />
                  <strong>{m.label}</strong>{m.origin !== 'demo' && <span className="muted"> {m.origin}</span>}
                  <span className="model-meta">{m.configArchitecture}{m.knownArchitecture ? '' : ' (generic)'} · {m.numLayers} layers · {formatCount(m.parameters)} params · {formatBytes(m.bytes)} · {m.byDtype.map((d) => d.dtype).join(', ')}</span>
                </td>
                <td><button type="button" onClick={() => removeModel(m.ref)} aria-label={`Remove ${m.label}`}>×</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {compatibility && <CompatibilityReport summary={compatibility} />}
    </section>
  );
}
