import { useCallback, useEffect, useState } from 'react';
import type { EvalBackendChoice, ExportOutcome, ExportTarget, StoredExportInfo } from '../worker/protocol.ts';
import { callback, engine, errorText } from './engine-client.ts';
import { defaultName, describeExport, ExportedFiles, ExportTargetFields, hasOpfs, picker, runExportTo, shardBytes, type TargetKind } from './export-target.tsx';
import { formatBytes } from './format.ts';
import { ProgressLine } from './ProgressLine.tsx';
import { useStudio } from './store.ts';
import { recordExport } from './history.ts';

export function ExportPanel() {
  const job = useStudio((s) => s.exportJob);
  const check = useStudio((s) => s.check);
  const choice = useStudio((s) => s.exportTarget);
  const setChoice = useStudio((s) => s.setExportTarget);
  const { kind, name, shardMiB } = choice;
  const [allowNonFinite, setAllowNonFinite] = useState(false);
  const [mergeOn, setMergeOn] = useState<EvalBackendChoice>('auto');
  const [result, setResult] = useState<ExportOutcome | null>(null);
  const [kept, setKept] = useState<StoredExportInfo[] | null>(null);
  const setJob = (exportJob: typeof job) => useStudio.setState({ exportJob, exportBy: 'export' });

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
    const out = await runExportTo(targetKind, label, exportName, setJob, work, describe);
    if (out) setResult(out);
    void refreshKept();
  };

  const run = async () => {
    const shard = shardBytes(choice);
    if (typeof shard === 'string') return setJob({ status: 'error', error: shard });
    const exportName = name.trim() || defaultName();
    const recipe = useStudio.getState().recipe;
    await runTo(kind, 'export', exportName, (target) => engine().exportModel(recipe, target, 'export', callback((e) => {
      if (e.type === 'progress') setJob({ status: 'running', progress: e.progress, label: 'export' });
    }), { shardSize: shard, allowNonFinite, mergeOn }).then((out) => {
      recordExport(recipe, kind === 'directory' ? 'to a folder' : kind === 'opfs' ? `to browser storage as ${exportName}` : `as ${exportName}.tar`);
      return out;
    }), (out, where) => describeExport(out, where, { backend: true }));
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
        <ExportTargetFields choice={choice} onChange={setChoice} />
        <label>shard size <input value={shardMiB} onChange={(e) => setChoice({ shardMiB: e.target.value })} size={5} aria-label="Shard size in MiB" /> MiB</label>
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
      {result && <ExportedFiles out={result} testId="export-files" />}
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
