// Offers bytes as a file download (the fallback where the File System Access API is missing).
export function downloadBytes(name: string, bytes: Uint8Array | string, type = 'application/octet-stream'): void {
  const blob = new Blob([typeof bytes === 'string' ? bytes : (bytes as Uint8Array<ArrayBuffer>)], { type });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// ---------------------------------------------------------------- streamed downloads

/** The service worker that serves streamed downloads (public/export-sw.js), registered on first use. */
async function exportServiceWorker(): Promise<ServiceWorker> {
  if (!('serviceWorker' in navigator)) throw new Error('this browser has no service workers, so it cannot stream a download; use a folder or browser storage');
  const base = import.meta.env.BASE_URL;
  const registration = await navigator.serviceWorker.register(`${base}export-sw.js`, { scope: base });
  const worker = registration.active ?? registration.waiting ?? registration.installing;
  if (!worker) throw new Error('the download service worker did not start');
  if (worker.state !== 'activated') {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the download service worker did not activate within 10 s')), 10_000);
      worker.addEventListener('statechange', () => {
        if (worker.state === 'activated') { clearTimeout(timer); resolve(); }
        if (worker.state === 'redundant') { clearTimeout(timer); reject(new Error('the download service worker was replaced while starting')); }
      });
    });
  }
  return worker;
}

export interface StreamedDownload {
  /** The writer's end: hand it to the engine worker (transferred). */
  port: MessagePort;
  /** Stops the keep-alive pings once the export has ended. */
  finished(): void;
}

/** Opens a download named `filename` whose bytes arrive over the returned port, streamed to disk by
 * the browser's download manager: nothing is buffered beyond a few pieces. */
export async function startStreamedDownload(id: string, filename: string): Promise<StreamedDownload> {
  const worker = await exportServiceWorker();
  const channel = new MessageChannel();
  const ack = new MessageChannel();
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the download service worker did not answer within 10 s')), 10_000);
    ack.port1.onmessage = () => { clearTimeout(timer); resolve(); };
  });
  worker.postMessage({ type: 'export-stream', id, filename }, [channel.port1, ack.port2]);
  await ready;
  // A navigation (not fetch()) so the response becomes a download; the iframe stays hidden.
  const frame = document.createElement('iframe');
  frame.hidden = true;
  frame.src = `${import.meta.env.BASE_URL}__export-stream/${id}/${encodeURIComponent(filename)}`;
  document.body.appendChild(frame);
  // Messages keep the service worker from being stopped as idle while the download runs.
  const ping = setInterval(() => worker.postMessage({ type: 'ping' }), 10_000);
  return {
    port: channel.port2,
    finished() {
      clearInterval(ping);
      setTimeout(() => frame.remove(), 60_000);
    },
  };
}
