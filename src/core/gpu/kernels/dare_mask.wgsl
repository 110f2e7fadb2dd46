// DARE random drop on one stacked row with the counter-based RNG of src/core/methods/random.ts:
// keep element g when f32(mix32(stream_key ^ g) >> 8) * 2^-24 < keep_p (g = global flat index, so
// the mask does not depend on chunking). Writes per-workgroup L1 norms before/after (for rescale);
// zeroes the dropped entries when `apply` is set.
struct Params { count: u32, stride: u32, row: u32, chunk_start: u32, stream_key: u32, keep_p: f32, out_offset: u32, apply: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> stacked: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;

var<workgroup> before_tree: array<f32, 256>;
var<workgroup> after_tree: array<f32, 256>;

fn mix32(v: u32) -> u32 {
  var x = v;
  x ^= x >> 16u;
  x *= 0x7feb352du;
  x ^= x >> 15u;
  x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let group = wid.x + wid.y * nwg.x;
  let j = group * 256u + lid;
  var before = 0.0;
  var after = 0.0;
  if (j < params.count) {
    let at = params.row * params.stride + j;
    let x = stacked[at];
    let draw = f32(mix32(params.stream_key ^ (params.chunk_start + j)) >> 8u) * 5.9604644775390625e-8;
    before = abs(x);
    if (draw < params.keep_p) { after = abs(x); } else if (params.apply != 0u) { stacked[at] = 0.0; }
  }
  before_tree[lid] = before;
  after_tree[lid] = after;
  workgroupBarrier();
  for (var half = 128u; half > 0u; half >>= 1u) {
    if (lid < half) {
      before_tree[lid] += before_tree[lid + half];
      after_tree[lid] += after_tree[lid + half];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    partials[params.out_offset + 2u * group] = before_tree[0];
    partials[params.out_offset + 2u * group + 1u] = after_tree[0];
  }
}
