// DARE random drop on one stacked row with the counter-based RNG of src/core/methods/random.ts:
// keep element g when f32(mix32(stream_key ^ g) >> 8) * 2^-24 < keep_p (g = global flat index, so
// the mask does not depend on chunking); dropped entries become 0.
struct Params { count: u32, stride: u32, row: u32, chunk_start: u32, stream_key: u32, keep_p: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> stacked: array<f32>;

#include "_mix32.wgsl"

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (j >= params.count) { return; }
  let draw = f32(mix32(params.stream_key ^ (params.chunk_start + j)) >> 8u) * 5.9604644775390625e-8;
  if (!(draw < params.keep_p)) { stacked[params.row * params.stride + j] = 0.0; }
}
