// SCE: variance across the task vectors per entry into the scratch row (mode 0), or, once that row
// holds only the selected top-k variances (mode 1), zero every task vector where it is 0.
struct Params { count: u32, stride: u32, models: u32, variance_row: u32, mode: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> stacked: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (j >= params.count) { return; }
  let m = params.models;
  if (params.mode == 0u) {
    var mean = 0.0;
    var identical = true;
    let first = stacked[j];
    for (var i = 0u; i < m; i++) {
      let x = stacked[i * params.stride + j];
      mean += x;
      identical = identical && x == first;
    }
    mean = mean / f32(m);
    var s = 0.0;
    for (var i = 0u; i < m; i++) {
      let d = stacked[i * params.stride + j] - mean;
      s += d * d;
    }
    // Equal entries have variance exactly 0 (an f32 mean of equal values need not round back).
    stacked[params.variance_row * params.stride + j] = select(s / f32(m), 0.0, identical);
  } else if (stacked[params.variance_row * params.stride + j] == 0.0) {
    for (var i = 0u; i < m; i++) { stacked[i * params.stride + j] = 0.0; }
  }
}
