// A collapsible place for a panel in the studio's side column. Collapsing hides everything of the
// panel below its heading (CSS: `.dock.collapsed`); the panel's controls stay in the DOM, and its
// state (typed text, a running job) survives. Steps are numbered in the order a user goes through them.
import { type ReactNode } from 'react';
import { create } from 'zustand';

/** Which docks are collapsed (by id), and the one to scroll to. */
export const useDocks = create<{ collapsed: Record<string, boolean> }>()(() => ({ collapsed: {} }));

/** Opens a dock and scrolls it into view (the step links in the header). */
export function openDock(id: string): void {
  useDocks.setState((s) => ({ collapsed: { ...s.collapsed, [id]: false } }));
  requestAnimationFrame(() => document.getElementById(`dock-${id}`)?.scrollIntoView({ block: 'start', behavior: 'smooth' }));
}

export function Dock({ id, title, step, children, startCollapsed = false }: { id: string; title: string; step?: number; children: ReactNode; startCollapsed?: boolean }) {
  const collapsed = useDocks((s) => s.collapsed[id] ?? startCollapsed);
  const toggle = () => {
    useDocks.setState((s) => ({ collapsed: { ...s.collapsed, [id]: !collapsed } }));
  };
  return (
    <div id={`dock-${id}`} className={`dock${collapsed ? ' collapsed' : ''}`} data-step={step} data-dock={id}>
      <button type="button" className="dock-toggle" aria-expanded={!collapsed} aria-controls={`dock-${id}`} onClick={toggle}
        aria-label={`${collapsed ? 'Show' : 'Hide'} ${title}`} title={collapsed ? `Show ${title}` : `Hide ${title}`}>{collapsed ? '▸' : '▾'}</button>
      {children}
    </div>
  );
}

