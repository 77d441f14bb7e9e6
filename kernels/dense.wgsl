// Dense layer y = x W^T + b (x [N, In], W [Out, In], b [Out]) and its backward passes.
//
// Every pass is one strided product out[m, j] = sum_k u[m, k] * v[j, k]; the op fills the strides
// in `p` so that one body serves forward (m = output unit, j = sample), backward_input
// (m = input feature, j = sample) and backward_weight (m = output unit, j = input feature).
//
// Two variants of each pass:
// - regblock (software GPUs such as lavapipe): no workgroup memory, no barriers. Each invocation
//   computes 16 rows m x 2 columns j. The 16 rows are the same for the whole workgroup, so their
//   u loads have uniform addresses (lavapipe turns those into one scalar load and a broadcast);
//   only the 2 v loads per k differ between lanes (gathers). Each gathered value feeds 16 FMAs.
//   The op puts the big, streamed matrix (W) on the uniform side, so it is read from memory once.
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

const RB_ROWS = 16u;
const RB_LANES = 32u;

struct Block {
  m0: u32,
  j0: u32,
  // acc[4 * c + q]: rows m0 + 4q .. m0 + 4q + 3 of column j0 + RB_LANES * c
  acc: array<vec4<f32>, 8>,
}

fn rb_row(m0: u32, r: u32) -> u32 {
  return min(m0 + r, p.m - 1u) * p.su_m;
}

fn regblock(wid: vec3<u32>, lid: u32) -> Block {
  let m0 = (wid.y + wid.z * p.grid_y) * RB_ROWS;
  let j0 = wid.x * (2u * RB_LANES) + lid;
  // Rows and columns past the end are clamped for loading; their results are not stored.
  let o0 = rb_row(m0, 0u); let o1 = rb_row(m0, 1u); let o2 = rb_row(m0, 2u); let o3 = rb_row(m0, 3u);
  let o4 = rb_row(m0, 4u); let o5 = rb_row(m0, 5u); let o6 = rb_row(m0, 6u); let o7 = rb_row(m0, 7u);
  let o8 = rb_row(m0, 8u); let o9 = rb_row(m0, 9u); let o10 = rb_row(m0, 10u); let o11 = rb_row(m0, 11u);
  let o12 = rb_row(m0, 12u); let o13 = rb_row(m0, 13u); let o14 = rb_row(m0, 14u); let o15 = rb_row(m0, 15u);
  let va = min(j0, p.j - 1u) * p.sv_j;
  let vb = min(j0 + RB_LANES, p.j - 1u) * p.sv_j;
  var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
  var b0 = vec4<f32>(0.0); var b1 = vec4<f32>(0.0); var b2 = vec4<f32>(0.0); var b3 = vec4<f32>(0.0);
  for (var k = 0u; k < p.k; k++) {
    let uk = k * p.su_k;
    let vk = k * p.sv_k;
    let wa = v[va + vk];
    let wb = v[vb + vk];
    let x0 = vec4<f32>(u[o0 + uk], u[o1 + uk], u[o2 + uk], u[o3 + uk]);
    a0 = fma(x0, vec4<f32>(wa), a0);
    b0 = fma(x0, vec4<f32>(wb), b0);
    let x1 = vec4<f32>(u[o4 + uk], u[o5 + uk], u[o6 + uk], u[o7 + uk]);
    a1 = fma(x1, vec4<f32>(wa), a1);
    b1 = fma(x1, vec4<f32>(wb), b1);
    let x2 = vec4<f32>(u[o8 + uk], u[o9 + uk], u[o10 + uk], u[o11 + uk]);
    a2 = fma(x2, vec4<f32>(wa), a2);
    b2 = fma(x2, vec4<f32>(wb), b2);
    let x3 = vec4<f32>(u[o12 + uk], u[o13 + uk], u[o14 + uk], u[o15 + uk]);
    a3 = fma(x3, vec4<f32>(wa), a3);
    b3 = fma(x3, vec4<f32>(wb), b3);
  }
  return Block(m0, j0, array<vec4<f32>, 8>(a0, a1, a2, a3, b0, b1, b2, b3));
}

fn rb_store(blk: Block) {
  var acc = blk.acc;
  for (var c = 0u; c < 2u; c++) {
    let j = blk.j0 + c * RB_LANES;
    if (j >= p.j) { continue; }
    for (var r = 0u; r < RB_ROWS; r++) {
      let m = blk.m0 + r;
      if (m >= p.m) { break; }
      out[m * p.so_m + j * p.so_j] = acc[4u * c + r / 4u][r % 4u];
    }
  }
}

@compute @workgroup_size(RB_LANES)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  var blk = regblock(wid, lid);
  // m is the output unit in the forward pass.
  for (var t = 0u; t < 4u; t++) {
    let m = blk.m0 + 4u * t;
    let bq = vec4<f32>(bias[min(m, p.m - 1u)], bias[min(m + 1u, p.m - 1u)], bias[min(m + 2u, p.m - 1u)], bias[min(m + 3u, p.m - 1u)]);
    blk.acc[t] += bq;
    blk.acc[4u + t] += bq;
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
