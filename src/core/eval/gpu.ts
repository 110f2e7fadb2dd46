// The WebGPU evaluation backend (being written; the CPU backend serves until then).
import { MergeStudioError } from '../errors.ts';
import type { CausalLMConfig } from './config.ts';
import type { CausalLM } from './runtime.ts';
import type { HostTensor } from './weights.ts';

export async function createGpuCausalLM(_config: CausalLMConfig, _weights: ReadonlyMap<string, HostTensor | Float32Array>): Promise<CausalLM> {
  throw new MergeStudioError('eval-backend-unavailable', 'the WebGPU evaluation backend is not available yet; use --backend cpu');
}
