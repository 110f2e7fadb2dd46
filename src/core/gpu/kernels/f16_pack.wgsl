// f32 -> IEEE f16 by hand on the bits, round to nearest even: pack2x16float's rounding is
// implementation-defined, and the result must equal f32ToF16Bits in src/core/dtype.ts bit for bit.
struct Params { count: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> values: array<u32>;
@group(0) @binding(2) var<storage, read_write> packed: array<u32>;

fn to_f16(u: u32) -> u32 {
  let sign = (u >> 16u) & 0x8000u;
  let a = u & 0x7fffffffu;
  if (a > 0x7f800000u) { return sign | 0x7e00u | ((a >> 13u) & 0x3ffu); }  // quiet NaN
  if (a >= 0x477ff000u) { return sign | 0x7c00u; }                          // >= 65520 -> Inf
  if (a < 0x38800000u) {
    // Subnormal result in units of 2^-24: shift the full significand, round to nearest even.
    let e = a >> 23u;
    if (e < 102u) { return sign; }  // below 2^-25: rounds to zero
    let m = (a & 0x7fffffu) | 0x800000u;
    let shift = 126u - e;             // 14..24
    var q = m >> shift;
    let rest = m & ((1u << shift) - 1u);
    let half = 1u << (shift - 1u);
    if (rest > half || (rest == half && (q & 1u) == 1u)) { q = q + 1u; }
    return sign | q;                  // q == 0x400 is the smallest normal, as it should be
  }
  let mant = a & 0x7fffffu;
  var h = (((a >> 23u) - 112u) << 10u) | (mant >> 13u);
  let rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u) == 1u)) { h = h + 1u; }
  return sign | h;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let word = (wid.x + wid.y * nwg.x) * 256u + lid;
  let first = word * 2u;
  if (first >= params.count) { return; }
  var hi = 0u;
  if (first + 1u < params.count) { hi = to_f16(values[first + 1u]); }
  packed[word] = to_f16(values[first]) | (hi << 16u);
}
