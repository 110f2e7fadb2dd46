// DAM backward: the coefficient gradient of one learned tensor, dL/dc_m[j] = sum_r dW[r, j] *
// W_m[r, j] for every model m (models stacked [models, rows * cols]), written at the tensor's
// place in the flat coefficient-gradient array (model m's vector at offset + m * cols). One
// invocation per (m, j), barrier-free.
struct Params { rows: u32, cols: u32, models: u32, offset: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dw: array<f32>;
@group(0) @binding(2) var<storage, read> stacked: array<f32>;
@group(0) @binding(3) var<storage, read_write> coefficient_grad: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (e >= params.models * params.cols) { return; }
  let m = e / params.cols;
  let j = e % params.cols;
  let base = m * params.rows * params.cols;
  var s = 0.0;
  for (var r = 0u; r < params.rows; r++) {
    s += dw[r * params.cols + j] * stacked[base + r * params.cols + j];
  }
  coefficient_grad[params.offset + e] = s;
}
