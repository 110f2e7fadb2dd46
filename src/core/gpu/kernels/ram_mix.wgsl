// RAM / RAM+: entries changed (|tau| above the threshold) by one model take its change times that
// model's unique scale; entries changed by c > 1 models take the mean of their changes.
struct Params { count: u32, stride: u32, models: u32, base_row: u32, threshold: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> stacked: array<f32>;
@group(0) @binding(2) var<storage, read> unique_scale: array<f32>;
@group(0) @binding(3) var<storage, read_write> merged: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (j >= params.count) { return; }
  var c = 0u;
  for (var i = 0u; i < params.models; i++) {
    if (abs(stacked[i * params.stride + j]) > params.threshold) { c++; }
  }
  var sum = 0.0;
  for (var i = 0u; i < params.models; i++) {
    let tau = stacked[i * params.stride + j];
    if (abs(tau) > params.threshold) {
      if (c == 1u) { sum += tau * unique_scale[i]; } else { sum += tau / f32(c); }
    }
  }
  merged[j] = stacked[params.base_row * params.stride + j] + sum;
}
