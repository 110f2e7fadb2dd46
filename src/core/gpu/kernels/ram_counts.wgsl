// RAM+: for each model, how many of its contributing entries (|tau| above the threshold) are shared
// with another model and how many are unique to it. Per-thread counts over a strided range, no
// barriers; the host adds them. Rows 0..models-1 hold the task vectors.
struct Params { count: u32, stride: u32, models: u32, threads: u32, threshold: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> stacked: array<f32>;
@group(0) @binding(2) var<storage, read_write> counts: array<u32>;

fn contributors(j: u32) -> u32 {
  var c = 0u;
  for (var i = 0u; i < params.models; i++) {
    if (abs(stacked[i * params.stride + j]) > params.threshold) { c++; }
  }
  return c;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (t >= params.threads) { return; }
  for (var i = 0u; i < params.models; i++) {
    var shared_count = 0u;
    var unique_count = 0u;
    for (var j = t; j < params.count; j += params.threads) {
      if (abs(stacked[i * params.stride + j]) > params.threshold) {
        if (contributors(j) > 1u) { shared_count++; } else { unique_count++; }
      }
    }
    counts[2u * (i * params.threads + t)] = shared_count;
    counts[2u * (i * params.threads + t) + 1u] = unique_count;
  }
}
