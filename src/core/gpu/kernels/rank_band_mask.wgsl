// Keeps the entries of one stacked row whose descending-|x| rank lies in [inner cut, outer cut)
// and zeroes the rest, writing the masked row to `masked` (the row itself stays intact while other
// invocations still count ties in it; the host copies `masked` back). An entry is inside a cut when its key exceeds the threshold, or equals it
// and fewer than `inside` tied entries precede it by index: tie_prefix gives the tied count before
// each 256-element block, and a tied entry counts the ties before it in its block (no barriers).
struct Params {
  count: u32, stride: u32, row: u32, outer_threshold: u32,
  outer_inside: u32, inner_threshold: u32, inner_inside: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> stacked: array<f32>;
@group(0) @binding(2) var<storage, read> tie_prefix: array<u32>;
@group(0) @binding(3) var<storage, read_write> masked: array<f32>;

fn key_at(j: u32) -> u32 { return bitcast<u32>(stacked[params.row * params.stride + j]) & 0x7fffffffu; }

/** Entries before j in j's 256-element block whose key equals `threshold`. */
fn ties_before(j: u32, threshold: u32) -> u32 {
  var n = 0u;
  for (var i = j & ~255u; i < j; i++) {
    if (key_at(i) == threshold) { n++; }
  }
  return n;
}

fn inside(key: u32, j: u32, threshold: u32, inside_count: u32, prefix: u32) -> bool {
  if (key != threshold) { return key > threshold; }
  return prefix + ties_before(j, threshold) < inside_count;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (j >= params.count) { return; }
  let key = key_at(j);
  let block = j / 256u;
  let in_outer = inside(key, j, params.outer_threshold, params.outer_inside, tie_prefix[2u * block]);
  let in_inner = inside(key, j, params.inner_threshold, params.inner_inside, tie_prefix[2u * block + 1u]);
  masked[j] = select(0.0, stacked[params.row * params.stride + j], in_outer && !in_inner);
}
