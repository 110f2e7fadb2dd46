// Task vectors in place: rows 0..rows-1 of the stacked chunk become (row - base row), in f32 as
// mergekit computes deltas. Stacked layout: row r, element j at r * stride + j.
struct Params { count: u32, stride: u32, rows: u32, base_row: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> stacked: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (j >= params.count) { return; }
  let base = stacked[params.base_row * params.stride + j];
  for (var r = 0u; r < params.rows; r++) {
    stacked[r * params.stride + j] = stacked[r * params.stride + j] - base;
  }
}
