// Links from the frontier to the history: the history entry of an evaluated recipe (same YAML) is
// highlighted, its dock opened and the entry scrolled into view.
import { create } from 'zustand';
import { useDocks } from './Dock.tsx';

/** The history entry the user last asked to see (highlighted in the History panel). */
export const useHistoryFocus = create<{ id: number | null }>()(() => ({ id: null }));

/** Highlights history entry `id`, opens the History dock and scrolls the entry into view. */
export function showInHistory(id: number): void {
  useHistoryFocus.setState({ id });
  useDocks.setState((s) => ({ collapsed: { ...s.collapsed, history: false } }));
  requestAnimationFrame(() => document.querySelector(`[data-testid="history-entry"][data-id="${id}"]`)?.scrollIntoView({ block: 'nearest', behavior: 'smooth' }));
}
