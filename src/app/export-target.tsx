// Where an export goes, shared by every panel that writes a model (Export, DAM): the target choice
// (a picked folder, browser storage, a streamed .tar download), its name and shard size, kept in the
// store so both panels show and use the same one, and the one code path that resolves the target,
// runs the write job and reports progress, result, error or cancellation in the store's export job.
import { transfer } from 'comlink';
import { newExportId } from '../core/io/fs-access.ts';
import type { ExportOutcome, ExportTarget } from '../worker/protocol.ts';
import { startStreamedDownload, type StreamedDownload } from './download.ts';
import { errorText, isAbort } from './engine-client.ts';
import { formatBytes } from './format.ts';
import type { JobState } from './store.ts';

export type TargetKind = 'directory' | 'opfs' | 'download';

/** The target, name and shard size chosen in the page (one choice for every export). */
export interface ExportTargetChoice {
  kind: TargetKind;
  /** Folder name in browser storage or of the .tar; '' = a dated default. */
  name: string;
  shardMiB: string;
}

type Picker = (options?: { mode?: 'read' | 'readwrite'; id?: string }) => Promise<FileSystemDirectoryHandle>;
export const picker = (): Picker | null => (typeof window !== 'undefined' && 'showDirectoryPicker' in window ? (window as unknown as { showDirectoryPicker: Picker }).showDirectoryPicker.bind(window) : null);
export const hasOpfs = typeof navigator !== 'undefined' && !!navigator.storage?.getDirectory;

export function initialExportTarget(): ExportTargetChoice {
  return { kind: picker() ? 'directory' : hasOpfs ? 'opfs' : 'download', name: '', shardMiB: '1024' };
}

export function defaultName(prefix = 'merge'): string {
  return `${prefix}-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}`;
}

/** The shard size in bytes, or an error message. */
export function shardBytes(choice: ExportTargetChoice): number | string {
  const shard = Number(choice.shardMiB);
  return shard > 0 ? Math.round(shard * 2 ** 20) : `shard size: '${choice.shardMiB}' is not a positive number of MiB`;
}

/** The line an export ends with: files, tensor bytes, time, (the merge's backend,) where, leftovers removed. */
export function describeExport(out: ExportOutcome, where: string, opts: { backend?: boolean } = {}): string {
  const on = opts.backend ? ` (merged on ${out.backend})` : '';
  return `${out.files.length} files, ${formatBytes(out.bytesWritten)} of tensors in ${out.seconds.toFixed(1)} s${on} to ${where}${out.removed.length ? `; removed ${out.removed.length} leftover(s) of an interrupted export` : ''}`;
}

/** Resolves where an export goes; for a picked folder the page shows that it waits for the picker. */
export async function chooseTarget(kind: TargetKind, name: string, waiting: () => void): Promise<{ target: ExportTarget; download?: StreamedDownload; where: string } | null> {
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

/** Runs one write job (an export, an exact DAM export, a save of a kept export) against a chosen
 * target, reporting through `setJob`; the outcome, or null when it did not complete. */
export async function runExportTo(
  targetKind: TargetKind, label: string, exportName: string, setJob: (job: JobState) => void,
  work: (target: ExportTarget) => Promise<ExportOutcome>, describe: (out: ExportOutcome, where: string) => string,
): Promise<ExportOutcome | null> {
  let chosen: Awaited<ReturnType<typeof chooseTarget>>;
  try {
    chosen = await chooseTarget(targetKind, exportName, () => setJob({ status: 'running', label: 'waiting for you to pick a folder (and allow writing to it)' }));
  } catch (err) {
    setJob({ status: 'error', error: errorText(err) });
    return null;
  }
  if (!chosen) {
    setJob({ status: 'idle' });
    return null;
  }
  setJob({ status: 'running', label });
  try {
    const out = await work(chosen.target);
    setJob({ status: 'done', message: describe(out, chosen.where) });
    return out;
  } catch (err) {
    setJob(isAbort(err) ? { status: 'error', error: `${label} cancelled; nothing that looks complete was left behind` } : { status: 'error', error: errorText(err) });
    return null;
  } finally {
    chosen.download?.finished();
  }
}

/** The files an export wrote, with their sizes where known. */
export function ExportedFiles({ out, testId }: { out: ExportOutcome; testId: string }) {
  return (
    <ul className="files" data-testid={testId}>
      {out.files.map((f) => <li key={f.name}>{f.name}{f.bytes >= 0 ? ` (${formatBytes(f.bytes)})` : ''}</li>)}
    </ul>
  );
}

/** The target select and name field, bound to the shared choice; `what` prefixes the labels of a
 * second copy (the DAM panel's) so each field has its own accessible name. */
export function ExportTargetFields({ choice, onChange, what }: { choice: ExportTargetChoice; onChange: (c: Partial<ExportTargetChoice>) => void; what?: string }) {
  return (
    <>
      <label>to <select value={choice.kind} onChange={(e) => onChange({ kind: e.target.value as TargetKind })} aria-label={what ? `${what}: where it goes` : 'Export target'}>
        {picker() && <option value="directory">a folder (pick one)</option>}
        {hasOpfs && <option value="opfs">browser storage (OPFS)</option>}
        <option value="download">a download (streamed .tar)</option>
      </select></label>
      <label>name <input value={choice.name} onChange={(e) => onChange({ name: e.target.value })} placeholder={choice.kind === 'directory' ? '(the picked folder)' : 'merge-DATE'} disabled={choice.kind === 'directory'} size={18} aria-label={what ? `${what}: folder name` : 'Export name'} /></label>
    </>
  );
}
