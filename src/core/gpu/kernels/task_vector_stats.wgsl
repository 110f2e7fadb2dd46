// Task-vector statistics of up to 8 models against a base over one stacked chunk, in one pass:
// row 0 is the base, rows 1..n the models. For d_i = row_i - base each workgroup writes partial
// sums of d_i * d_i (squared norms) and d_i * d_j for i < j (dot products, for cosines), and
// counts of elements where d_i and d_j have opposite signs (pairwise sign conflicts) and where
// some d_i > 0 while another d_j < 0 (any conflict). The host adds the partials in f64 (sums)
// and u32 (counts). Few workgroups on purpose, as in dot_flat (barriers are costly on SwiftShader).
struct Params { count: u32, stride: u32, models: u32, groups: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> stacked: array<f32>;
// Per group: 8 squared norms then 28 pair dots (i < j in row-major order): 36 floats.
@group(0) @binding(2) var<storage, read_write> sums: array<f32>;
// Per group: 28 pairwise conflict counts then the any-conflict count: 29 words.
@group(0) @binding(3) var<storage, read_write> counts: array<u32>;

const MAX_MODELS = 8u;
const PAIRS = 28u;
const SUMS = 36u;
const COUNTS = 29u;

var<workgroup> ftree: array<f32, 256>;
var<workgroup> ctree: array<u32, 256>;

fn pair_index(i: u32, j: u32) -> u32 {
  // Pairs (0,1), (0,2), ..., (0,7), (1,2), ...: those before row i, then the offset in row i.
  return i * (2u * MAX_MODELS - i - 1u) / 2u + (j - i - 1u);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let group = wid.x + wid.y * nwg.x;
  let n = params.models;
  var f: array<f32, 36>;
  var c: array<u32, 29>;
  var d: array<f32, 8>;
  for (var e = group * 256u + lid; e < params.count; e += params.groups * 256u) {
    let base = stacked[e];
    var pos = false;
    var neg = false;
    for (var i = 0u; i < n; i++) {
      d[i] = stacked[(i + 1u) * params.stride + e] - base;
      f[i] += d[i] * d[i];
      pos = pos || d[i] > 0.0;
      neg = neg || d[i] < 0.0;
    }
    for (var i = 0u; i < n; i++) {
      for (var j = i + 1u; j < n; j++) {
        let p = pair_index(i, j);
        f[MAX_MODELS + p] += d[i] * d[j];
        if ((d[i] > 0.0 && d[j] < 0.0) || (d[i] < 0.0 && d[j] > 0.0)) { c[p] += 1u; }
      }
    }
    if (pos && neg) { c[PAIRS] += 1u; }
  }
  for (var k = 0u; k < SUMS; k++) {
    ftree[lid] = f[k];
    workgroupBarrier();
    for (var half = 128u; half > 0u; half >>= 1u) {
      if (lid < half) { ftree[lid] += ftree[lid + half]; }
      workgroupBarrier();
    }
    if (lid == 0u) { sums[group * SUMS + k] = ftree[0]; }
    workgroupBarrier();
  }
  for (var k = 0u; k < COUNTS; k++) {
    ctree[lid] = c[k];
    workgroupBarrier();
    for (var half = 128u; half > 0u; half >>= 1u) {
      if (lid < half) { ctree[lid] += ctree[lid + half]; }
      workgroupBarrier();
    }
    if (lid == 0u) { counts[group * COUNTS + k] = ctree[0]; }
    workgroupBarrier();
  }
}
