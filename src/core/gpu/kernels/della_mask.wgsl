// DELLA magnitude-ranked random drop on one stacked row. Rows of the ranking run along dim 1: entry
// (o, k, r) of an [outer, row_length, inner] view; the chunk holds whole [row_length, inner] blocks.
// An entry's rank is its ascending position by |x| within its row, ties by lower column (counted
// directly: O(row_length) per entry, no sort); it is kept when
// f32(mix32(stream_key ^ g) >> 8) * 2^-24 < keep_p[rank] (g = global flat index; the table holds
// dellaKeepProbability of src/core/methods/random.ts per rank). Writes the masked row to `masked`
// (the row itself is read by other invocations while they rank); the host copies it back.
struct Params { count: u32, stride: u32, row: u32, chunk_start: u32, row_length: u32, inner: u32, stream_key: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> stacked: array<f32>;
@group(0) @binding(2) var<storage, read> keep_p: array<f32>;
@group(0) @binding(3) var<storage, read_write> masked: array<f32>;

#include "_mix32.wgsl"

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (j >= params.count) { return; }
  let offset = params.row * params.stride;
  let block = params.row_length * params.inner;
  let within = j % block;
  let column = within / params.inner;
  let first = j - within + within % params.inner;  // this row's column 0
  let x = stacked[offset + j];
  let key = bitcast<u32>(x) & 0x7fffffffu;
  var rank = 0u;
  for (var k = 0u; k < params.row_length; k++) {
    let other = bitcast<u32>(stacked[offset + first + k * params.inner]) & 0x7fffffffu;
    if (other < key || (other == key && k < column)) { rank++; }
  }
  let draw = f32(mix32(params.stream_key ^ (params.chunk_start + j)) >> 8u) * 5.9604644775390625e-8;
  masked[j] = select(0.0, x, draw < keep_p[rank]);
}
