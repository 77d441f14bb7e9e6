// Dense layer y = x W^T + b (x [N, In], W [Out, In], b [Out]) and its backward passes.
//
// Every pass is one strided product out[m, j] = sum_k u[m, k] * v[j, k]; the op fills the strides
// in `p` so that one body serves forward (m = output unit, j = sample), backward_input
// (m = input feature, j = sample) and backward_weight (m = output unit, j = input feature).
//
// Two variants of each pass:
// - regblock (software GPUs such as lavapipe): no workgroup memory, no barriers. Each invocation
//   computes 8 rows m x 8 columns j. The 8 rows are the same for the whole workgroup, so their u
//   loads have uniform addresses (lavapipe turns those into one scalar load and a broadcast); only
//   the 8 v loads per k differ between lanes (lavapipe gathers those lane by lane, which is what
//   limits the speed). 8x8 with 8 lanes measured best among 4..16 rows x 1..16 columns x 4..32
//   lanes, and plain f32 loads beat vec4 loads along k (bench/dense-probe.ts, lavapipe 25.0.7).
// - tiled (real GPUs): 16x16 tiles of u and v through workgroup memory, one output per invocation.

struct Gemm {
  m: u32,
  j: u32,
  k: u32,
  su_m: u32,
  su_k: u32,
  sv_j: u32,
  sv_k: u32,
  so_m: u32,
  so_j: u32,
  grid_y: u32,   // workgroups along m in y; more go to z (65535 per dimension)
}

@group(0) @binding(0) var<uniform> p: Gemm;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

const RB_ROWS = 8u;
const RB_COLS = 8u;
const RB_LANES = 8u;

struct Block {
  m0: u32,
  j0: u32,
  // acc[2 * c + h]: rows m0 + 4h .. m0 + 4h + 3 of column j0 + RB_LANES * c
  acc: array<vec4<f32>, 16>,
}

fn rb_row(m0: u32, r: u32) -> u32 {
  return min(m0 + r, p.m - 1u) * p.su_m;
}

fn rb_col(j0: u32, c: u32) -> u32 {
  return min(j0 + c * RB_LANES, p.j - 1u) * p.sv_j;
}

fn regblock(wid: vec3<u32>, lid: u32) -> Block {
  let m0 = (wid.y + wid.z * p.grid_y) * RB_ROWS;
  let j0 = wid.x * (RB_COLS * RB_LANES) + lid;
  // Rows and columns past the end are clamped for loading; their results are not stored.
  let o0 = rb_row(m0, 0u); let o1 = rb_row(m0, 1u); let o2 = rb_row(m0, 2u); let o3 = rb_row(m0, 3u);
  let o4 = rb_row(m0, 4u); let o5 = rb_row(m0, 5u); let o6 = rb_row(m0, 6u); let o7 = rb_row(m0, 7u);
  let q0 = rb_col(j0, 0u); let q1 = rb_col(j0, 1u); let q2 = rb_col(j0, 2u); let q3 = rb_col(j0, 3u);
  let q4 = rb_col(j0, 4u); let q5 = rb_col(j0, 5u); let q6 = rb_col(j0, 6u); let q7 = rb_col(j0, 7u);
  var a0 = vec4<f32>(0.0); var b0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var b1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0); var b2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0); var b3 = vec4<f32>(0.0);
  var a4 = vec4<f32>(0.0); var b4 = vec4<f32>(0.0); var a5 = vec4<f32>(0.0); var b5 = vec4<f32>(0.0);
  var a6 = vec4<f32>(0.0); var b6 = vec4<f32>(0.0); var a7 = vec4<f32>(0.0); var b7 = vec4<f32>(0.0);
  for (var k = 0u; k < p.k; k++) {
    let uk = k * p.su_k;
    let vk = k * p.sv_k;
    let xa = vec4<f32>(u[o0 + uk], u[o1 + uk], u[o2 + uk], u[o3 + uk]);
    let xb = vec4<f32>(u[o4 + uk], u[o5 + uk], u[o6 + uk], u[o7 + uk]);
    let w0 = vec4<f32>(v[q0 + vk]); a0 = fma(xa, w0, a0); b0 = fma(xb, w0, b0);
    let w1 = vec4<f32>(v[q1 + vk]); a1 = fma(xa, w1, a1); b1 = fma(xb, w1, b1);
    let w2 = vec4<f32>(v[q2 + vk]); a2 = fma(xa, w2, a2); b2 = fma(xb, w2, b2);
    let w3 = vec4<f32>(v[q3 + vk]); a3 = fma(xa, w3, a3); b3 = fma(xb, w3, b3);
    let w4 = vec4<f32>(v[q4 + vk]); a4 = fma(xa, w4, a4); b4 = fma(xb, w4, b4);
    let w5 = vec4<f32>(v[q5 + vk]); a5 = fma(xa, w5, a5); b5 = fma(xb, w5, b5);
    let w6 = vec4<f32>(v[q6 + vk]); a6 = fma(xa, w6, a6); b6 = fma(xb, w6, b6);
    let w7 = vec4<f32>(v[q7 + vk]); a7 = fma(xa, w7, a7); b7 = fma(xb, w7, b7);
  }
  return Block(m0, j0, array<vec4<f32>, 16>(a0, b0, a1, b1, a2, b2, a3, b3, a4, b4, a5, b5, a6, b6, a7, b7));
}

fn rb_store(blk: Block) {
  var acc = blk.acc;
  for (var c = 0u; c < RB_COLS; c++) {
    let j = blk.j0 + c * RB_LANES;
    if (j >= p.j) { break; }
    for (var r = 0u; r < RB_ROWS; r++) {
      let m = blk.m0 + r;
      if (m >= p.m) { break; }
      out[m * p.so_m + j * p.so_j] = acc[2u * c + r / 4u][r % 4u];
    }
  }
}

@compute @workgroup_size(RB_LANES)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  var blk = regblock(wid, lid);
  // m is the output unit in the forward pass.
  let mm = p.m - 1u;
  let m = blk.m0;
  let ba = vec4<f32>(bias[min(m, mm)], bias[min(m + 1u, mm)], bias[min(m + 2u, mm)], bias[min(m + 3u, mm)]);
  let bb = vec4<f32>(bias[min(m + 4u, mm)], bias[min(m + 5u, mm)], bias[min(m + 6u, mm)], bias[min(m + 7u, mm)]);
  for (var c = 0u; c < RB_COLS; c++) {
    blk.acc[2u * c] += ba;
    blk.acc[2u * c + 1u] += bb;
  }
  rb_store(blk);
}

@compute @workgroup_size(RB_LANES)
fn backward_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  rb_store(regblock(wid, lid));
}

@compute @workgroup_size(RB_LANES)
fn backward_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  rb_store(regblock(wid, lid));
}

// ---- tiled variant ------------------------------------------------------------------------

const TS = 16u;
var<workgroup> tu: array<array<f32, 17>, TS>;   // [m][k], padded against bank conflicts
var<workgroup> tv: array<array<f32, 17>, TS>;   // [j][k]

fn tiled(wid: vec3<u32>, lid: vec3<u32>) -> f32 {
  let m0 = (wid.y + wid.z * p.grid_y) * TS;
  let j0 = wid.x * TS;
  var acc = 0.0;
  for (var k0 = 0u; k0 < p.k; k0 += TS) {
    // Thread (x, y) loads element k0 + x of row m0 + y of u and of row j0 + y of v.
    let k = k0 + lid.x;
    let mu = m0 + lid.y;
    let jv = j0 + lid.y;
    tu[lid.y][lid.x] = select(0.0, u[min(mu, p.m - 1u) * p.su_m + min(k, p.k - 1u) * p.su_k], mu < p.m && k < p.k);
    tv[lid.y][lid.x] = select(0.0, v[min(jv, p.j - 1u) * p.sv_j + min(k, p.k - 1u) * p.sv_k], jv < p.j && k < p.k);
    workgroupBarrier();
    for (var kk = 0u; kk < TS; kk++) {
      acc = fma(tu[lid.y][kk], tv[lid.x][kk], acc);
    }
    workgroupBarrier();
  }
  return acc;
}

@compute @workgroup_size(TS, TS)
fn forward_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let acc = tiled(wid, lid);
  let m = (wid.y + wid.z * p.grid_y) * TS + lid.y;
  let j = wid.x * TS + lid.x;
  if (m < p.m && j < p.j) { out[m * p.so_m + j * p.so_j] = acc + bias[m]; }
}

@compute @workgroup_size(TS, TS)
fn backward_input_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let acc = tiled(wid, lid);
  let m = (wid.y + wid.z * p.grid_y) * TS + lid.y;
  let j = wid.x * TS + lid.x;
  if (m < p.m && j < p.j) { out[m * p.so_m + j * p.so_j] = acc; }
}

@compute @workgroup_size(TS, TS)
fn backward_weight_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let acc = tiled(wid, lid);
  let m = (wid.y + wid.z * p.grid_y) * TS + lid.y;
  let j = wid.x * TS + lid.x;
  if (m < p.m && j < p.j) { out[m * p.so_m + j * p.so_j] = acc; }
}

// ---- bias gradient: db[o] = sum_n dy[n, o] (both variants) -----------------------------------

struct BiasParams {
  n: u32,
  out_features: u32,
  row: u32,   // invocations per grid row in y (grids wider than 65535 workgroups wrap into y)
}

@group(0) @binding(5) var<uniform> q: BiasParams;
@group(0) @binding(6) var<storage, read> dy: array<f32>;
@group(0) @binding(7) var<storage, read_write> db: array<f32>;

@compute @workgroup_size(64)
fn backward_bias(@builtin(global_invocation_id) g: vec3<u32>) {
  let o = g.y * q.row + g.x;
  if (o >= q.out_features) { return; }
  var acc = 0.0;
  for (var n = 0u; n < q.n; n++) { acc += dy[n * q.out_features + o]; }
  db[o] = acc;
}
