// arcee_fusion, pass 1: per row (last dim) and per chunk, the running (max, sum of exp(x - max))
// of the model row and of the base row, so the host can form both softmax normalizers; rows cut
// by a chunk boundary are combined on the host. One 64-thread workgroup per row piece.
struct Params { count: u32, stride: u32, chunk_start: u32, row_length: u32, first_row: u32, rows: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> stacked: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;

var<workgroup> tree_max: array<vec2f, 64>;
var<workgroup> tree_sum: array<vec2f, 64>;

/** Merges two (max, sum) pairs of the same normalizer, componentwise for model (x) and base (y). */
fn merge_max(ma: vec2f, mb: vec2f) -> vec2f { return max(ma, mb); }
fn merge_sum(ma: vec2f, sa: vec2f, mb: vec2f, sb: vec2f, m: vec2f) -> vec2f {
  return sa * exp(ma - m) + sb * exp(mb - m);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let w = wid.x + wid.y * nwg.x;  // uniform per workgroup
  var m = vec2f(-3.4028234663852886e38);
  var s = vec2f(0.0);
  if (w < params.rows) {
    let row_start = (params.first_row + w) * params.row_length;
    let lo = max(row_start, params.chunk_start) - params.chunk_start;
    let hi = min(row_start + params.row_length, params.chunk_start + params.count) - params.chunk_start;
    for (var j = lo + lid; j < hi; j += 64u) {
      let x = vec2f(stacked[j], stacked[params.stride + j]);
      let next = max(m, x);
      s = s * exp(m - next) + exp(x - next);
      m = next;
    }
  }
  tree_max[lid] = m;
  tree_sum[lid] = s;
  workgroupBarrier();
  for (var half = 32u; half > 0u; half >>= 1u) {
    if (lid < half) {
      let mm = merge_max(tree_max[lid], tree_max[lid + half]);
      tree_sum[lid] = merge_sum(tree_max[lid], tree_sum[lid], tree_max[lid + half], tree_sum[lid + half], mm);
      tree_max[lid] = mm;
    }
    workgroupBarrier();
  }
  if (lid == 0u && w < params.rows) {
    partials[4u * w] = tree_max[0].x;
    partials[4u * w + 1u] = tree_sum[0].x;
    partials[4u * w + 2u] = tree_max[0].y;
    partials[4u * w + 3u] = tree_sum[0].y;
  }
}
