// Hub downloads as they happen, one line per model (bytes, rate, ETA), and the notice that the
// browser storage is full and downloads go on without the cache. Fed by the worker's watchHub.
import { useEffect, useState } from 'react';
import type { Progress } from '../core/progress.ts';
import { callback, engine } from './engine-client.ts';
import { formatBytes } from './format.ts';

function downloadLine(p: Progress): string {
  const pct = p.total > 0 ? Math.floor((100 * p.done) / p.total) : 100;
  const rate = p.rate ? `, ${formatBytes(p.rate)}/s` : '';
  const eta = p.eta !== undefined && Number.isFinite(p.eta) && p.done < p.total ? `, ETA ${Math.ceil(p.eta)} s` : '';
  return `${p.message ?? 'model'}: ${pct}% of ${formatBytes(p.total)} (${formatBytes(p.bytes ?? 0)} downloaded${rate}${eta})`;
}

export function HubDownloads() {
  const [downloads, setDownloads] = useState<Record<string, Progress>>({});
  const [cacheOff, setCacheOff] = useState<string | null>(null);
  useEffect(() => {
    void engine().watchHub(callback((p: Progress) => {
      if (p.phase === 'download' && p.message) setDownloads((d) => ({ ...d, [p.message!]: p }));
      else if (p.phase === 'hub-cache-off' && p.message) setCacheOff(p.message);
    }));
  }, []);
  const active = Object.values(downloads).filter((p) => p.done < p.total);
  if (!cacheOff && active.length === 0) return null;
  return (
    <div data-testid="hub-downloads">
      {cacheOff && <p role="alert" className="error">Hub cache off: {cacheOff}</p>}
      {active.map((p) => (
        <p key={p.message} className="progress" role="status">
          <progress value={p.total > 0 ? p.done / p.total : undefined} max={1} aria-label={`download ${p.message}`} /> {downloadLine(p)}
        </p>
      ))}
    </div>
  );
}
