// Partial dot product <row_a, row_b> over a stacked chunk: each workgroup strides over the chunk,
// reduces its threads' sums as a tree and writes one partial; the host adds partials in f64.
struct Params { count: u32, stride: u32, row_a: u32, row_b: u32, out_offset: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> stacked: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;

var<workgroup> tree: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let group = wid.x + wid.y * nwg.x;
  let groups = nwg.x * nwg.y;
  let a = params.row_a * params.stride;
  let b = params.row_b * params.stride;
  var sum = 0.0;
  for (var j = group * 256u + lid; j < params.count; j += groups * 256u) {
    sum += stacked[a + j] * stacked[b + j];
  }
  tree[lid] = sum;
  workgroupBarrier();
  for (var half = 128u; half > 0u; half >>= 1u) {
    if (lid < half) { tree[lid] += tree[lid + half]; }
    workgroupBarrier();
  }
  if (lid == 0u) { partials[params.out_offset + group] = tree[0]; }
}
