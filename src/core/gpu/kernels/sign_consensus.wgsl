// TIES sign election and mix: rows 0..models-1 hold (sparsified) task vectors, base_row the base.
// w_i = coef_i * tau_i; the sign of sum_i w_i (0 counts as +) is elected; only agreeing entries
// mix, and with normalize they are divided by the sum of the agreeing models' weights.
// coef holds the coefficients (weight x rescale) then the weights, `models` of each.
struct Params { count: u32, stride: u32, models: u32, base_row: u32, lambda: f32, normalize: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> stacked: array<f32>;
@group(0) @binding(2) var<storage, read> coef: array<f32>;
@group(0) @binding(3) var<storage, read_write> merged: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (j >= params.count) { return; }
  var vote = 0.0;
  for (var i = 0u; i < params.models; i++) { vote += coef[i] * stacked[i * params.stride + j]; }
  let positive = vote >= 0.0;
  var mixed = 0.0;
  var divisor = 0.0;
  for (var i = 0u; i < params.models; i++) {
    let w = coef[i] * stacked[i * params.stride + j];
    if ((positive && w > 0.0) || (!positive && w < 0.0)) {
      mixed += w;
      divisor += coef[params.models + i];
    }
  }
  if (params.normalize != 0u) {
    if (divisor == 0.0) { divisor = 1.0; }
    mixed = mixed / divisor;
  }
  merged[j] = stacked[params.base_row * params.stride + j] + mixed * params.lambda;
}
