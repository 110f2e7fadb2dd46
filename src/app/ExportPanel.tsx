import { useState } from 'react';
import type { ExportOutcome, ExportTarget } from '../worker/protocol.ts';
import { downloadBytes } from './download.ts';
import { callback, engine, errorText, isAbort } from './engine-client.ts';
import { formatBytes } from './format.ts';
import { ProgressLine } from './ProgressLine.tsx';
import { useStudio } from './store.ts';

type TargetKind = 'directory' | 'download' | 'opfs';
const hasPicker = typeof window !== 'undefined' && 'showDirectoryPicker' in window;

export function ExportPanel() {
  const job = useStudio((s) => s.exportJob);
  const check = useStudio((s) => s.check);
  const [kind, setKind] = useState<TargetKind>(hasPicker ? 'directory' : 'download');
  const [shardMiB, setShardMiB] = useState('1024');
  const [allowNonFinite, setAllowNonFinite] = useState(false);
  const [result, setResult] = useState<ExportOutcome | null>(null);
  const setJob = (exportJob: typeof job) => useStudio.setState({ exportJob });

  const run = async () => {
    setResult(null);
    const shard = Number(shardMiB);
    if (!(shard > 0)) return setJob({ status: 'error', error: `shard size: '${shardMiB}' is not a positive number of MiB` });
    let target: ExportTarget;
    try {
      if (kind === 'directory') {
        const picker = (window as unknown as { showDirectoryPicker(o?: object): Promise<FileSystemDirectoryHandle> }).showDirectoryPicker;
        target = { kind: 'directory', handle: await picker({ mode: 'readwrite' }) };
      } else if (kind === 'opfs') target = { kind: 'opfs', folder: `merge-${new Date().toISOString().replace(/[:.]/g, '-')}` };
      else target = { kind: 'memory' };
    } catch (err) {
      if ((err as Error).name !== 'AbortError') setJob({ status: 'error', error: errorText(err) });
      return;
    }
    setJob({ status: 'running', label: 'export' });
    try {
      const recipe = useStudio.getState().recipe;
      const out = await engine().exportModel(recipe, target, 'export', callback((e) => {
        if (e.type === 'progress') setJob({ status: 'running', progress: e.progress, label: 'export' });
      }), Math.round(shard * 2 ** 20), allowNonFinite);
      if (out.data) {
        // Browsers drop bursts of automatic downloads: offer the files one after another.
        for (const [name, bytes] of Object.entries(out.data)) {
          downloadBytes(name, bytes);
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      }
      setResult(out);
      setJob({ status: 'done', message: `${out.files.length} files, ${formatBytes(out.bytesWritten)} of tensors in ${out.seconds.toFixed(1)} s (merged on ${out.backend})${target.kind === 'opfs' ? ` in browser storage folder ${target.folder}` : ''}` });
    } catch (err) {
      setJob(isAbort(err) ? { status: 'error', error: 'export cancelled; the files written so far were removed' } : { status: 'error', error: errorText(err) });
    }
  };

  return (
    <section aria-labelledby="export-heading" className="panel export">
      <h2 id="export-heading">Export</h2>
      <p className="muted">Sharded safetensors + index, config.json, tokenizer, model card and mergekit_config.yml, streamed tensor by tensor.</p>
      <div className="row">
        <label>to <select value={kind} onChange={(e) => setKind(e.target.value as TargetKind)} aria-label="Export target">
          {hasPicker && <option value="directory">a folder (pick one)</option>}
          <option value="download">downloads</option>
          <option value="opfs">browser storage (OPFS)</option>
        </select></label>
        <label>shard size <input value={shardMiB} onChange={(e) => setShardMiB(e.target.value)} size={5} aria-label="Shard size in MiB" /> MiB</label>
        <label title="By default an export whose merged tensors hold NaN or infinite values stops with an error naming the tensor and its cause">
          <input type="checkbox" checked={allowNonFinite} onChange={(e) => setAllowNonFinite(e.target.checked)} /> allow NaN/Inf values
        </label>
        <button type="button" onClick={() => void run()} disabled={job.status === 'running' || !check?.ok}>Export merged model</button>
        <button type="button" onClick={() => void engine().cancel('export')} disabled={job.status !== 'running'}>Cancel export</button>
      </div>
      <ProgressLine job={job} testId="export-status" />
      {result && (
        <ul className="files" data-testid="export-files">
          {result.files.map((f) => <li key={f.name}>{f.name}{f.bytes >= 0 ? ` (${formatBytes(f.bytes)})` : ''}</li>)}
        </ul>
      )}
    </section>
  );
}
