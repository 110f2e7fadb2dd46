// IEEE f16 -> f32, two per u32 word. Finite values go through unpack2x16float (exact: every f16 is
// an f32); Inf/NaN are rebuilt from the bits because NaN payloads through float ops are not
// guaranteed. Output is raw f32 bits.
struct Params { count: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> packed: array<u32>;
@group(0) @binding(2) var<storage, read_write> unpacked: array<u32>;

fn widen(h: u32, finite: f32) -> u32 {
  if ((h & 0x7c00u) == 0x7c00u) { return ((h & 0x8000u) << 16u) | 0x7f800000u | ((h & 0x3ffu) << 13u); }
  return bitcast<u32>(finite);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let word = (wid.x + wid.y * nwg.x) * 256u + lid;
  let first = word * 2u;
  if (first >= params.count) { return; }
  let w = packed[word];
  let both = unpack2x16float(w);
  unpacked[first] = widen(w & 0xffffu, both.x);
  if (first + 1u < params.count) { unpacked[first + 1u] = widen(w >> 16u, both.y); }
}
