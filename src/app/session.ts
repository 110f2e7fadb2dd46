// The session kept across reloads in IndexedDB: the models (how to reopen them), the recipe, the
// ticked tasks, the frontier points and the history. A page that finds a saved session offers it
// (SessionBar) instead of restoring it by itself, so that a restore never races with what is done
// on the page meanwhile; until the user restores it or starts fresh, the saved session is kept
// as it is (the new page saves nothing over it).
import type { Recipe } from '../core/recipe/index.ts';
import { setHistory, useHistory, type HistoryEntry } from './history.ts';
import { sourceOf, type ReopenableSource } from './model-sources.ts';
import { openSources } from './open-recipe.ts';
import { clearUndo, setRecipeQuietly } from './recipe-undo.ts';
import { useStudio, type FrontierPoint } from './store.ts';

export const SESSION_DB = 'merge-studio-session';
const STORE = 'session';
const KEY = 'current';
export const SESSION_VERSION = 1;

export interface SavedSession {
  version: number;
  savedAt: string;
  models: { ref: string; label: string; source: ReopenableSource | null }[];
  recipe: Recipe;
  selectedTasks: string[];
  points: FrontierPoint[];
  axes: [string, string];
  history: HistoryEntry[];
}

function openDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(SESSION_DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function tx<T>(mode: IDBTransactionMode, work: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await openDb();
  try {
    return await new Promise<T>((resolve, reject) => {
      const req = work(db.transaction(STORE, mode).objectStore(STORE));
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  } finally {
    db.close();
  }
}

export async function loadSession(): Promise<SavedSession | null> {
  const s = (await tx('readonly', (st) => st.get(KEY))) as SavedSession | undefined;
  return s && s.version === SESSION_VERSION && s.recipe ? s : null;
}

export async function clearSession(): Promise<void> {
  await tx('readwrite', (st) => st.delete(KEY));
}

export function snapshot(): SavedSession {
  const s = useStudio.getState();
  return {
    version: SESSION_VERSION,
    savedAt: new Date().toISOString(),
    models: s.models.map((m) => ({ ref: m.ref, label: m.label, source: sourceOf(m.ref) ?? null })),
    recipe: s.recipe,
    selectedTasks: s.selectedTasks,
    points: s.points,
    axes: s.axes,
    history: useHistory.getState().entries,
  };
}

const AUTO_RESTORE_KEY = 'merge-studio.auto-restore';

/** Whether the user asked for the saved session to come back by itself after a reload (off by
 * default: then it is offered). When on, the page does not open the demo family first. */
export function autoRestore(): boolean {
  try {
    return localStorage.getItem(AUTO_RESTORE_KEY) === '1';
  } catch {
    return false;
  }
}

export function setAutoRestore(on: boolean): void {
  if (on) localStorage.setItem(AUTO_RESTORE_KEY, '1');
  else localStorage.removeItem(AUTO_RESTORE_KEY);
}

let saving = false;
let timer: ReturnType<typeof setTimeout> | undefined;

/** Saves the session (debounced) after every change, once `enableSaving` was called. */
export function startSessionSaving(debounceMs = 500): () => void {
  const schedule = () => {
    if (!saving) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      // structuredClone drops nothing here: the session is plain data.
      void tx('readwrite', (st) => st.put(snapshot(), KEY)).catch(() => undefined);
    }, debounceMs);
  };
  const a = useStudio.subscribe((s, p) => {
    if (s.recipe !== p.recipe || s.models !== p.models || s.selectedTasks !== p.selectedTasks || s.points !== p.points) schedule();
  });
  const b = useHistory.subscribe(schedule);
  return () => {
    clearTimeout(timer);
    a();
    b();
  };
}

export function enableSaving(): void {
  saving = true;
}

export interface RestoreOutcome {
  /** Models that could not be reopened (local folders, failures). */
  missing: string[];
  /** Ticked tasks that are not demo tasks (benchmarks and dropped files are read again by hand). */
  tasksLeft: string[];
}

/** Puts a saved session back: the models (others are removed), points and history, the recipe and
 * the ticked tasks. The undo stack starts afresh. */
export async function restoreSession(saved: SavedSession): Promise<RestoreOutcome> {
  const store = useStudio.getState();
  const wanted = new Set(saved.models.map((m) => m.ref));
  for (const m of store.models) if (!wanted.has(m.ref)) store.removeModel(m.ref);
  const missing = await openSources(saved.models.map((m) => ({ ref: m.ref, source: m.source })));
  useStudio.getState().restorePoints(saved.points, saved.axes);
  setHistory(saved.history);
  setRecipeQuietly(saved.recipe);
  clearUndo();
  const catalog = useStudio.getState().catalog;
  const demoTasks = new Set(catalog?.tasks.map((t) => t.file) ?? []);
  const tasksLeft = saved.selectedTasks.filter((t) => !demoTasks.has(t));
  for (const file of useStudio.getState().selectedTasks) if (!saved.selectedTasks.includes(file)) await useStudio.getState().toggleTask(file, false);
  for (const file of saved.selectedTasks) if (demoTasks.has(file)) await useStudio.getState().toggleTask(file, true);
  return { missing, tasksLeft };
}
