// The 32-bit finalizer of src/core/methods/random.ts (mix32), shared by the random-mask kernels
// through `#include "_mix32.wgsl"` (inlined by tools/gen-wgsl.mjs). Change both or neither.
fn mix32(v: u32) -> u32 {
  var x = v;
  x ^= x >> 16u;
  x *= 0x7feb352du;
  x ^= x >> 15u;
  x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}
