// Search trials persisted in IndexedDB (available in the worker, unlike localStorage), one record
// per trial under the run's key, so a search survives a reload: starting the same search again
// replays the saved trials through the seeded optimizer and continues where it stopped.
import type { TrialRecord, TrialStore } from '../core/search/store.ts';

const DB_NAME = 'merge-studio-search';
const STORE = 'trials';

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function openDb(idb: IDBFactory): Promise<IDBDatabase> {
  const r = idb.open(DB_NAME, 1);
  r.onupgradeneeded = () => r.result.createObjectStore(STORE, { keyPath: ['run', 'id'] });
  return request(r);
}

/** A TrialStore over IndexedDB, or null where IndexedDB is missing (Node tests, private modes). */
export async function indexedDbTrialStore(runKey: string, idb: IDBFactory | undefined = globalThis.indexedDB): Promise<TrialStore | null> {
  if (!idb) return null;
  let db: IDBDatabase;
  try {
    db = await openDb(idb);
  } catch {
    return null;
  }
  const range = IDBKeyRange.bound([runKey, -Infinity], [runKey, Infinity]);
  return {
    async load() {
      const rows = await request(db.transaction(STORE, 'readonly').objectStore(STORE).getAll(range));
      return (rows as { trial: TrialRecord }[]).map((r) => r.trial).sort((a, b) => a.id - b.id);
    },
    async append(trial) {
      const tx = db.transaction(STORE, 'readwrite');
      tx.objectStore(STORE).put({ run: runKey, id: trial.id, trial });
      await new Promise<void>((resolve, reject) => {
        tx.oncomplete = () => resolve();
        tx.onerror = () => reject(tx.error);
      });
    },
  };
}
