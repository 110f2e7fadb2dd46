// NearSwap: per entry, move from the base toward the model by w = clamp(t / max(|base - model|, 1e-6), 0, 1).
struct Params { count: u32, stride: u32, base_row: u32, model_row: u32, t: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> stacked: array<f32>;
@group(0) @binding(2) var<storage, read_write> merged: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (j >= params.count) { return; }
  let a = stacked[params.base_row * params.stride + j];
  let b = stacked[params.model_row * params.stride + j];
  let w = clamp(params.t / max(abs(a - b), 1e-6), 0.0, 1.0);
  merged[j] = w * b + (1.0 - w) * a;
}
