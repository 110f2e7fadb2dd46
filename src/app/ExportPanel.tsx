import { useCallback, useEffect, useState } from 'react';
import { transfer } from 'comlink';
import { newExportId } from '../core/io/fs-access.ts';
import type { EvalBackendChoice, ExportOutcome, ExportTarget, StoredExportInfo } from '../worker/protocol.ts';
import { startStreamedDownload, type StreamedDownload } from './download.ts';
import { callback, engine, errorText, isAbort } from './engine-client.ts';
import { formatBytes } from './format.ts';
import { ProgressLine } from './ProgressLine.tsx';
import { useStudio } from './store.ts';
import { recordExport } from './history.ts';

type TargetKind = 'directory' | 'opfs' | 'download';
type Picker = (options?: { mode?: 'read' | 'readwrite'; id?: string }) => Promise<FileSystemDirectoryHandle>;
const picker = (): Picker | null => (typeof window !== 'undefined' && 'showDirectoryPicker' in window ? (window as unknown as { showDirectoryPicker: Picker }).showDirectoryPicker.bind(window) : null);
const hasOpfs = typeof navigator !== 'undefined' && !!navigator.storage?.getDirectory;

function defaultName(): string {
  return `merge-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}`;
}

/** Resolves where an export goes; for a picked folder the page shows that it waits for the picker. */
async function chooseTarget(kind: TargetKind, name: string, waiting: () => void): Promise<{ target: ExportTarget; download?: StreamedDownload; where: string } | null> {
  if (kind === 'directory') {
    const pick = picker();
    if (!pick) throw new Error('this browser cannot pick a folder; use browser storage or the streamed download');
    waiting();
    try {
      const handle = await pick({ mode: 'readwrite', id: 'merge-studio-export' });
      return { target: { kind: 'directory', handle }, where: `folder ${handle.name}` };
    } catch (err) {
      if ((err as Error).name === 'AbortError') return null;
      throw err;
    }
  }
  if (kind === 'opfs') return { target: { kind: 'opfs', name }, where: `browser storage as ${name}` };
  const download = await startStreamedDownload(newExportId(), `${name}.tar`);
  return { target: transfer({ kind: 'stream', port: download.port, folder: name }, [download.port]) as ExportTarget, download, where: `the download ${name}.tar` };
}

export function ExportPanel() {
  const job = useStudio((s) => s.exportJob);
  const check = useStudio((s) => s.check);
  const [kind, setKind] = useState<TargetKind>(picker() ? 'directory' : hasOpfs ? 'opfs' : 'download');
  const [name, setName] = useState('');
  const [shardMiB, setShardMiB] = useState('1024');
  const [allowNonFinite, setAllowNonFinite] = useState(false);
  const [mergeOn, setMergeOn] = useState<EvalBackendChoice>('auto');
  const [result, setResult] = useState<ExportOutcome | null>(null);
  const [kept, setKept] = useState<StoredExportInfo[] | null>(null);
  const setJob = (exportJob: typeof job) => useStudio.setState({ exportJob });

  const refreshKept = useCallback(async () => {
    if (!hasOpfs) return;
    try {
      setKept(await engine().storedExports());
    } catch {
      setKept(null);
    }
  }, []);
  useEffect(() => {
    void refreshKept();
  }, [refreshKept]);

  /** Runs one write job (an export or a save of a kept export) against a chosen target. */
  const runTo = async (targetKind: TargetKind, label: string, exportName: string, work: (target: ExportTarget) => Promise<ExportOutcome>, describe: (out: ExportOutcome, where: string) => string) => {
    setResult(null);
    let chosen: Awaited<ReturnType<typeof chooseTarget>>;
    try {
      chosen = await chooseTarget(targetKind, exportName, () => setJob({ status: 'running', label: 'waiting for you to pick a folder (and allow writing to it)' }));
    } catch (err) {
      return setJob({ status: 'error', error: errorText(err) });
    }
    if (!chosen) return setJob({ status: 'idle' });
    setJob({ status: 'running', label });
    try {
      const out = await work(chosen.target);
      setResult(out);
      setJob({ status: 'done', message: describe(out, chosen.where) });
    } catch (err) {
      setJob(isAbort(err) ? { status: 'error', error: `${label} cancelled; nothing that looks complete was left behind` } : { status: 'error', error: errorText(err) });
    } finally {
      chosen.download?.finished();
      void refreshKept();
    }
  };

  const run = async () => {
    const shard = Number(shardMiB);
    if (!(shard > 0)) return setJob({ status: 'error', error: `shard size: '${shardMiB}' is not a positive number of MiB` });
    const exportName = name.trim() || defaultName();
    const recipe = useStudio.getState().recipe;
    await runTo(kind, 'export', exportName, (target) => engine().exportModel(recipe, target, 'export', callback((e) => {
      if (e.type === 'progress') setJob({ status: 'running', progress: e.progress, label: 'export' });
    }), { shardSize: Math.round(shard * 2 ** 20), allowNonFinite, mergeOn }).then((out) => {
      recordExport(recipe, kind === 'directory' ? 'to a folder' : kind === 'opfs' ? `to browser storage as ${exportName}` : `as ${exportName}.tar`);
      return out;
    }), (out, where) => `${out.files.length} files, ${formatBytes(out.bytesWritten)} of tensors in ${out.seconds.toFixed(1)} s (merged on ${out.backend}) to ${where}${out.removed.length ? `; removed ${out.removed.length} leftover(s) of an interrupted export` : ''}`);
  };

  const save = (stored: string, to: TargetKind) => runTo(to, 'save', stored, (target) => engine().saveStoredExport(stored, target, 'export', callback((e) => {
    if (e.type === 'progress') setJob({ status: 'running', progress: e.progress, label: 'save' });
  })), (out, where) => `saved ${out.files.length} files (${formatBytes(out.bytesWritten)}) of ${stored} to ${where}`);

  const remove = async (stored: string) => {
    try {
      await engine().deleteStoredExport(stored);
    } catch (err) {
      setJob({ status: 'error', error: errorText(err) });
    }
    void refreshKept();
  };

  const busy = job.status === 'running';
  return (
    <section aria-labelledby="export-heading" className="panel export">
      <h2 id="export-heading">Export</h2>
      <p className="muted">Sharded safetensors + index, config.json, tokenizer, model card and mergekit_config.yml, streamed tensor by tensor to disk (no file is ever held whole in memory). Until the last file is in place, files carry a <code>.partial-…</code> name; the next export removes those left by an interrupted one.</p>
      <div className="row">
        <label>to <select value={kind} onChange={(e) => setKind(e.target.value as TargetKind)} aria-label="Export target">
          {picker() && <option value="directory">a folder (pick one)</option>}
          {hasOpfs && <option value="opfs">browser storage (OPFS)</option>}
          <option value="download">a download (streamed .tar)</option>
        </select></label>
        <label>name <input value={name} onChange={(e) => setName(e.target.value)} placeholder={kind === 'directory' ? '(the picked folder)' : 'merge-DATE'} disabled={kind === 'directory'} size={18} aria-label="Export name" /></label>
        <label>shard size <input value={shardMiB} onChange={(e) => setShardMiB(e.target.value)} size={5} aria-label="Shard size in MiB" /> MiB</label>
        <label title="By default an export whose merged tensors hold NaN or infinite values stops with an error naming the tensor and its cause">
          <input type="checkbox" checked={allowNonFinite} onChange={(e) => setAllowNonFinite(e.target.checked)} /> allow NaN/Inf values
        </label>
        <label>merge on <select value={mergeOn} onChange={(e) => setMergeOn(e.target.value as EvalBackendChoice)} aria-label="Merge export on">
          <option value="auto">WebGPU if available</option>
          <option value="cpu">CPU</option>
          <option value="webgpu">WebGPU</option>
        </select></label>
        <button type="button" onClick={() => void run()} disabled={busy || !check?.ok}>Export merged model</button>
        <button type="button" onClick={() => void engine().cancel('export')} disabled={!busy}>Cancel export</button>
      </div>
      <ProgressLine job={job} testId="export-status" />
      {result && (
        <ul className="files" data-testid="export-files">
          {result.files.map((f) => <li key={f.name}>{f.name}{f.bytes >= 0 ? ` (${formatBytes(f.bytes)})` : ''}</li>)}
        </ul>
      )}
      {hasOpfs && kept && kept.length > 0 && (
        <details open>
          <summary>Kept in browser storage ({kept.length})</summary>
          <table aria-label="Exports in browser storage" className="kept-exports">
            <tbody>
              {kept.map((k) => (
                <tr key={k.name}>
                  <td>{k.name}</td>
                  <td>{k.files.length} files, {formatBytes(k.bytes)}</td>
                  <td>
                    {picker() && <button type="button" disabled={busy} onClick={() => void save(k.name, 'directory')} aria-label={`Save ${k.name} to a folder`}>Save to folder</button>}
                    <button type="button" disabled={busy} onClick={() => void save(k.name, 'download')} aria-label={`Download ${k.name} as .tar`}>Download .tar</button>
                    <button type="button" disabled={busy} onClick={() => void remove(k.name)} aria-label={`Delete ${k.name}`}>Delete</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      )}
    </section>
  );
}
