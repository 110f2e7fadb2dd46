// Tie order for the magnitude cuts, one invocation per 256-element block (no barriers): for each
// entry, how many entries before it in its block have a key equal to each of the two thresholds
// (outer in the low 16 bits, inner in the high 16 bits), and per block the totals, which the host
// turns into prefix counts so that ties at a cut are kept lowest index first.
struct Params { count: u32, stride: u32, row: u32, threshold_a: u32, threshold_b: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> stacked: array<f32>;
@group(0) @binding(2) var<storage, read_write> block_totals: array<u32>;
@group(0) @binding(3) var<storage, read_write> tie_rank: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let block = (wid.x + wid.y * nwg.x) * 256u + lid;
  let start = block * 256u;
  if (start >= params.count) { return; }
  var tied_a = 0u;
  var tied_b = 0u;
  for (var j = start; j < min(start + 256u, params.count); j++) {
    tie_rank[j] = tied_a | (tied_b << 16u);
    let key = bitcast<u32>(stacked[params.row * params.stride + j]) & 0x7fffffffu;
    if (key == params.threshold_a) { tied_a++; }
    if (key == params.threshold_b) { tied_b++; }
  }
  block_totals[2u * block] = tied_a;
  block_totals[2u * block + 1u] = tied_b;
}
