import type { DemoCatalog } from '../worker/protocol.ts';
import { asOneStep } from './recipe-undo.ts';
import { useStudio } from './store.ts';

/** The studio's opening models: the demo family's base and two experts, ready to merge (not an
 * undoable step: the studio starts there). */
export function openDemoFamily(c: DemoCatalog): Promise<void> {
  return asOneStep(() => openFamily(c), false);
}

async function openFamily(c: DemoCatalog): Promise<void> {
  if (c.models.length === 0) return;
  const family = c.models.some((m) => m.family === 'tiny-llama') ? 'tiny-llama' : c.models[0].family;
  const members = c.models.filter((m) => m.family === family);
  const start = [...members.filter((m) => m.role === 'base'), ...members.filter((m) => m.role !== 'base').slice(0, 2)];
  for (const m of start) await useStudio.getState().addModel({ kind: 'demo', ref: m.ref }, m.ref, { quiet: true });
}

/** Resolves with the demo catalog once the Models panel has read it. */
export function whenCatalog(): Promise<DemoCatalog> {
  const now = useStudio.getState().catalog;
  if (now) return Promise.resolve(now);
  return new Promise((resolve) => {
    const off = useStudio.subscribe((s) => {
      if (s.catalog) {
        off();
        resolve(s.catalog);
      }
    });
  });
}
