// Keeps the entries of one stacked row whose descending-|x| rank lies in [inner cut, outer cut)
// and zeroes the rest, writing the masked row to `masked` (the host copies it back). An entry is
// inside a cut when its key exceeds the threshold, or equals it and fewer than `inside` tied
// entries precede it by index: the tied count before its block (tie_prefix) plus before it in its
// block (tie_rank, from tie_rank.wgsl). Without `ordered`, no cut splits a run of ties and both
// counts are taken as 0.
struct Params {
  count: u32, stride: u32, row: u32, outer_threshold: u32,
  outer_inside: u32, inner_threshold: u32, inner_inside: u32, ordered: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> stacked: array<f32>;
@group(0) @binding(2) var<storage, read> tie_prefix: array<u32>;
@group(0) @binding(3) var<storage, read> tie_rank: array<u32>;
@group(0) @binding(4) var<storage, read_write> masked: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (j >= params.count) { return; }
  let x = stacked[params.row * params.stride + j];
  let key = bitcast<u32>(x) & 0x7fffffffu;
  var outer_rank = 0u;
  var inner_rank = 0u;
  if (params.ordered != 0u) {
    let block = j / 256u;
    outer_rank = tie_prefix[2u * block] + (tie_rank[j] & 0xffffu);
    inner_rank = tie_prefix[2u * block + 1u] + (tie_rank[j] >> 16u);
  }
  let in_outer = key > params.outer_threshold || (key == params.outer_threshold && outer_rank < params.outer_inside);
  let in_inner = key > params.inner_threshold || (key == params.inner_threshold && inner_rank < params.inner_inside);
  masked[j] = select(0.0, x, in_outer && !in_inner);
}
