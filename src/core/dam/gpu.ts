// The WebGPU part of the DAM backward: the linear layers' weight gradients dW = dy^T x over the
// whole batch (one dispatch per tensor, all token rows of the batch at once) and their reduction
// to coefficient gradients against the experts' weights, which stay resident on the GPU. The
// forward and the activation gradients run on the CPU (the reference), which hands each linear's
// (dy, x) rows over through CoefficientGradientOffload.defer.
import { requireGpu, type GpuContext } from '../gpu/device.ts';
import { KernelRunner } from '../gpu/runner.ts';
import { MergeStudioError } from '../errors.ts';
import type { CoefficientBlock } from './coefficients.ts';
import type { Real } from './network.ts';
import type { CoefficientGradientOffload, DamObjective } from './objective.ts';

interface PendingRows { dy: Float32Array[]; x: Float32Array[]; rows: number; inDim: number; outDim: number }

export class GpuCoefficientGradients implements CoefficientGradientOffload {
  private readonly blocks = new Map<string, { block: CoefficientBlock; stacked: GPUBuffer }>();
  private readonly pending = new Map<string, PendingRows>();
  private readonly size: number;
  private readonly numModels: number;

  constructor(private readonly runner: KernelRunner, objective: DamObjective, private readonly ownsDevice = false) {
    const budget = runner.bindingBudget;
    this.size = objective.layout.size;
    this.numModels = objective.layout.numModels;
    for (const block of objective.layout.blocks) {
      // Per-channel blocks of 2-D weights (the linear layers, lm_head); biases and norms stay on the CPU.
      if (block.width !== block.cols || block.rows < 2) continue;
      const models = objective.expertTensors(block.tensor);
      const bytes = models.length * block.rows * block.cols * 4;
      if (bytes > budget) {
        throw new MergeStudioError('dam-gpu-tensor-too-large', `DAM on WebGPU: '${block.tensor}' of ${models.length} models needs ${bytes} bytes in one binding, over this GPU's ${budget}; use the CPU backend`, { tensor: block.tensor, found: bytes });
      }
      const stacked = new Float32Array(models.length * block.rows * block.cols);
      models.forEach((m: Real, i) => stacked.set(m, i * block.rows * block.cols));
      this.blocks.set(block.tensor, { block, stacked: runner.upload(stacked, `dam ${block.tensor}`) });
    }
  }

  readonly defer = (name: string, dy: Real, x: Real, rows: number, inDim: number, outDim: number): boolean => {
    if (!this.blocks.has(name)) return false;
    let p = this.pending.get(name);
    if (!p) this.pending.set(name, (p = { dy: [], x: [], rows: 0, inDim, outDim }));
    p.dy.push(Float32Array.from(dy.subarray(0, rows * outDim)));
    p.x.push(Float32Array.from(x.subarray(0, rows * inDim)));
    p.rows += rows;
    return true;
  };

  async finish(gradient: Float64Array): Promise<void> {
    const r = this.runner;
    const out = r.zeros(this.size * 4, 'dam coefficient grad');
    const transient: GPUBuffer[] = [];
    const uniforms: GPUBuffer[] = [];
    const params = (fields: [number, number, number, number]) => {
      const u = r.params(fields.map((v) => ['u32', v] as const));
      uniforms.push(u);
      return u;
    };
    try {
      for (const [name, p] of this.pending) {
        const { block, stacked } = this.blocks.get(name)!;
        const budget = r.bindingBudget;
        if (p.rows * Math.max(p.inDim, p.outDim) * 4 > budget) {
          throw new MergeStudioError('dam-gpu-batch-too-large', `DAM on WebGPU: the batch's ${p.rows} token rows of '${name}' exceed one binding (${budget} bytes); lower batch_size or max_tokens`, { tensor: name });
        }
        const dy = r.upload(concat(p.dy, p.rows * p.outDim), 'dam dy');
        const x = r.upload(concat(p.x, p.rows * p.inDim), 'dam x');
        const dw = r.allocate(p.inDim * p.outDim * 4, 'dam dW');
        transient.push(dy, x, dw);
        r.dispatchItems('dam_weight_grad', [params([p.rows, p.inDim, p.outDim, 0]), dy, x, dw], p.inDim * p.outDim);
        const models = this.numModels;
        r.dispatchItems('dam_coefficient_grad', [params([block.rows, block.cols, models, block.offset]), dw, stacked, out], models * block.cols);
      }
      const dc = await r.readF32(out, this.size);
      for (let e = 0; e < this.size; e++) gradient[e] += dc[e];
    } finally {
      this.pending.clear();
      r.release(out, ...transient);
      for (const u of uniforms) u.destroy();
    }
  }

  /** Frees the experts' resident weights (and the device, when this object acquired it). */
  dispose(): void {
    for (const { stacked } of this.blocks.values()) stacked.destroy();
    this.blocks.clear();
    this.runner.dispose();
    if (this.ownsDevice) this.runner.device.destroy();
  }
}

function concat(parts: Float32Array[], total: number): Float32Array {
  const out = new Float32Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The WebGPU backward for an objective, on `gpu` or on a device acquired here. */
export async function createGpuCoefficientGradients(objective: DamObjective, gpu?: GpuContext): Promise<GpuCoefficientGradients> {
  const context = gpu ?? await requireGpu();
  return new GpuCoefficientGradients(new KernelRunner(context), objective, gpu === undefined);
}
