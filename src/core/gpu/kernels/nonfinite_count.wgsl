// Counts NaN and ±Inf values among `count` stored values (f32 words, or bf16/f16 two per u32 word)
// and adds the count to counts[slot]: the live loop's check of merged weights where they live, on
// the GPU, with one read-back of all tensors' counts. A value is non-finite exactly when its
// exponent field is all ones. One invocation per word, no barriers; the atomic only on a hit.
struct Params { count: u32, dtype: u32, slot: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> words: array<u32>;
@group(0) @binding(2) var<storage, read_write> counts: array<atomic<u32>>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let word = (wid.x + wid.y * nwg.x) * 256u + lid;
  var bad = 0u;
  if (params.dtype == 0u) {
    if (word >= params.count) { return; }
    if ((words[word] & 0x7f800000u) == 0x7f800000u) { bad = 1u; }
  } else {
    let first = word * 2u;
    if (first >= params.count) { return; }
    let w = words[word];
    // bf16: exponent 0x7f80 in each half; f16: 0x7c00.
    let e = select(0x7c00u, 0x7f80u, params.dtype == 1u);
    if ((w & e) == e) { bad = 1u; }
    if (first + 1u < params.count && ((w >> 16u) & e) == e) { bad = bad + 1u; }
  }
  if (bad > 0u) { atomicAdd(&counts[params.slot], bad); }
}
