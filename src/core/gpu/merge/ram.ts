/** GPU bindings of ram and ramplus_tl: contributor counts per entry, RAM+'s shared/unique tallies
 * per model (a counting pass), then one mixing kernel. */
import { globalNumber } from '../../methods/params.ts';
import { flatGroups } from './reduce.ts';
import { f32ThresholdAbove, methodContext, stackRows, type GpuMergeJob, type GpuMethodImpl } from './job.ts';
import type { StackedTensors } from './tensors.ts';

/** Per model: contributing entries shared with another model, and unique to it. */
async function sharedAndUnique(job: GpuMergeJob, tensors: StackedTensors, models: number, threshold: number): Promise<{ shared: number; unique: number }[]> {
  const { runner } = job;
  const totals = Array.from({ length: models }, () => ({ shared: 0, unique: 0 }));
  await tensors.forEachChunk(async ({ chunk, stacked }) => {
    const threads = flatGroups(chunk.count) * 256;
    const counts = runner.zeros(models * threads * 8, 'ram counts');
    const params = runner.params([['u32', chunk.count], ['u32', chunk.stride], ['u32', models], ['u32', threads], ['f32', threshold]]);
    runner.dispatchItems('ram_counts', [params, stacked, counts], threads);
    params.destroy();
    const values = await runner.readU32(counts, models * threads * 2);
    runner.release(counts);
    for (let i = 0; i < models; i++) {
      for (let t = 0; t < threads; t++) {
        totals[i].shared += values[2 * (i * threads + t)];
        totals[i].unique += values[2 * (i * threads + t) + 1];
      }
    }
  });
  return totals;
}

async function ramMerge(job: GpuMergeJob, boosted: boolean): Promise<void> {
  const { ctx, elements } = methodContext(job, { base: 'required', minModels: 1, maxModels: 255 });
  const r = boosted ? globalNumber(ctx, 'r') : 0;
  const alpha = boosted ? globalNumber(ctx, 'alpha') : 0;
  const epsilon = globalNumber(ctx, 'epsilon');
  const threshold = f32ThresholdAbove(epsilon);
  const { runner, input } = job;
  const count = input.models.length;
  const tensors = stackRows(job, [...input.models, input.base!], elements, { taskVectorsOf: count });
  try {
    let uniqueScale = input.models.map(() => 1);
    if (boosted) {
      const tallies = await sharedAndUnique(job, tensors, count, threshold);
      uniqueScale = tallies.map(({ shared, unique }) => 1 + r * Math.min(alpha, Math.max(0, shared / Math.max(unique, epsilon))));
    }
    const scale = runner.upload(Float32Array.from(uniqueScale), 'unique scale');
    await tensors.forEachChunk(async ({ chunk, stacked }) => {
      const merged = runner.allocate(Math.max(1, chunk.count) * 4, 'merged');
      const params = runner.params([['u32', chunk.count], ['u32', chunk.stride], ['u32', count], ['u32', count], ['f32', threshold]]);
      runner.dispatchItems('ram_mix', [params, stacked, scale, merged], chunk.count);
      params.destroy();
      await job.output.put(chunk, merged);
    });
    runner.release(scale);
  } finally {
    tensors.dispose();
  }
}

export const ramGpu: GpuMethodImpl = (job) => ramMerge(job, false);
export const ramplusTlGpu: GpuMethodImpl = (job) => ramMerge(job, true);
