// Merge Studio's service worker for streamed downloads (browsers without a folder picker): the
// page hands over a MessagePort whose other end is the engine worker writing the export; a request
// for <scope>__export-stream/<id>/<file> is answered with a ReadableStream fed from that port, so
// the download is written to disk as it is merged and no whole file ever exists in memory.
// Nothing else is intercepted. Protocol: src/core/io/port-stream.ts (pull / chunk / end / error / alive).
/* global self, Response, ReadableStream, CountQueuingStrategy */
'use strict';

const PREFIX = '__export-stream/';
/** A stream the page announced but the download has not fetched yet: id -> { port, filename, timer }. */
const waiting = new Map();
/** No word from the writer for this long (a reload, a crash): the download fails. */
const SILENCE_MS = 30000;

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('message', (event) => {
  const msg = event.data;
  if (!msg || msg.type !== 'export-stream' || typeof msg.id !== 'string' || !/^[0-9a-z]{8,32}$/.test(msg.id)) return;
  const [port, ack] = event.ports;
  if (!port) return;
  // Forget a stream nobody fetched within a minute.
  const timer = setTimeout(() => waiting.delete(msg.id), 60000);
  waiting.set(msg.id, { port, filename: String(msg.filename || 'export.tar'), timer });
  if (ack) ack.postMessage({ type: 'ready' });
});

function streamFrom(port) {
  let pending = null;
  let silence = null;
  let controller = null;
  const fail = (message) => {
    clearTimeout(silence);
    port.onmessage = null;
    if (pending) pending();
    pending = null;
    try { controller.error(new Error(message)); } catch { /* already closed */ }
  };
  const heard = () => {
    clearTimeout(silence);
    silence = setTimeout(() => fail('the export stopped (was the page reloaded or closed?)'), SILENCE_MS);
  };
  return new ReadableStream({
    start(c) {
      controller = c;
      heard();
      port.onmessage = (event) => {
        const msg = event.data;
        heard();
        if (!msg) return;
        if (msg.type === 'chunk') {
          controller.enqueue(msg.bytes);
          if (pending) pending();
          pending = null;
        } else if (msg.type === 'end') {
          clearTimeout(silence);
          port.onmessage = null;
          controller.close();
          if (pending) pending();
          pending = null;
        } else if (msg.type === 'error') {
          fail(String(msg.message || 'the export failed'));
        }
      };
    },
    pull() {
      return new Promise((resolve) => {
        pending = resolve;
        port.postMessage({ type: 'pull' });
      });
    },
    cancel(reason) {
      clearTimeout(silence);
      port.onmessage = null;
      port.postMessage({ type: 'cancel', reason: reason ? String(reason) : undefined });
    },
  }, new CountQueuingStrategy({ highWaterMark: 4 }));
}

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (url.origin !== self.location.origin) return;
  const scope = new URL(self.registration.scope).pathname;
  if (!url.pathname.startsWith(scope + PREFIX)) return;
  const id = url.pathname.slice(scope.length + PREFIX.length).split('/')[0];
  const entry = waiting.get(id);
  if (!entry) {
    event.respondWith(new Response('This export stream has ended or never existed.', { status: 404, headers: { 'Content-Type': 'text/plain' } }));
    return;
  }
  waiting.delete(id);
  clearTimeout(entry.timer);
  const filename = entry.filename.replace(/["\\\r\n]/g, '_');
  event.respondWith(new Response(streamFrom(entry.port), {
    headers: {
      'Content-Type': 'application/x-tar',
      'Content-Disposition': `attachment; filename="${filename}"; filename*=UTF-8''${encodeURIComponent(entry.filename)}`,
      'X-Content-Type-Options': 'nosniff',
    },
  }));
});
