/** Node-only WebGPU entry (Dawn through the `webgpu` package). Loaded by a dynamic import from
 * device.ts so that the browser bundle never pulls the native addon. */
import { existsSync } from 'node:fs';

// Debian's Chromium ships SwiftShader's Vulkan ICD; Dawn finds a CPU adapter through it when no GPU exists.
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

// One Dawn instance per process, held here: if the instance object is garbage-collected while a
// device made from it lives, Dawn's worker threads abort the process.
let instance: GPU | undefined;

export async function nodeGpu(): Promise<GPU> {
  if (instance) return instance;
  if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  // A computed specifier keeps bundlers from resolving the native package for the browser build.
  const packageName = 'webgpu';
  const dawn = (await import(/* @vite-ignore */ packageName)) as {
    create(flags: string[]): GPU;
    globals: Record<string, unknown>;
  };
  // The GPUBufferUsage/GPUMapMode/... constants the WebGPU code reads as globals.
  for (const [name, value] of Object.entries(dawn.globals)) {
    if (!(name in globalThis)) (globalThis as Record<string, unknown>)[name] = value;
  }
  instance = dawn.create([]);
  return instance;
}
