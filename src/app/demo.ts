// "Try the demo": the first run that shows the point within seconds. Loads the tiny-llama demo base
// with two experts (and nothing else), starts from the hand-set task_arithmetic recipe, ticks the
// experts' generation tasks and evaluates: the merge's scores on both skills show up next to the
// per-layer editor.
import { withBase, withModelAdded } from './recipe-edit.ts';
import { asOneStep } from './recipe-undo.ts';
import { useStudio } from './store.ts';

export const DEMO_FAMILY = 'tiny-llama';

/** The demo's models (base first) and task files, from the catalog; null without the demo zoo. */
export function demoChoice(): { base: string; experts: string[]; tasks: string[] } | null {
  const catalog = useStudio.getState().catalog;
  if (!catalog) return null;
  const family = catalog.models.some((m) => m.family === DEMO_FAMILY) ? DEMO_FAMILY : catalog.models[0]?.family;
  const members = catalog.models.filter((m) => m.family === family);
  const base = members.find((m) => m.role === 'base');
  const experts = members.filter((m) => m.role !== 'base').slice(0, 2);
  if (!base || experts.length === 0) return null;
  const skills = experts.map((e) => e.skill);
  const tasks = catalog.tasks.filter((t) => skills.includes(t.skill) && t.kind === 'exact_match').map((t) => t.file);
  return { base: base.ref, experts: experts.map((e) => e.ref), tasks };
}

let running = false;

/** Loads the demo and evaluates it. Its models and recipe are one undo step (undo brings back the
 * recipe from before); the evaluation runs after that step, so edits made meanwhile are recorded. */
export async function tryDemo(): Promise<void> {
  const choice = demoChoice();
  if (!choice || running) return;
  running = true;
  try {
    const studio = () => useStudio.getState();
    if (!(await asOneStep(() => loadDemo(choice), true))) return;
    for (const file of studio().selectedTasks) if (!choice.tasks.includes(file)) await studio().toggleTask(file, false);
    for (const file of choice.tasks) if (!studio().selectedTasks.includes(file)) await studio().toggleTask(file, true);
    // With live evaluation on, the change above starts it; otherwise evaluate once now.
    if (!studio().live.enabled) await studio().evaluateNow('live');
  } finally {
    running = false;
  }
}

/** The demo's models only (others removed) and the hand-set recipe; false when a model did not load. */
async function loadDemo(choice: { base: string; experts: string[] }): Promise<boolean> {
  const wanted = [choice.base, ...choice.experts];
  const studio = () => useStudio.getState();
  for (const m of studio().models) if (!wanted.includes(m.ref)) studio().removeModel(m.ref);
  for (const ref of wanted) {
    if (!studio().models.some((m) => m.ref === ref)) await studio().addModel({ kind: 'demo', ref }, ref);
  }
  if (!wanted.every((ref) => studio().models.some((m) => m.ref === ref))) return false;
  // The hand-set starting point: task arithmetic of both experts over the base, every weight 1.
  let recipe = withBase({ merge_method: 'task_arithmetic' }, choice.base);
  for (const e of choice.experts) recipe = withModelAdded(recipe, e);
  studio().setRecipe(recipe);
  return true;
}
