// f32 -> bf16, round to nearest even; NaN becomes a quiet NaN keeping sign and top payload bits
// (same rule as f32ToBf16Bits in src/core/dtype.ts). Two values per output word.
struct Params { count: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> values: array<u32>;
@group(0) @binding(2) var<storage, read_write> packed: array<u32>;

fn to_bf16(u: u32) -> u32 {
  if ((u & 0x7fffffffu) > 0x7f800000u) { return ((u >> 16u) | 0x0040u) & 0xffffu; }
  // u + 0x7fff + lsb cannot wrap: the largest non-NaN pattern is 0xff800000.
  return ((u + 0x7fffu + ((u >> 16u) & 1u)) >> 16u) & 0xffffu;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let word = (wid.x + wid.y * nwg.x) * 256u + lid;
  let first = word * 2u;
  if (first >= params.count) { return; }
  var hi = 0u;
  if (first + 1u < params.count) { hi = to_bf16(values[first + 1u]); }
  packed[word] = to_bf16(values[first]) | (hi << 16u);
}
