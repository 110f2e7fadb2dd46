// bf16 -> f32. Two bf16 values per u32 word (element 2i in the low half). Output is written as
// raw f32 bits so NaN payloads survive exactly, as in the CPU decoder.
struct Params { count: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> packed: array<u32>;
@group(0) @binding(2) var<storage, read_write> unpacked: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let word = (wid.x + wid.y * nwg.x) * 256u + lid;
  let first = word * 2u;
  if (first >= params.count) { return; }
  let w = packed[word];
  unpacked[first] = w << 16u;
  if (first + 1u < params.count) { unpacked[first + 1u] = w & 0xffff0000u; }
}
