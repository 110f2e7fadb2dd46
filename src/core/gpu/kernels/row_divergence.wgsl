// arcee_fusion, pass 2: per row piece, sum of p * log(p / q) with p = softmax(model row) + 1e-8 and
// q = softmax(base row) + 1e-8 (normalizers from pass 1, per row: max_p, sum_p, max_q, sum_q).
struct Params { count: u32, stride: u32, chunk_start: u32, row_length: u32, first_row: u32, rows: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> stacked: array<f32>;
@group(0) @binding(2) var<storage, read> normalizers: array<f32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

var<workgroup> tree: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let w = wid.x + wid.y * nwg.x;  // uniform per workgroup
  var kl = 0.0;
  if (w < params.rows) {
    let row = params.first_row + w;
    let max_p = normalizers[4u * row];
    let sum_p = normalizers[4u * row + 1u];
    let max_q = normalizers[4u * row + 2u];
    let sum_q = normalizers[4u * row + 3u];
    let row_start = row * params.row_length;
    let lo = max(row_start, params.chunk_start) - params.chunk_start;
    let hi = min(row_start + params.row_length, params.chunk_start + params.count) - params.chunk_start;
    for (var j = lo + lid; j < hi; j += 64u) {
      let p = exp(stacked[j] - max_p) / sum_p + 1e-8;
      let q = exp(stacked[params.stride + j] - max_q) / sum_q + 1e-8;
      kl += p * log(p / q);
    }
  }
  tree[lid] = kl;
  workgroupBarrier();
  for (var half = 32u; half > 0u; half >>= 1u) {
    if (lid < half) { tree[lid] += tree[lid + half]; }
    workgroupBarrier();
  }
  if (lid == 0u && w < params.rows) { partials[w] = tree[0]; }
}
