// DAM backward: dW[o, i] = sum_t dy[t, o] * x[t, i] over a batch's token rows, for one linear
// weight. One invocation per weight element and no barriers (they cost dearly on CPU WebGPU such
// as SwiftShader); neighbouring invocations share dy[t, o] and read consecutive x[t, i].
struct Params { rows: u32, in_dim: u32, out_dim: u32, pad: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (e >= params.in_dim * params.out_dim) { return; }
  let o = e / params.in_dim;
  let i = e % params.in_dim;
  var s = 0.0;
  for (var t = 0u; t < params.rows; t++) {
    s += dy[t * params.out_dim + o] * x[t * params.in_dim + i];
  }
  dw[e] = s;
}
