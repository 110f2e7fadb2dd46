// Partial dot products <row a_p, row b_p> of up to 16 row pairs over a stacked chunk, in one pass
// over the data: each workgroup strides over the chunk, reduces each pair's thread sums as a tree
// and writes one partial per pair; the host adds the partials in f64. Few workgroups on purpose:
// barriers are very costly on CPU implementations (SwiftShader), and ~64 elements per thread
// keeps the serial part short.
struct Params { count: u32, stride: u32, pairs: u32, groups: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> stacked: array<f32>;
@group(0) @binding(2) var<storage, read> pair_rows: array<u32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

var<workgroup> tree: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let group = wid.x + wid.y * nwg.x;
  var sums: array<f32, 16>;
  for (var j = group * 256u + lid; j < params.count; j += params.groups * 256u) {
    for (var p = 0u; p < params.pairs; p++) {
      sums[p] += stacked[pair_rows[2u * p] * params.stride + j] * stacked[pair_rows[2u * p + 1u] * params.stride + j];
    }
  }
  for (var p = 0u; p < params.pairs; p++) {
    tree[lid] = sums[p];
    workgroupBarrier();
    for (var half = 128u; half > 0u; half >>= 1u) {
      if (lid < half) { tree[lid] += tree[lid + half]; }
      workgroupBarrier();
    }
    if (lid == 0u) { partials[p * params.groups + group] = tree[0]; }
    workgroupBarrier();
  }
}
