// out = sum over stacked rows r of coef[segment * rows + r] * row_r. One coefficient set per
// segment: segment = ((chunk_start + j) / seg_div) % seg_mod (rows: seg_div = row length;
// columns: seg_div = 1, seg_mod = column count; whole tensor: seg_mod = 1).
struct Params { count: u32, stride: u32, rows: u32, chunk_start: u32, seg_div: u32, seg_mod: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> stacked: array<f32>;
@group(0) @binding(2) var<storage, read> coef: array<f32>;
@group(0) @binding(3) var<storage, read_write> merged: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (j >= params.count) { return; }
  let c = (((params.chunk_start + j) / params.seg_div) % params.seg_mod) * params.rows;
  var sum = 0.0;
  for (var r = 0u; r < params.rows; r++) {
    sum += coef[c + r] * stacked[r * params.stride + j];
  }
  merged[j] = sum;
}
