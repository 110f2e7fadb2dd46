// Radix-select histograms over 32-bit keys whose unsigned order is the order wanted: magnitude
// keys (f32 bits & 0x7fffffff, the order of |x|) or with `signed_order` the order of x itself.
// `high` counts the top 16 bits of every key; `low` counts the low 16 bits of the keys whose top
// half equals `bin`. Counts accumulate across chunks in the same buffer.
struct Params { count: u32, stride: u32, row: u32, bin: u32, signed_order: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> stacked: array<f32>;
@group(0) @binding(2) var<storage, read_write> histogram: array<atomic<u32>, 65536>;

fn key_at(j: u32) -> u32 {
  let b = bitcast<u32>(stacked[params.row * params.stride + j]);
  if (params.signed_order == 0u) { return b & 0x7fffffffu; }
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

@compute @workgroup_size(256)
fn high(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (j >= params.count) { return; }
  atomicAdd(&histogram[key_at(j) >> 16u], 1u);
}

@compute @workgroup_size(256)
fn low(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (j >= params.count) { return; }
  let key = key_at(j);
  if ((key >> 16u) == params.bin) { atomicAdd(&histogram[key & 0xffffu], 1u); }
}
