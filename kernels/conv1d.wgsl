// 1-D convolution (PyTorch Conv1d semantics): x [N, Cin, L], w [Cout, Cin, K], b [Cout],
// y [N, Cout, Lout]. Shapes arrive in the uniform `p`.
//
// Two variants:
// - regblock (software GPUs, e.g. lavapipe): no shared memory and no barriers. Each invocation
//   keeps an 8-channel x 4-position block of outputs in vec4 registers. Weights are packed first so
//   the 8 channels of one (channel, tap) are two vec4 loads at a workgroup-uniform address (lavapipe
//   then loads once and broadcasts); only the activations are per-lane gathers. When the dilation
//   divides the stride, taps are walked in steps of stride/dilation so the 4 positions slide over
//   one register window: one gather per tap instead of four.
// - tiled (real GPUs): implicit GEMM with 32x32 shared-memory tiles, 4x4 outputs per invocation.
// The weight gradient is a reduction over N*Lout: both variants split it into `chunks` ranges
// that write partial sums, and reduce_partials adds them up.

struct Params {
  n: u32, cin: u32, lin: u32, cout: u32,
  k: u32, lout: u32, stride: u32, pad: u32,
  dil: u32, has_bias: u32, cpad: u32, chunks: u32,
  chunk_len: u32, n0: u32, q: u32, slide: u32,
  gx: u32, m: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> wp: array<vec4<f32>>;      // packed weights
@group(0) @binding(6) var<storage, read_write> wpack: array<f32>;   // packing output
@group(0) @binding(7) var<storage, read> dy: array<f32>;
@group(0) @binding(8) var<storage, read_write> dx: array<f32>;
@group(0) @binding(9) var<storage, read_write> part: array<f32>;    // partial sums [chunks, m]
@group(0) @binding(10) var<storage, read> parts: array<f32>;
@group(0) @binding(11) var<storage, read_write> out: array<f32>;

const WG: u32 = 64u;
const BP: u32 = 4u;  // positions per invocation (regblock)

// x[xo + i] with zero outside [0, L).
fn xat(xo: u32, i: i32) -> f32 {
  let inside = i >= 0 && i < i32(p.lin);
  return select(0.0, x[xo + u32(clamp(i, 0, i32(p.lin) - 1))], inside);
}

// dy[o + t] with zero outside [0, Lout).
fn dyat(o: u32, t: i32) -> f32 {
  let inside = t >= 0 && t < i32(p.lout);
  return select(0.0, dy[o + u32(clamp(t, 0, i32(p.lout) - 1))], inside);
}

// ---- regblock variant -----------------------------------------------------------------------

// wpack[(ci*K + k)*cpad + co] = w[co, ci, k] (zero for co >= Cout); one invocation per element.
@compute @workgroup_size(64)
fn pack_weight_forward(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.y * p.gx + g.x;
  if (i >= p.cin * p.k * p.cpad) { return; }
  let co = i % p.cpad;
  let cik = i / p.cpad;
  wpack[i] = select(0.0, w[min(co, p.cout - 1u) * p.cin * p.k + cik], co < p.cout);
}

// wpack[(co*K + k)*cpad + ci] = w[co, ci, k] (zero for ci >= Cin).
@compute @workgroup_size(64)
fn pack_weight_input(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.y * p.gx + g.x;
  if (i >= p.cout * p.k * p.cpad) { return; }
  let ci = i % p.cpad;
  let cok = i / p.cpad;
  let co = cok / p.k;
  let k = cok % p.k;
  wpack[i] = select(0.0, w[(co * p.cin + min(ci, p.cin - 1u)) * p.k + k], ci < p.cin);
}

// Grid: x = position blocks of WG*BP, y = Cout/8 blocks, z = batch (offset n0).
@compute @workgroup_size(64)
fn forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let n = wg.z + p.n0;
  let co0 = wg.y * 8u;
  let t0 = (wg.x * WG + li) * BP;
  let cq = p.cpad / 4u;
  let s = i32(p.stride);
  let d = i32(p.dil);
  let base = i32(t0) * s - i32(p.pad);
  var a0 = vec4<f32>(); var a1 = vec4<f32>(); var a2 = vec4<f32>(); var a3 = vec4<f32>();
  var a4 = vec4<f32>(); var a5 = vec4<f32>(); var a6 = vec4<f32>(); var a7 = vec4<f32>();
  for (var ci = 0u; ci < p.cin; ci++) {
    let xo = (n * p.cin + ci) * p.lin;
    let wrow = ci * p.k * cq + co0 / 4u;
    if (p.slide == 1u) {
      // taps r, r+q, r+2q, ... read x at positions shifted by one stride each
      for (var r = 0u; r < p.q; r++) {
        let o = base + i32(r) * d;
        var v0 = xat(xo, o);
        var v1 = xat(xo, o + s);
        var v2 = xat(xo, o + 2 * s);
        var off = o + 3 * s;
        for (var k = r; k < p.k; k += p.q) {
          let v3 = xat(xo, off);
          off += s;
          let wi = wrow + k * cq;
          let w0 = wp[wi];
          let w1 = wp[wi + 1u];
          a0 += v0 * w0; a1 += v0 * w1;
          a2 += v1 * w0; a3 += v1 * w1;
          a4 += v2 * w0; a5 += v2 * w1;
          a6 += v3 * w0; a7 += v3 * w1;
          v0 = v1; v1 = v2; v2 = v3;
        }
      }
    } else {
      for (var k = 0u; k < p.k; k++) {
        let o = base + i32(k) * d;
        let v0 = xat(xo, o);
        let v1 = xat(xo, o + s);
        let v2 = xat(xo, o + 2 * s);
        let v3 = xat(xo, o + 3 * s);
        let wi = wrow + k * cq;
        let w0 = wp[wi];
        let w1 = wp[wi + 1u];
        a0 += v0 * w0; a1 += v0 * w1;
        a2 += v1 * w0; a3 += v1 * w1;
        a4 += v2 * w0; a5 += v2 * w1;
        a6 += v3 * w0; a7 += v3 * w1;
      }
    }
  }
  store_y(n, co0, t0, a0, a1);
  store_y(n, co0, t0 + 1u, a2, a3);
  store_y(n, co0, t0 + 2u, a4, a5);
  store_y(n, co0, t0 + 3u, a6, a7);
}

fn store_y(n: u32, co0: u32, t: u32, lo: vec4<f32>, hi: vec4<f32>) {
  if (t >= p.lout) { return; }
  for (var c = 0u; c < 8u; c++) {
    let co = co0 + c;
    if (co < p.cout) {
      var v = select(hi[c & 3u], lo[c & 3u], c < 4u);
      if (p.has_bias == 1u) { v += b[co]; }
      y[(n * p.cout + co) * p.lout + t] = v;
    }
  }
}

// dx[n, ci, i]: positions of one phase rho = i mod stride per workgroup, so which taps reach them
// is uniform. Grid: x = blocks of WG*BP positions of the phase, y = stride * Cin/8 blocks, z = batch.
@compute @workgroup_size(64)
fn backward_input(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let n = wg.z + p.n0;
  let rho = wg.y % p.stride;
  let ci0 = (wg.y / p.stride) * 8u;
  let u0 = (wg.x * WG + li) * BP;  // positions i = rho + stride * (u0 + j)
  let cq = p.cpad / 4u;
  let s = p.stride;
  var a0 = vec4<f32>(); var a1 = vec4<f32>(); var a2 = vec4<f32>(); var a3 = vec4<f32>();
  var a4 = vec4<f32>(); var a5 = vec4<f32>(); var a6 = vec4<f32>(); var a7 = vec4<f32>();
  // first tap k with (rho + pad - k*dil) divisible by the stride; taps repeat every q
  var ks = p.k;
  for (var kk = 0u; kk < p.q; kk++) {
    if ((kk * p.dil) % s == (rho + p.pad) % s) { ks = kk; break; }
  }
  for (var co = 0u; co < p.cout; co++) {
    let o = (n * p.cout + co) * p.lout;
    let wrow = co * p.k * cq + ci0 / 4u;
    if (p.slide == 1u) {
      // each next tap reads dy one position lower: the window [e, e+3] slides down by one
      var e = (i32(rho + p.pad) - i32(ks * p.dil)) / i32(s) + i32(u0);
      var v1 = dyat(o, e + 1);
      var v2 = dyat(o, e + 2);
      var v3 = dyat(o, e + 3);
      for (var k = ks; k < p.k; k += p.q) {
        let v0 = dyat(o, e);
        let w0 = wp[wrow + k * cq];
        let w1 = wp[wrow + k * cq + 1u];
        a0 += v0 * w0; a1 += v0 * w1;
        a2 += v1 * w0; a3 += v1 * w1;
        a4 += v2 * w0; a5 += v2 * w1;
        a6 += v3 * w0; a7 += v3 * w1;
        v3 = v2; v2 = v1; v1 = v0;
        e -= 1;
      }
    } else {
      for (var k = ks; k < p.k; k += p.q) {
        let e = (i32(rho + p.pad) - i32(k * p.dil)) / i32(s) + i32(u0);
        let v0 = dyat(o, e);
        let v1 = dyat(o, e + 1);
        let v2 = dyat(o, e + 2);
        let v3 = dyat(o, e + 3);
        let w0 = wp[wrow + k * cq];
        let w1 = wp[wrow + k * cq + 1u];
        a0 += v0 * w0; a1 += v0 * w1;
        a2 += v1 * w0; a3 += v1 * w1;
        a4 += v2 * w0; a5 += v2 * w1;
        a6 += v3 * w0; a7 += v3 * w1;
      }
    }
  }
  store_dx(n, ci0, rho + s * u0, a0, a1);
  store_dx(n, ci0, rho + s * (u0 + 1u), a2, a3);
  store_dx(n, ci0, rho + s * (u0 + 2u), a4, a5);
  store_dx(n, ci0, rho + s * (u0 + 3u), a6, a7);
}

fn store_dx(n: u32, ci0: u32, i: u32, lo: vec4<f32>, hi: vec4<f32>) {
  if (i >= p.lin) { return; }
  for (var c = 0u; c < 8u; c++) {
    let ci = ci0 + c;
    if (ci < p.cin) {
      dx[(n * p.cin + ci) * p.lin + i] = select(hi[c & 3u], lo[c & 3u], c < 4u);
    }
  }
}

// Partial dW over one chunk of the N*Lout reduction. Lanes: (ci, block of 4 taps); 8 output
// channels per workgroup row. Grid: x = (Cin * ceil(K/4)) / WG, y = Cout/8, z = chunks.
@compute @workgroup_size(64)
fn backward_weight(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let nkb = (p.k + 3u) / 4u;
  let idx = wg.x * WG + li;
  let ci = min(idx / nkb, p.cin - 1u);
  let k0 = (idx % nkb) * 4u;
  let co0 = wg.y * 8u;
  let r0 = wg.z * p.chunk_len;
  let r1 = min(r0 + p.chunk_len, p.n * p.lout);
  var a0 = vec4<f32>(); var a1 = vec4<f32>(); var a2 = vec4<f32>(); var a3 = vec4<f32>();
  var a4 = vec4<f32>(); var a5 = vec4<f32>(); var a6 = vec4<f32>(); var a7 = vec4<f32>();
  let s = i32(p.stride);
  let d = i32(p.dil);
  let com = p.cout - 1u;
  var n = r0 / p.lout;
  var t = r0 % p.lout;
  for (var r = r0; r < r1; r++) {
    let xo = (n * p.cin + ci) * p.lin;
    let o = i32(t) * s + i32(k0) * d - i32(p.pad);
    let v0 = xat(xo, o);
    let v1 = xat(xo, o + d);
    let v2 = xat(xo, o + 2 * d);
    let v3 = xat(xo, o + 3 * d);
    let go = n * p.cout * p.lout + t;
    let g0 = vec4<f32>(dy[go + min(co0, com) * p.lout], dy[go + min(co0 + 1u, com) * p.lout],
                       dy[go + min(co0 + 2u, com) * p.lout], dy[go + min(co0 + 3u, com) * p.lout]);
    let g1 = vec4<f32>(dy[go + min(co0 + 4u, com) * p.lout], dy[go + min(co0 + 5u, com) * p.lout],
                       dy[go + min(co0 + 6u, com) * p.lout], dy[go + min(co0 + 7u, com) * p.lout]);
    a0 += v0 * g0; a1 += v0 * g1;
    a2 += v1 * g0; a3 += v1 * g1;
    a4 += v2 * g0; a5 += v2 * g1;
    a6 += v3 * g0; a7 += v3 * g1;
    t++;
    if (t == p.lout) { t = 0u; n++; }
  }
  if (idx >= p.cin * nkb) { return; }
  let pbase = wg.z * p.m;
  store_dw(pbase, co0, ci, k0, a0, a1);
  store_dw(pbase, co0, ci, k0 + 1u, a2, a3);
  store_dw(pbase, co0, ci, k0 + 2u, a4, a5);
  store_dw(pbase, co0, ci, k0 + 3u, a6, a7);
}

fn store_dw(pbase: u32, co0: u32, ci: u32, k: u32, lo: vec4<f32>, hi: vec4<f32>) {
  if (k >= p.k) { return; }
  for (var c = 0u; c < 8u; c++) {
    let co = co0 + c;
    if (co < p.cout) {
      part[pbase + (co * p.cin + ci) * p.k + k] = select(hi[c & 3u], lo[c & 3u], c < 4u);
    }
  }
}

// Partial db over one chunk of N*Lout. Grid: x = Cout/WG, y = chunks.
@compute @workgroup_size(64)
fn backward_bias(@builtin(global_invocation_id) g: vec3<u32>) {
  let co = min(g.x, p.cout - 1u);
  let r0 = g.y * p.chunk_len;
  let r1 = min(r0 + p.chunk_len, p.n * p.lout);
  var n = r0 / p.lout;
  var t = r0 % p.lout;
  var acc = 0.0;
  for (var r = r0; r < r1; r++) {
    acc += dy[(n * p.cout + co) * p.lout + t];
    t++;
    if (t == p.lout) { t = 0u; n++; }
  }
  if (g.x < p.cout) { part[g.y * p.m + g.x] = acc; }
}

// out[i] = sum over chunks c of parts[c*m + i]. Grid rows of p.gx invocations.
@compute @workgroup_size(64)
fn reduce_partials(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.y * p.gx + g.x;
  if (i >= p.m) { return; }
  var acc = 0.0;
  for (var c = 0u; c < p.chunks; c++) { acc += parts[c * p.m + i]; }
  out[i] = acc;
}

// ---- tiled variant: implicit GEMM C[M, Ncol] = sum_kk A[M, kk] B[kk, Ncol] ---------------------

const TM: u32 = 32u;
const TN: u32 = 32u;
const TK: u32 = 16u;
var<workgroup> as_: array<f32, 512>;  // [TK][TM]
var<workgroup> bs_: array<f32, 512>;  // [TK][TN]

// pass 0 forward:  M = Cout, Ncol = N*Lout, kk = (ci, k)
// pass 1 dx:       M = Cin,  Ncol = N*Lin,  kk = (co, k)
// pass 2 dW:       M = Cout, Ncol = Cin*K,  kk = (n, t)
fn fetch_a(pass_: u32, m: u32, kk: u32) -> f32 {
  if (pass_ == 0u) { return w[m * p.cin * p.k + kk]; }
  if (pass_ == 1u) {
    let co = kk / p.k;
    return w[(co * p.cin + m) * p.k + kk % p.k];
  }
  let n = kk / p.lout;
  return dy[(n * p.cout + m) * p.lout + kk % p.lout];
}

fn fetch_b(pass_: u32, kk: u32, col: u32) -> f32 {
  if (pass_ == 0u) {
    let n = col / p.lout;
    let t = col % p.lout;
    let ci = kk / p.k;
    let k = kk % p.k;
    return xat((n * p.cin + ci) * p.lin, i32(t * p.stride + k * p.dil) - i32(p.pad));
  }
  if (pass_ == 1u) {
    let n = col / p.lin;
    let i = col % p.lin;
    let co = kk / p.k;
    let k = kk % p.k;
    let e = i32(i + p.pad) - i32(k * p.dil);
    if (e < 0 || e % i32(p.stride) != 0) { return 0.0; }
    return dyat((n * p.cout + co) * p.lout, e / i32(p.stride));
  }
  let n = kk / p.lout;
  let t = kk % p.lout;
  let ci = col / p.k;
  let k = col % p.k;
  return xat((n * p.cin + ci) * p.lin, i32(t * p.stride + k * p.dil) - i32(p.pad));
}

fn gemm_tile(pass_: u32, wg: vec3<u32>, lid: vec3<u32>, mdim: u32, ncol: u32, kk0: u32, kk1: u32) -> array<f32, 16> {
  let li = lid.y * 8u + lid.x;
  let m0 = wg.y * TM;
  let c0 = (wg.z * p.gx + wg.x) * TN;
  var acc: array<f32, 16>;
  for (var kt = kk0; kt < kk1; kt += TK) {
    for (var e = li; e < 512u; e += 64u) {
      let kr = e / TM;
      let mc = e % TM;
      let kk = kt + kr;
      let ok = kk < kk1;
      as_[e] = select(0.0, fetch_a(pass_, min(m0 + mc, mdim - 1u), min(kk, kk1 - 1u)), ok && m0 + mc < mdim);
      bs_[e] = select(0.0, fetch_b(pass_, min(kk, kk1 - 1u), min(c0 + mc, ncol - 1u)), ok && c0 + mc < ncol);
    }
    workgroupBarrier();
    for (var kr = 0u; kr < TK; kr++) {
      var av: array<f32, 4>;
      var bv: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        av[i] = as_[kr * TM + lid.y * 4u + i];
        bv[i] = bs_[kr * TN + lid.x * 4u + i];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i * 4u + j] += av[i] * bv[j]; }
      }
    }
    workgroupBarrier();
  }
  return acc;
}

// Grid: x (and z, rows of gx) = column tiles of N*Lout, y = Cout tiles.
@compute @workgroup_size(8, 8)
fn forward_tiled(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let ncol = p.n * p.lout;
  let acc = gemm_tile(0u, wg, lid, p.cout, ncol, 0u, p.cin * p.k);
  for (var i = 0u; i < 4u; i++) {
    let co = wg.y * TM + lid.y * 4u + i;
    for (var j = 0u; j < 4u; j++) {
      let col = (wg.z * p.gx + wg.x) * TN + lid.x * 4u + j;
      if (co < p.cout && col < ncol) {
        let n = col / p.lout;
        var v = acc[i * 4u + j];
        if (p.has_bias == 1u) { v += b[co]; }
        y[(n * p.cout + co) * p.lout + col % p.lout] = v;
      }
    }
  }
}

// Grid: x (and z) = column tiles of N*Lin, y = Cin tiles.
@compute @workgroup_size(8, 8)
fn backward_input_tiled(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let ncol = p.n * p.lin;
  let acc = gemm_tile(1u, wg, lid, p.cin, ncol, 0u, p.cout * p.k);
  for (var i = 0u; i < 4u; i++) {
    let ci = wg.y * TM + lid.y * 4u + i;
    for (var j = 0u; j < 4u; j++) {
      let col = (wg.z * p.gx + wg.x) * TN + lid.x * 4u + j;
      if (ci < p.cin && col < ncol) {
        let n = col / p.lin;
        dx[(n * p.cin + ci) * p.lin + col % p.lin] = acc[i * 4u + j];
      }
    }
  }
}

// Grid: x = column tiles of Cin*K, y = Cout tiles, z = chunks of N*Lout (p.gx = x tiles is unused
// for the column index here because z holds the chunk).
@compute @workgroup_size(8, 8)
fn backward_weight_tiled(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let ncol = p.cin * p.k;
  let kk0 = wg.z * p.chunk_len;
  let kk1 = min(kk0 + p.chunk_len, p.n * p.lout);
  let acc = gemm_tile(2u, vec3<u32>(wg.x, wg.y, 0u), lid, p.cout, ncol, kk0, kk1);
  for (var i = 0u; i < 4u; i++) {
    let co = wg.y * TM + lid.y * 4u + i;
    for (var j = 0u; j < 4u; j++) {
      let col = wg.x * TN + lid.x * 4u + j;
      if (co < p.cout && col < ncol) { part[wg.z * p.m + co * ncol + col] = acc[i * 4u + j]; }
    }
  }
}
