// Partial dot products <row a_p, row b_p> of up to 16 row pairs per segment (one vector of a
// row-wise or column-wise layout). Segment s holds the global flat indices
// g = s * seg_step + k * elem_stride, k < seg_len; one 64-thread workgroup per segment sums the
// part inside this chunk as a tree, for every pair.
struct Params {
  count: u32, stride: u32, pairs: u32, chunk_start: u32,
  seg_step: u32, elem_stride: u32, seg_len: u32, first_seg: u32, seg_count: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> stacked: array<f32>;
@group(0) @binding(2) var<storage, read> pair_rows: array<u32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

var<workgroup> tree: array<f32, 64>;

fn ceil_div(a: u32, b: u32) -> u32 { return (a + b - 1u) / b; }

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let w = wid.x + wid.y * nwg.x;  // uniform per workgroup, so the barriers below stay uniform
  var sums: array<f32, 16>;
  if (w < params.seg_count) {
    let first = (params.first_seg + w) * params.seg_step;
    let chunk_end = params.chunk_start + params.count;
    var k_lo = 0u;
    if (first < params.chunk_start) { k_lo = ceil_div(params.chunk_start - first, params.elem_stride); }
    var k_hi = 0u;
    if (chunk_end > first) { k_hi = min(params.seg_len, ceil_div(chunk_end - first, params.elem_stride)); }
    for (var k = k_lo + lid; k < k_hi; k += 64u) {
      let j = first + k * params.elem_stride - params.chunk_start;
      for (var p = 0u; p < params.pairs; p++) {
        sums[p] += stacked[pair_rows[2u * p] * params.stride + j] * stacked[pair_rows[2u * p + 1u] * params.stride + j];
      }
    }
  }
  for (var p = 0u; p < params.pairs; p++) {
    tree[lid] = sums[p];
    workgroupBarrier();
    for (var half = 32u; half > 0u; half >>= 1u) {
      if (lid < half) { tree[lid] += tree[lid + half]; }
      workgroupBarrier();
    }
    if (lid == 0u && w < params.seg_count) { partials[p * params.seg_count + w] = tree[0]; }
    workgroupBarrier();
  }
}
