// Partial L1 norms sum |row_r| of up to 16 stacked rows in one pass (for the L1 rescale after
// sparsifying): per-workgroup tree sums, added in f64 on the host. Few workgroups, as in dot_flat.
struct Params { count: u32, stride: u32, rows: u32, groups: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> stacked: array<f32>;
@group(0) @binding(2) var<storage, read> row_list: array<u32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

var<workgroup> tree: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let group = wid.x + wid.y * nwg.x;
  var sums: array<f32, 16>;
  for (var j = group * 256u + lid; j < params.count; j += params.groups * 256u) {
    for (var r = 0u; r < params.rows; r++) { sums[r] += abs(stacked[row_list[r] * params.stride + j]); }
  }
  for (var r = 0u; r < params.rows; r++) {
    tree[lid] = sums[r];
    workgroupBarrier();
    for (var half = 128u; half > 0u; half >>= 1u) {
      if (lid < half) { tree[lid] += tree[lid + half]; }
      workgroupBarrier();
    }
    if (lid == 0u) { partials[r * params.groups + group] = tree[0]; }
    workgroupBarrier();
  }
}
