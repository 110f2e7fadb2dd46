/** GPU binding of nearswap: one elementwise kernel. */
import { globalNumber } from '../../methods/params.ts';
import { methodContext, stackRows, type GpuMethodImpl } from './job.ts';

export const nearswapGpu: GpuMethodImpl = async (job) => {
  const { ctx, elements } = methodContext(job, { base: 'required', minModels: 1, maxModels: 1 });
  const t = globalNumber(ctx, 't');
  const { runner } = job;
  const tensors = stackRows(job, [job.input.models[0], job.input.base!], elements);
  try {
    await tensors.forEachChunk(async ({ chunk, stacked }) => {
      const merged = runner.allocate(Math.max(1, chunk.count) * 4, 'merged');
      const params = runner.params([['u32', chunk.count], ['u32', chunk.stride], ['u32', 1], ['u32', 0], ['f32', t]]);
      runner.dispatchItems('nearswap', [params, stacked, merged], chunk.count);
      params.destroy();
      await job.output.put(chunk, merged);
    });
  } finally {
    tensors.dispose();
  }
};
