// Sign election and mix (TIES, SCE): rows 0..models-1 hold (sparsified) task vectors, base_row the
// base. The sign of sum_i vote_i * tau_i (0 counts as +) is elected; the entries whose
// mix_i * tau_i agrees with it are summed, and with normalize divided by the sum of the agreeing
// models' divisor weights (floored at divisor_floor when it is > 0, else 0 becomes 1).
// coef holds vote_i, then mix_i, then divisor_i, `models` of each.
struct Params { count: u32, stride: u32, models: u32, base_row: u32, lambda: f32, normalize: u32, divisor_floor: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> stacked: array<f32>;
@group(0) @binding(2) var<storage, read> coef: array<f32>;
@group(0) @binding(3) var<storage, read_write> merged: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (j >= params.count) { return; }
  var vote = 0.0;
  let m = params.models;
  for (var i = 0u; i < m; i++) { vote += coef[i] * stacked[i * params.stride + j]; }
  let positive = vote >= 0.0;
  var mixed = 0.0;
  var divisor = 0.0;
  for (var i = 0u; i < params.models; i++) {
    let w = coef[m + i] * stacked[i * params.stride + j];
    if ((positive && w > 0.0) || (!positive && w < 0.0)) {
      mixed += w;
      divisor += coef[2u * m + i];
    }
  }
  if (params.normalize != 0u) {
    if (params.divisor_floor > 0.0) { divisor = max(divisor, params.divisor_floor); } else if (divisor == 0.0) { divisor = 1.0; }
    mixed = mixed / divisor;
  }
  merged[j] = stacked[params.base_row * params.stride + j] + mixed * params.lambda;
}
