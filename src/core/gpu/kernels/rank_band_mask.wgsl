// Keeps the entries of one stacked row whose descending-|x| rank lies in [inner cut, outer cut):
// an entry is inside a cut when its key exceeds the threshold, or equals it and fewer than
// `inside` tied entries precede it by index (tie_prefix gives the tied count before each block;
// a workgroup scan adds those earlier in the block). Writes per-workgroup L1 norms before/after,
// and zeroes dropped entries when `apply` is set.
struct Params {
  count: u32, stride: u32, row: u32, outer_threshold: u32,
  outer_inside: u32, inner_threshold: u32, inner_inside: u32, out_offset: u32, apply: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> stacked: array<f32>;
@group(0) @binding(2) var<storage, read> tie_prefix: array<u32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

var<workgroup> scan: array<u32, 256>;
var<workgroup> before_tree: array<f32, 256>;
var<workgroup> after_tree: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let group = wid.x + wid.y * nwg.x;
  let j = group * 256u + lid;
  let in_range = j < params.count;
  var key = 0u;
  var x = 0.0;
  if (in_range) {
    x = stacked[params.row * params.stride + j];
    key = bitcast<u32>(x) & 0x7fffffffu;
  }
  // Both tie flags in one word (each count is at most 256): outer in the low half, inner in the high.
  var flags = 0u;
  if (in_range && key == params.outer_threshold) { flags = 1u; }
  if (in_range && key == params.inner_threshold) { flags += 0x10000u; }
  scan[lid] = flags;
  workgroupBarrier();
  for (var offset = 1u; offset < 256u; offset <<= 1u) {
    var add = 0u;
    if (lid >= offset) { add = scan[lid - offset]; }
    workgroupBarrier();
    scan[lid] += add;
    workgroupBarrier();
  }
  let earlier = scan[lid] - flags;
  let outer_rank = tie_prefix[2u * group] + (earlier & 0xffffu);
  let inner_rank = tie_prefix[2u * group + 1u] + (earlier >> 16u);
  let in_outer = key > params.outer_threshold || (key == params.outer_threshold && outer_rank < params.outer_inside);
  let in_inner = key > params.inner_threshold || (key == params.inner_threshold && inner_rank < params.inner_inside);
  var before = 0.0;
  var after = 0.0;
  if (in_range) {
    before = abs(x);
    if (in_outer && !in_inner) { after = abs(x); } else if (params.apply != 0u) { stacked[params.row * params.stride + j] = 0.0; }
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
