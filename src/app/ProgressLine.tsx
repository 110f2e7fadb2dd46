import type { JobState } from './store.ts';

/** A job's state in one line: a progress bar while running, the error or result afterwards. */
export function ProgressLine({ job, testId }: { job: JobState; testId: string }) {
  if (job.status === 'idle') return null;
  if (job.status === 'error') return <p role="alert" className="error" data-testid={testId} data-state="error">{job.error}</p>;
  if (job.status === 'done') return <p className="muted" data-testid={testId} data-state="done">{job.message}</p>;
  const p = job.progress;
  const fraction = p && p.total > 0 ? p.done / p.total : undefined;
  return (
    <p className="progress" data-testid={testId} data-state="running">
      <progress value={fraction ?? undefined} max={1} aria-label={`${job.label} progress`} />{' '}
      {p ? `${p.phase} ${p.done}/${p.total}${p.message ? ` · ${p.message}` : ''}` : job.label}
    </p>
  );
}
