// Per 256-element block, how many magnitude keys equal each of two cut thresholds; the host turns
// these into prefix counts so that ties at a cut are kept lowest index first.
struct Params { count: u32, stride: u32, row: u32, threshold_a: u32, threshold_b: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> stacked: array<f32>;
@group(0) @binding(2) var<storage, read_write> counts: array<u32>;

var<workgroup> tied_a: atomic<u32>;
var<workgroup> tied_b: atomic<u32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let group = wid.x + wid.y * nwg.x;
  let j = group * 256u + lid;
  if (j < params.count) {
    let key = bitcast<u32>(stacked[params.row * params.stride + j]) & 0x7fffffffu;
    if (key == params.threshold_a) { atomicAdd(&tied_a, 1u); }
    if (key == params.threshold_b) { atomicAdd(&tied_b, 1u); }
  }
  workgroupBarrier();
  if (lid == 0u) {
    counts[2u * group] = atomicLoad(&tied_a);
    counts[2u * group + 1u] = atomicLoad(&tied_b);
  }
}
