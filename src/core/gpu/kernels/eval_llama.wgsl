// The Llama-family forward pass for evaluation: embedding gather, RMSNorm, tiled and naive matmul,
// rotate-half RoPE, causal grouped-query attention, SiLU gate, and log-softmax of target tokens.
// Only the tiled matmul uses workgroup memory and barriers; the rest run one invocation per row.
// One module so that every entry point shares the weight decoder: weights are u32 words holding
// f32 (dtype 0), or two packed bf16 (dtype 1) or f16 (dtype 2) values, low half first, because
// SwiftShader and many GPUs have no shader-f16. Entry points use disjoint binding numbers.

fn decode_weight(w_dtype: u32, word: u32, index: u32) -> f32 {
  if (w_dtype == 1u) {
    if ((index & 1u) == 0u) { return bitcast<f32>(word << 16u); }
    return bitcast<f32>(word & 0xffff0000u);
  }
  return unpack2x16float(word)[index & 1u];
}

// ---- embedding gather: x[t, :] = E[ids[t], :] ----
// A table over the binding limit is held in row slices: one dispatch per slice, rows
// [row0, row0 + row_count) of E; a token whose id falls outside the slice is left alone.
struct EmbedParams { rows: u32, dim: u32, w_dtype: u32, row0: u32, row_count: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> embed_p: EmbedParams;
@group(0) @binding(1) var<storage, read> embed_ids: array<i32>;
@group(0) @binding(2) var<storage, read> embed_w: array<u32>;
@group(0) @binding(3) var<storage, read_write> embed_out: array<f32>;

fn embed_load(i: u32) -> f32 {
  if (embed_p.w_dtype == 0u) { return bitcast<f32>(embed_w[i]); }
  return decode_weight(embed_p.w_dtype, embed_w[i >> 1u], i);
}

@compute @workgroup_size(256)
fn embed(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= embed_p.rows * embed_p.dim) { return; }
  let t = i / embed_p.dim;
  let c = i % embed_p.dim;
  let id = u32(embed_ids[t]);
  if (id < embed_p.row0 || id >= embed_p.row0 + embed_p.row_count) { return; }
  embed_out[i] = embed_load((id - embed_p.row0) * embed_p.dim + c);
}

// ---- RMSNorm of rows of width dim: out = w * x / sqrt(mean(x^2) + eps); one invocation per row ----
// (barrier-free: workgroup barriers are what CPU implementations of WebGPU such as SwiftShader run slowest)
struct NormParams { rows: u32, dim: u32, w_dtype: u32, eps: f32, x_offset: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(10) var<uniform> norm_p: NormParams;
@group(0) @binding(11) var<storage, read> norm_x: array<f32>;
@group(0) @binding(12) var<storage, read> norm_w: array<u32>;
@group(0) @binding(13) var<storage, read_write> norm_out: array<f32>;

fn norm_weight(i: u32) -> f32 {
  if (norm_p.w_dtype == 0u) { return bitcast<f32>(norm_w[i]); }
  return decode_weight(norm_p.w_dtype, norm_w[i >> 1u], i);
}

@compute @workgroup_size(64)
fn rms_norm(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * 64u;
  if (row >= norm_p.rows) { return; }
  let base = norm_p.x_offset + row * norm_p.dim;
  var ss = 0.0;
  for (var i = 0u; i < norm_p.dim; i++) { let v = norm_x[base + i]; ss += v * v; }
  let scale = inverseSqrt(ss / f32(norm_p.dim) + norm_p.eps);
  for (var i = 0u; i < norm_p.dim; i++) {
    norm_out[row * norm_p.dim + i] = norm_weight(i) * (norm_x[base + i] * scale);
  }
}

// ---- matmul: out[t, o] (+)= sum_i x[t, i] * W[o, i] + bias[o], W row-major [out, in] ----
// W may be a row slice of a larger matrix (one over the binding limit): its out_dim rows are the
// outputs [out_col0, out_col0 + out_dim) of rows out_stride wide (the bias is indexed the same way).
struct MatmulParams { rows: u32, in_dim: u32, out_dim: u32, w_dtype: u32, has_bias: u32, bias_dtype: u32, accumulate: u32, out_col0: u32, out_stride: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(20) var<uniform> mm_p: MatmulParams;
@group(0) @binding(21) var<storage, read> mm_x: array<f32>;
@group(0) @binding(22) var<storage, read> mm_w: array<u32>;
@group(0) @binding(23) var<storage, read> mm_bias: array<u32>;
@group(0) @binding(24) var<storage, read_write> mm_out: array<f32>;

const TILE: u32 = 16u;
const OUTS_PER_THREAD: u32 = 4u;
var<workgroup> tile_x: array<array<f32, 16>, 16>;
var<workgroup> tile_w: array<array<f32, 17>, 64>;

fn mm_weight(i: u32) -> f32 {
  if (mm_p.w_dtype == 0u) { return bitcast<f32>(mm_w[i]); }
  return decode_weight(mm_p.w_dtype, mm_w[i >> 1u], i);
}

fn mm_finish(t: u32, o_local: u32, acc: f32) {
  var v = acc;
  let o = mm_p.out_col0 + o_local;
  if (mm_p.has_bias != 0u) {
    if (mm_p.bias_dtype == 0u) { v += bitcast<f32>(mm_bias[o]); } else { v += decode_weight(mm_p.bias_dtype, mm_bias[o >> 1u], o); }
  }
  let at = t * mm_p.out_stride + o;
  if (mm_p.accumulate != 0u) { v += mm_out[at]; }
  mm_out[at] = v;
}

// Output tiles of 16 rows x 64 outputs: x and W tiles are staged in workgroup memory, and each
// invocation accumulates four outputs (16 apart) of one row, so each staged x value serves four
// multiply-adds and each barrier pair covers 32K flops.
@compute @workgroup_size(16, 16)
fn matmul_tiled(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let o0 = wid.x * TILE * OUTS_PER_THREAD;
  let t0 = wid.y * TILE;
  var acc = vec4f(0.0);
  for (var k0 = 0u; k0 < mm_p.in_dim; k0 += TILE) {
    let k = k0 + lid.x;
    let xt = t0 + lid.y;
    var xv = 0.0;
    if (xt < mm_p.rows && k < mm_p.in_dim) { xv = mm_x[xt * mm_p.in_dim + k]; }
    tile_x[lid.y][lid.x] = xv;
    for (var j = 0u; j < OUTS_PER_THREAD; j++) {
      let wr = lid.y + TILE * j;
      let wo = o0 + wr;
      var wv = 0.0;
      if (wo < mm_p.out_dim && k < mm_p.in_dim) { wv = mm_weight(wo * mm_p.in_dim + k); }
      tile_w[wr][lid.x] = wv;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TILE; kk++) {
      let a = tile_x[lid.y][kk];
      acc += a * vec4f(tile_w[lid.x][kk], tile_w[lid.x + 16u][kk], tile_w[lid.x + 32u][kk], tile_w[lid.x + 48u][kk]);
    }
    workgroupBarrier();
  }
  let t = t0 + lid.y;
  if (t < mm_p.rows) {
    for (var j = 0u; j < OUTS_PER_THREAD; j++) {
      let o = o0 + lid.x + TILE * j;
      if (o < mm_p.out_dim) { mm_finish(t, o, acc[j]); }
    }
  }
}

// One invocation per output, straight from storage: the baseline the bench compares against.
@compute @workgroup_size(256)
fn matmul_naive(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = gid.x + gid.y * nwg.x * 256u;
  if (idx >= mm_p.rows * mm_p.out_dim) { return; }
  let t = idx / mm_p.out_dim;
  let o = idx % mm_p.out_dim;
  var acc = 0.0;
  for (var k = 0u; k < mm_p.in_dim; k++) { acc += mm_x[t * mm_p.in_dim + k] * mm_weight(o * mm_p.in_dim + k); }
  mm_finish(t, o, acc);
}

// ---- rotate-half RoPE in place on [rows, heads, head_dim], cos/sin tables [positions, head_dim/2];
// row t sits at position rows[2t + 1] (rows holds (sequence slot, position) pairs) ----
struct RopeParams { rows: u32, heads: u32, head_dim: u32, _pad: u32 }
@group(0) @binding(30) var<uniform> rope_p: RopeParams;
@group(0) @binding(31) var<storage, read_write> rope_x: array<f32>;
@group(0) @binding(32) var<storage, read> rope_cos: array<f32>;
@group(0) @binding(33) var<storage, read> rope_sin: array<f32>;
@group(0) @binding(34) var<storage, read> rope_rows: array<u32>;

@compute @workgroup_size(256)
fn rope(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let half = rope_p.head_dim / 2u;
  let idx = gid.x + gid.y * nwg.x * 256u;
  if (idx >= rope_p.rows * rope_p.heads * half) { return; }
  let j = idx % half;
  let th = idx / half;
  let t = th / rope_p.heads;
  let base = th * rope_p.head_dim;
  let tab = rope_rows[2u * t + 1u] * half + j;
  let c = rope_cos[tab];
  let s = rope_sin[tab];
  let a = rope_x[base + j];
  let b = rope_x[base + j + half];
  rope_x[base + j] = a * c - b * s;
  rope_x[base + j + half] = b * c + a * s;
}

// ---- storing each row's key and value at its (sequence slot, position) of the KV cache,
// laid out [slot, capacity, kv_dim] ----
struct KvStoreParams { rows: u32, kv_dim: u32, capacity: u32, _pad: u32 }
@group(0) @binding(70) var<uniform> kvs_p: KvStoreParams;
@group(0) @binding(71) var<storage, read> kvs_k: array<f32>;
@group(0) @binding(72) var<storage, read> kvs_v: array<f32>;
@group(0) @binding(73) var<storage, read> kvs_rows: array<u32>;
@group(0) @binding(74) var<storage, read_write> kvs_kcache: array<f32>;
@group(0) @binding(75) var<storage, read_write> kvs_vcache: array<f32>;

@compute @workgroup_size(256)
fn kv_store(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = gid.x + gid.y * nwg.x * 256u;
  if (idx >= kvs_p.rows * kvs_p.kv_dim) { return; }
  let t = idx / kvs_p.kv_dim;
  let e = idx % kvs_p.kv_dim;
  let at = (kvs_rows[2u * t] * kvs_p.capacity + kvs_rows[2u * t + 1u]) * kvs_p.kv_dim + e;
  kvs_kcache[at] = kvs_k[idx];
  kvs_vcache[at] = kvs_v[idx];
}

// ---- causal grouped-query attention over the KV cache; one invocation per (row, head), with a
// single pass of online softmax (running max and sum), so no scores buffer and no barriers ----
const MAX_HEAD_DIM: u32 = 256u;
struct AttnParams { rows: u32, heads: u32, kv_heads: u32, head_dim: u32, capacity: u32, scale: f32, _p0: u32, _p1: u32 }
@group(0) @binding(40) var<uniform> attn_p: AttnParams;
@group(0) @binding(41) var<storage, read> attn_q: array<f32>;
@group(0) @binding(42) var<storage, read> attn_k: array<f32>;
@group(0) @binding(43) var<storage, read> attn_v: array<f32>;
@group(0) @binding(45) var<storage, read_write> attn_out: array<f32>;
@group(0) @binding(46) var<storage, read> attn_rows: array<u32>;

@compute @workgroup_size(64)
fn attention(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let th = gid.x + gid.y * nwg.x * 64u;
  if (th >= attn_p.rows * attn_p.heads) { return; }
  let t = th / attn_p.heads;
  let head = th % attn_p.heads;
  let hd = attn_p.head_dim;
  let kv_dim = attn_p.kv_heads * hd;
  // Row t attends to its own sequence's cache slot, positions 0..its own position.
  let kv_off = attn_rows[2u * t] * attn_p.capacity * kv_dim + (head / (attn_p.heads / attn_p.kv_heads)) * hd;
  let q_off = th * hd;
  let visible = attn_rows[2u * t + 1u] + 1u;
  var acc: array<f32, MAX_HEAD_DIM>;
  for (var d = 0u; d < hd; d++) { acc[d] = 0.0; }
  var running_max = -3.0e38;
  var running_sum = 0.0;
  for (var s = 0u; s < visible; s++) {
    var dot = 0.0;
    for (var d = 0u; d < hd; d++) { dot += attn_q[q_off + d] * attn_k[s * kv_dim + kv_off + d]; }
    let score = dot * attn_p.scale;
    let new_max = max(running_max, score);
    let rescale = exp(running_max - new_max);
    let p = exp(score - new_max);
    running_sum = running_sum * rescale + p;
    for (var d = 0u; d < hd; d++) { acc[d] = acc[d] * rescale + p * attn_v[s * kv_dim + kv_off + d]; }
    running_max = new_max;
  }
  let inv = 1.0 / running_sum;
  for (var d = 0u; d < hd; d++) { attn_out[q_off + d] = acc[d] * inv; }
}

// ---- SwiGLU: gate = silu(gate) * up ----
struct GateParams { count: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(50) var<uniform> gate_p: GateParams;
@group(0) @binding(51) var<storage, read_write> gate_x: array<f32>;
@group(0) @binding(52) var<storage, read> gate_up: array<f32>;

@compute @workgroup_size(256)
fn silu_gate(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= gate_p.count) { return; }
  let g = gate_x[i];
  gate_x[i] = g / (1.0 + exp(-g)) * gate_up[i];
}

// ---- log-softmax of each logits row, gathered at that row's target token; one invocation per row ----
struct LsmParams { rows: u32, vocab: u32, _p0: u32, _p1: u32 }
@group(0) @binding(60) var<uniform> lsm_p: LsmParams;
@group(0) @binding(61) var<storage, read> lsm_logits: array<f32>;
@group(0) @binding(62) var<storage, read> lsm_targets: array<i32>;
@group(0) @binding(63) var<storage, read_write> lsm_out: array<f32>;

@compute @workgroup_size(64)
fn log_softmax_target(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * 64u;
  if (row >= lsm_p.rows) { return; }
  let base = row * lsm_p.vocab;
  var m = -3.0e38;
  for (var i = 0u; i < lsm_p.vocab; i++) { m = max(m, lsm_logits[base + i]); }
  var s = 0.0;
  for (var i = 0u; i < lsm_p.vocab; i++) { s += exp(lsm_logits[base + i] - m); }
  lsm_out[row] = lsm_logits[base + u32(lsm_targets[row])] - m - log(s);
}
