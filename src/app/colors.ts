// One colour per model in every chart: a model keeps the colour of its place in the loaded list
// (Models panel order), whichever chart, recipe or subset of models it appears in.
import { useStudio } from './store.ts';

export const MODEL_COLORS = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#db2777', '#0891b2', '#65a30d'];

export function modelColor(ref: string | null | undefined, refs: string[] = useStudio.getState().models.map((m) => m.ref)): string {
  const i = ref ? refs.indexOf(ref) : -1;
  return i < 0 ? '#475569' : MODEL_COLORS[i % MODEL_COLORS.length];
}
