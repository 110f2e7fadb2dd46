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

// Each invocation takes RUN consecutive entries and adds runs of equal bins at once: long runs
// of equal magnitudes (all-zero task vectors of frozen layers) would otherwise hammer one counter.
const RUN = 8u;

fn count_run(first: u32, low_half: bool) {
  var pending_bin = 0xffffffffu;
  var pending = 0u;
  for (var j = first; j < min(first + RUN, params.count); j++) {
    let key = key_at(j);
    if (low_half && (key >> 16u) != params.bin) { continue; }
    let bin = select(key >> 16u, key & 0xffffu, low_half);
    if (bin != pending_bin) {
      if (pending > 0u) { atomicAdd(&histogram[pending_bin], pending); }
      pending_bin = bin;
      pending = 0u;
    }
    pending++;
  }
  if (pending > 0u) { atomicAdd(&histogram[pending_bin], pending); }
}

@compute @workgroup_size(256)
fn high(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  count_run(((wid.x + wid.y * nwg.x) * 256u + lid) * RUN, false);
}

@compute @workgroup_size(256)
fn low(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  count_run(((wid.x + wid.y * nwg.x) * 256u + lid) * RUN, true);
}
