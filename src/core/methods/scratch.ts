/** Reusable float32 buffers by slot: each grows to the largest size asked for and is handed out as
 * a view of the requested length. Fresh full-size arrays per tensor cost more in first-touch page
 * faults than the merge arithmetic itself. */
import type { ScratchArrays } from './types.ts';

export class ReusableArrays implements ScratchArrays {
  private readonly slots = new Map<string, Float32Array>();

  get(slot: string, elements: number): Float32Array {
    let buffer = this.slots.get(slot);
    if (!buffer || buffer.length < elements) this.slots.set(slot, (buffer = new Float32Array(elements)));
    return buffer.subarray(0, elements);
  }

  /** Drops every buffer (e.g. after the largest tensor, when memory matters more than speed). */
  clear(): void {
    this.slots.clear();
  }
}

/** A scratch slot when the caller gave scratch buffers, else a fresh array. */
export function workArray(scratch: ScratchArrays | undefined, slot: string, elements: number): Float32Array {
  return scratch ? scratch.get(slot, elements) : new Float32Array(elements);
}
