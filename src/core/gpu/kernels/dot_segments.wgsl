// Partial dot products <row_a, row_b> per segment (one vector of a row-wise or column-wise
// layout). Segment s holds the elements g = s * seg_step + k * elem_stride, k < seg_len (global flat
// indices); one workgroup per segment sums the part that lies inside this chunk, as a tree.
struct Params {
  count: u32, stride: u32, row_a: u32, row_b: u32,
  chunk_start: u32, seg_step: u32, elem_stride: u32, seg_len: u32,
  first_seg: u32, seg_count: u32, out_offset: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> stacked: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;

var<workgroup> tree: array<f32, 256>;

fn ceil_div(a: u32, b: u32) -> u32 { return (a + b - 1u) / b; }

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let w = wid.x + wid.y * nwg.x;  // uniform per workgroup, so the barriers below stay uniform
  var sum = 0.0;
  if (w < params.seg_count) {
    let first = (params.first_seg + w) * params.seg_step;
    let chunk_end = params.chunk_start + params.count;
    var k_lo = 0u;
    if (first < params.chunk_start) { k_lo = ceil_div(params.chunk_start - first, params.elem_stride); }
    var k_hi = 0u;
    if (chunk_end > first) { k_hi = min(params.seg_len, ceil_div(chunk_end - first, params.elem_stride)); }
    let a = params.row_a * params.stride;
    let b = params.row_b * params.stride;
    for (var k = k_lo + lid; k < k_hi; k += 256u) {
      let j = first + k * params.elem_stride - params.chunk_start;
      sum += stacked[a + j] * stacked[b + j];
    }
  }
  tree[lid] = sum;
  workgroupBarrier();
  for (var half = 128u; half > 0u; half >>= 1u) {
    if (lid < half) { tree[lid] += tree[lid + half]; }
    workgroupBarrier();
  }
  if (lid == 0u && w < params.seg_count) { partials[params.out_offset + w] = tree[0]; }
}
