// arcee_fusion: `importance` (mode 0) writes |model - base| x KL(row) into the scratch row 2;
// `select` (mode 1) takes the model's change where importance >= threshold, else keeps the base.
// Rows: 0 model, 1 base, 2 importance.
struct Params { count: u32, stride: u32, chunk_start: u32, row_length: u32, mode: u32, threshold: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> stacked: array<f32>;
@group(0) @binding(2) var<storage, read> row_divergence: array<f32>;
@group(0) @binding(3) var<storage, read_write> merged: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (j >= params.count) { return; }
  let change = stacked[j] - stacked[params.stride + j];
  if (params.mode == 0u) {
    stacked[2u * params.stride + j] = abs(change) * row_divergence[(params.chunk_start + j) / params.row_length];
  } else {
    let base = stacked[params.stride + j];
    merged[j] = select(base, base + change, stacked[2u * params.stride + j] >= params.threshold);
  }
}
