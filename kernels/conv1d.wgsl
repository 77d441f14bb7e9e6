// 1-D convolution (PyTorch Conv1d semantics): x [N, Cin, L], w [Cout, Cin, K], b [Cout],
// y [N, Cout, Lout]. Shapes arrive in the uniform `p`.
//
// Two variants:
// - regblock (software GPUs, e.g. lavapipe): no shared memory and no barriers; large register
//   blocks, weights packed so the 4 channels of one tap are one vec4, activations sliding through
//   a register window (see the section header below for why).
// - tiled (real GPUs): implicit GEMM with 32x32 shared-memory tiles, 4x4 outputs per invocation.
// The weight and bias gradients are reductions over N*Lout: they are split into `chunks` that
// write partial sums, and reduce_partials adds them up.

struct Params {
  n: u32, cin: u32, lin: u32, cout: u32,
  k: u32, lout: u32, stride: u32, pad: u32,
  dil: u32, has_bias: u32, cpad: u32, chunks: u32,
  chunk_len: u32, q: u32, slide: u32,
  gx: u32, m: u32, mpad: u32,
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
//
// Measured on lavapipe: every storage load costs about as much as a per-lane gather (uniform
// addresses included), and every assignment to a loop-carried variable is a masked blend plus a
// spill. So the kernels (1) maximise multiply-adds per loaded value with a large register block:
// 4 channels x 16 positions, the weight vec4 of a tap serving all 16 positions; (2) slide a window
// of activations so that U = 5 taps need only U new loads; (3) sum U taps per assignment.
// Lanes run over (batch, position block) so short outputs do not leave lanes idle. Workgroups of
// 8 invocations (one SIMD group on lavapipe) keep each group's spilled registers in L1.

const BP: u32 = 16u;  // output positions per invocation
const U: u32 = 5u;    // taps per unrolled step (mpad is a multiple of U)

// Packs w for the forward pass: wpack[((ci*q + r)*mpad + m)*cpad + co] = w[co, ci, r + m*q], zero
// where r + m*q >= K or co >= Cout, so the unrolled tap loops need no tail handling.
@compute @workgroup_size(64)
fn pack_weight_forward(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.y * p.gx + g.x;
  if (i >= p.cin * p.q * p.mpad * p.cpad) { return; }
  let co = i % p.cpad;
  let rest = i / p.cpad;
  let m = rest % p.mpad;
  let r = (rest / p.mpad) % p.q;
  let ci = rest / (p.mpad * p.q);
  let k = r + m * p.q;
  let ok = co < p.cout && k < p.k;
  wpack[i] = select(0.0, w[(min(co, p.cout - 1u) * p.cin + ci) * p.k + min(k, p.k - 1u)], ok);
}

// Packs w for dx: wpack[((co*q + r)*mpad + m)*cpad + ci] = w[co, ci, r + m*q] (zero padded).
@compute @workgroup_size(64)
fn pack_weight_input(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.y * p.gx + g.x;
  if (i >= p.cout * p.q * p.mpad * p.cpad) { return; }
  let ci = i % p.cpad;
  let rest = i / p.cpad;
  let m = rest % p.mpad;
  let r = (rest / p.mpad) % p.q;
  let co = rest / (p.mpad * p.q);
  let k = r + m * p.q;
  let ok = ci < p.cin && k < p.k;
  wpack[i] = select(0.0, w[(co * p.cin + min(ci, p.cin - 1u)) * p.k + min(k, p.k - 1u)], ok);
}

// y for 4 channels from co0 at position t (bias added when present).
fn store_y(n: u32, co0: u32, t: u32, ok: bool, v: vec4<f32>) {
  if (!ok || t >= p.lout) { return; }
  for (var c = 0u; c < 4u; c++) {
    let co = co0 + c;
    if (co < p.cout) {
      y[(n * p.cout + co) * p.lout + t] = v[c] + select(0.0, b[min(co, p.cout - 1u)], p.has_bias == 1u);
    }
  }
}

// Grid: x (+ z rows of gx) = lanes over N * ceil(Lout/BP), y = Cout/4 blocks.
@compute @workgroup_size(8)
fn forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let ntb = (p.lout + BP - 1u) / BP;
  let gi = (wg.z * p.gx + wg.x) * 8u + li;
  let ok = gi < p.n * ntb;
  let g = min(gi, p.n * ntb - 1u);
  let n = g / ntb;
  let t0 = (g % ntb) * BP;
  let co0 = wg.y * 4u;
  let cq = p.cpad / 4u;
  let s = i32(p.stride);
  let d = i32(p.dil);
  let base = i32(t0) * s - i32(p.pad);

  var a0 = vec4<f32>(); var a1 = vec4<f32>(); var a2 = vec4<f32>(); var a3 = vec4<f32>(); var a4 = vec4<f32>(); var a5 = vec4<f32>(); var a6 = vec4<f32>(); var a7 = vec4<f32>(); var a8 = vec4<f32>(); var a9 = vec4<f32>(); var a10 = vec4<f32>(); var a11 = vec4<f32>(); var a12 = vec4<f32>(); var a13 = vec4<f32>(); var a14 = vec4<f32>(); var a15 = vec4<f32>();
  for (var ci = 0u; ci < p.cin; ci++) {
    let xo = (n * p.cin + ci) * p.lin;
    for (var r = 0u; r < p.q; r++) {
      var wi = (ci * p.q + r) * p.mpad * cq + wg.y;
      let mr = select(0u, (p.k - r + p.q - 1u) / p.q, r < p.k);  // taps r, r+q, ... below K
      if (p.slide == 1u) {
        // tap r + m*q reads x one stride further per m: position j of tap m is window value j + m
        var o = base + i32(r) * d;
        var v0 = xat(xo, o + 0 * s);
        var v1 = xat(xo, o + 1 * s);
        var v2 = xat(xo, o + 2 * s);
        var v3 = xat(xo, o + 3 * s);
        var v4 = xat(xo, o + 4 * s);
        var v5 = xat(xo, o + 5 * s);
        var v6 = xat(xo, o + 6 * s);
        var v7 = xat(xo, o + 7 * s);
        var v8 = xat(xo, o + 8 * s);
        var v9 = xat(xo, o + 9 * s);
        var v10 = xat(xo, o + 10 * s);
        var v11 = xat(xo, o + 11 * s);
        var v12 = xat(xo, o + 12 * s);
        var v13 = xat(xo, o + 13 * s);
        var v14 = xat(xo, o + 14 * s);
        o += 15 * s;
        for (var m = 0u; m < mr; m += U) {
          let v15 = xat(xo, o + 0 * s);
          let v16 = xat(xo, o + 1 * s);
          let v17 = xat(xo, o + 2 * s);
          let v18 = xat(xo, o + 3 * s);
          let v19 = xat(xo, o + 4 * s);
          o += 5 * s;
          let w0 = wp[wi + 0u * cq];
          let w1 = wp[wi + 1u * cq];
          let w2 = wp[wi + 2u * cq];
          let w3 = wp[wi + 3u * cq];
          let w4 = wp[wi + 4u * cq];
          wi += U * cq;
          a0 = fma(vec4<f32>(v4), w4, fma(vec4<f32>(v3), w3, fma(vec4<f32>(v2), w2, fma(vec4<f32>(v1), w1, fma(vec4<f32>(v0), w0, a0)))));
          a1 = fma(vec4<f32>(v5), w4, fma(vec4<f32>(v4), w3, fma(vec4<f32>(v3), w2, fma(vec4<f32>(v2), w1, fma(vec4<f32>(v1), w0, a1)))));
          a2 = fma(vec4<f32>(v6), w4, fma(vec4<f32>(v5), w3, fma(vec4<f32>(v4), w2, fma(vec4<f32>(v3), w1, fma(vec4<f32>(v2), w0, a2)))));
          a3 = fma(vec4<f32>(v7), w4, fma(vec4<f32>(v6), w3, fma(vec4<f32>(v5), w2, fma(vec4<f32>(v4), w1, fma(vec4<f32>(v3), w0, a3)))));
          a4 = fma(vec4<f32>(v8), w4, fma(vec4<f32>(v7), w3, fma(vec4<f32>(v6), w2, fma(vec4<f32>(v5), w1, fma(vec4<f32>(v4), w0, a4)))));
          a5 = fma(vec4<f32>(v9), w4, fma(vec4<f32>(v8), w3, fma(vec4<f32>(v7), w2, fma(vec4<f32>(v6), w1, fma(vec4<f32>(v5), w0, a5)))));
          a6 = fma(vec4<f32>(v10), w4, fma(vec4<f32>(v9), w3, fma(vec4<f32>(v8), w2, fma(vec4<f32>(v7), w1, fma(vec4<f32>(v6), w0, a6)))));
          a7 = fma(vec4<f32>(v11), w4, fma(vec4<f32>(v10), w3, fma(vec4<f32>(v9), w2, fma(vec4<f32>(v8), w1, fma(vec4<f32>(v7), w0, a7)))));
          a8 = fma(vec4<f32>(v12), w4, fma(vec4<f32>(v11), w3, fma(vec4<f32>(v10), w2, fma(vec4<f32>(v9), w1, fma(vec4<f32>(v8), w0, a8)))));
          a9 = fma(vec4<f32>(v13), w4, fma(vec4<f32>(v12), w3, fma(vec4<f32>(v11), w2, fma(vec4<f32>(v10), w1, fma(vec4<f32>(v9), w0, a9)))));
          a10 = fma(vec4<f32>(v14), w4, fma(vec4<f32>(v13), w3, fma(vec4<f32>(v12), w2, fma(vec4<f32>(v11), w1, fma(vec4<f32>(v10), w0, a10)))));
          a11 = fma(vec4<f32>(v15), w4, fma(vec4<f32>(v14), w3, fma(vec4<f32>(v13), w2, fma(vec4<f32>(v12), w1, fma(vec4<f32>(v11), w0, a11)))));
          a12 = fma(vec4<f32>(v16), w4, fma(vec4<f32>(v15), w3, fma(vec4<f32>(v14), w2, fma(vec4<f32>(v13), w1, fma(vec4<f32>(v12), w0, a12)))));
          a13 = fma(vec4<f32>(v17), w4, fma(vec4<f32>(v16), w3, fma(vec4<f32>(v15), w2, fma(vec4<f32>(v14), w1, fma(vec4<f32>(v13), w0, a13)))));
          a14 = fma(vec4<f32>(v18), w4, fma(vec4<f32>(v17), w3, fma(vec4<f32>(v16), w2, fma(vec4<f32>(v15), w1, fma(vec4<f32>(v14), w0, a14)))));
          a15 = fma(vec4<f32>(v19), w4, fma(vec4<f32>(v18), w3, fma(vec4<f32>(v17), w2, fma(vec4<f32>(v16), w1, fma(vec4<f32>(v15), w0, a15)))));
          v0 = v5;
          v1 = v6;
          v2 = v7;
          v3 = v8;
          v4 = v9;
          v5 = v10;
          v6 = v11;
          v7 = v12;
          v8 = v13;
          v9 = v14;
          v10 = v15;
          v11 = v16;
          v12 = v17;
          v13 = v18;
          v14 = v19;
        }
      } else {
        // general dilation: every tap gathers its own BP values (q = 1 here)
        for (var k = 0u; k < p.k; k++) {
          let o = base + i32(k) * d;
          let w0 = wp[wi];
          wi += cq;
          a0 = fma(vec4<f32>(xat(xo, o + 0 * s)), w0, a0);
          a1 = fma(vec4<f32>(xat(xo, o + 1 * s)), w0, a1);
          a2 = fma(vec4<f32>(xat(xo, o + 2 * s)), w0, a2);
          a3 = fma(vec4<f32>(xat(xo, o + 3 * s)), w0, a3);
          a4 = fma(vec4<f32>(xat(xo, o + 4 * s)), w0, a4);
          a5 = fma(vec4<f32>(xat(xo, o + 5 * s)), w0, a5);
          a6 = fma(vec4<f32>(xat(xo, o + 6 * s)), w0, a6);
          a7 = fma(vec4<f32>(xat(xo, o + 7 * s)), w0, a7);
          a8 = fma(vec4<f32>(xat(xo, o + 8 * s)), w0, a8);
          a9 = fma(vec4<f32>(xat(xo, o + 9 * s)), w0, a9);
          a10 = fma(vec4<f32>(xat(xo, o + 10 * s)), w0, a10);
          a11 = fma(vec4<f32>(xat(xo, o + 11 * s)), w0, a11);
          a12 = fma(vec4<f32>(xat(xo, o + 12 * s)), w0, a12);
          a13 = fma(vec4<f32>(xat(xo, o + 13 * s)), w0, a13);
          a14 = fma(vec4<f32>(xat(xo, o + 14 * s)), w0, a14);
          a15 = fma(vec4<f32>(xat(xo, o + 15 * s)), w0, a15);
        }
      }
    }
  }
  store_y(n, co0, t0 + 0u, ok, a0);
  store_y(n, co0, t0 + 1u, ok, a1);
  store_y(n, co0, t0 + 2u, ok, a2);
  store_y(n, co0, t0 + 3u, ok, a3);
  store_y(n, co0, t0 + 4u, ok, a4);
  store_y(n, co0, t0 + 5u, ok, a5);
  store_y(n, co0, t0 + 6u, ok, a6);
  store_y(n, co0, t0 + 7u, ok, a7);
  store_y(n, co0, t0 + 8u, ok, a8);
  store_y(n, co0, t0 + 9u, ok, a9);
  store_y(n, co0, t0 + 10u, ok, a10);
  store_y(n, co0, t0 + 11u, ok, a11);
  store_y(n, co0, t0 + 12u, ok, a12);
  store_y(n, co0, t0 + 13u, ok, a13);
  store_y(n, co0, t0 + 14u, ok, a14);
  store_y(n, co0, t0 + 15u, ok, a15);
}

fn store_dx(n: u32, ci0: u32, i: u32, ok: bool, v: vec4<f32>) {
  if (!ok || i >= p.lin) { return; }
  for (var c = 0u; c < 4u; c++) {
    let ci = ci0 + c;
    if (ci < p.cin) { dx[(n * p.cin + ci) * p.lin + i] = v[c]; }
  }
}

// dx[n, ci, i]: positions of one phase rho = i mod stride per workgroup row, so which taps reach
// them is uniform: k = ks + m*q. Grid: x (+ z rows of gx) = lanes over N * ceil(ceil(L/stride)/BP),
// y = stride * Cin/4 blocks.
@compute @workgroup_size(8)
fn backward_input(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let s = p.stride;
  let ntb = ((p.lin + s - 1u) / s + BP - 1u) / BP;
  let gi = (wg.z * p.gx + wg.x) * 8u + li;
  let ok = gi < p.n * ntb;
  let g = min(gi, p.n * ntb - 1u);
  let n = g / ntb;
  let u0 = (g % ntb) * BP;  // positions i = rho + stride * (u0 + j)
  let rho = wg.y % s;
  let cb = wg.y / s;
  let ci0 = cb * 4u;
  let cq = p.cpad / 4u;
  var a0 = vec4<f32>(); var a1 = vec4<f32>(); var a2 = vec4<f32>(); var a3 = vec4<f32>(); var a4 = vec4<f32>(); var a5 = vec4<f32>(); var a6 = vec4<f32>(); var a7 = vec4<f32>(); var a8 = vec4<f32>(); var a9 = vec4<f32>(); var a10 = vec4<f32>(); var a11 = vec4<f32>(); var a12 = vec4<f32>(); var a13 = vec4<f32>(); var a14 = vec4<f32>(); var a15 = vec4<f32>();
  // first tap k with (rho + pad - k*dil) divisible by the stride; taps repeat every q
  var ks = p.q;
  for (var kk = 0u; kk < p.q; kk++) {
    if ((kk * p.dil) % s == (rho + p.pad) % s) { ks = kk; break; }
  }
  // ks == q: no tap reaches this phase (k*dil mod stride never equals it when gcd(stride, dil) > 1)
  let mr = select(0u, (p.k - ks + p.q - 1u) / p.q, ks < p.q && ks < p.k);
  let e0 = (i32(rho + p.pad) - i32(ks * p.dil)) / i32(s) + i32(u0);
  for (var co = 0u; co < p.cout; co++) {
    let o = (n * p.cout + co) * p.lout;
    var wi = (co * p.q + min(ks, p.q - 1u)) * p.mpad * cq + cb;
    if (p.slide == 1u) {
      // tap ks + m*q reads dy at e0 - m + j for position j; z_i = dy[e - (U-1) + i] slides down
      var e = e0;
      var z5 = dyat(o, e + 1);
      var z6 = dyat(o, e + 2);
      var z7 = dyat(o, e + 3);
      var z8 = dyat(o, e + 4);
      var z9 = dyat(o, e + 5);
      var z10 = dyat(o, e + 6);
      var z11 = dyat(o, e + 7);
      var z12 = dyat(o, e + 8);
      var z13 = dyat(o, e + 9);
      var z14 = dyat(o, e + 10);
      var z15 = dyat(o, e + 11);
      var z16 = dyat(o, e + 12);
      var z17 = dyat(o, e + 13);
      var z18 = dyat(o, e + 14);
      var z19 = dyat(o, e + 15);
      for (var m = 0u; m < mr; m += U) {
        let z0 = dyat(o, e - 4);
        let z1 = dyat(o, e - 3);
        let z2 = dyat(o, e - 2);
        let z3 = dyat(o, e - 1);
        let z4 = dyat(o, e - 0);
        e -= 5;
        let w0 = wp[wi + 0u * cq];
        let w1 = wp[wi + 1u * cq];
        let w2 = wp[wi + 2u * cq];
        let w3 = wp[wi + 3u * cq];
        let w4 = wp[wi + 4u * cq];
        wi += U * cq;
        a0 = fma(vec4<f32>(z0), w4, fma(vec4<f32>(z1), w3, fma(vec4<f32>(z2), w2, fma(vec4<f32>(z3), w1, fma(vec4<f32>(z4), w0, a0)))));
        a1 = fma(vec4<f32>(z1), w4, fma(vec4<f32>(z2), w3, fma(vec4<f32>(z3), w2, fma(vec4<f32>(z4), w1, fma(vec4<f32>(z5), w0, a1)))));
        a2 = fma(vec4<f32>(z2), w4, fma(vec4<f32>(z3), w3, fma(vec4<f32>(z4), w2, fma(vec4<f32>(z5), w1, fma(vec4<f32>(z6), w0, a2)))));
        a3 = fma(vec4<f32>(z3), w4, fma(vec4<f32>(z4), w3, fma(vec4<f32>(z5), w2, fma(vec4<f32>(z6), w1, fma(vec4<f32>(z7), w0, a3)))));
        a4 = fma(vec4<f32>(z4), w4, fma(vec4<f32>(z5), w3, fma(vec4<f32>(z6), w2, fma(vec4<f32>(z7), w1, fma(vec4<f32>(z8), w0, a4)))));
        a5 = fma(vec4<f32>(z5), w4, fma(vec4<f32>(z6), w3, fma(vec4<f32>(z7), w2, fma(vec4<f32>(z8), w1, fma(vec4<f32>(z9), w0, a5)))));
        a6 = fma(vec4<f32>(z6), w4, fma(vec4<f32>(z7), w3, fma(vec4<f32>(z8), w2, fma(vec4<f32>(z9), w1, fma(vec4<f32>(z10), w0, a6)))));
        a7 = fma(vec4<f32>(z7), w4, fma(vec4<f32>(z8), w3, fma(vec4<f32>(z9), w2, fma(vec4<f32>(z10), w1, fma(vec4<f32>(z11), w0, a7)))));
        a8 = fma(vec4<f32>(z8), w4, fma(vec4<f32>(z9), w3, fma(vec4<f32>(z10), w2, fma(vec4<f32>(z11), w1, fma(vec4<f32>(z12), w0, a8)))));
        a9 = fma(vec4<f32>(z9), w4, fma(vec4<f32>(z10), w3, fma(vec4<f32>(z11), w2, fma(vec4<f32>(z12), w1, fma(vec4<f32>(z13), w0, a9)))));
        a10 = fma(vec4<f32>(z10), w4, fma(vec4<f32>(z11), w3, fma(vec4<f32>(z12), w2, fma(vec4<f32>(z13), w1, fma(vec4<f32>(z14), w0, a10)))));
        a11 = fma(vec4<f32>(z11), w4, fma(vec4<f32>(z12), w3, fma(vec4<f32>(z13), w2, fma(vec4<f32>(z14), w1, fma(vec4<f32>(z15), w0, a11)))));
        a12 = fma(vec4<f32>(z12), w4, fma(vec4<f32>(z13), w3, fma(vec4<f32>(z14), w2, fma(vec4<f32>(z15), w1, fma(vec4<f32>(z16), w0, a12)))));
        a13 = fma(vec4<f32>(z13), w4, fma(vec4<f32>(z14), w3, fma(vec4<f32>(z15), w2, fma(vec4<f32>(z16), w1, fma(vec4<f32>(z17), w0, a13)))));
        a14 = fma(vec4<f32>(z14), w4, fma(vec4<f32>(z15), w3, fma(vec4<f32>(z16), w2, fma(vec4<f32>(z17), w1, fma(vec4<f32>(z18), w0, a14)))));
        a15 = fma(vec4<f32>(z15), w4, fma(vec4<f32>(z16), w3, fma(vec4<f32>(z17), w2, fma(vec4<f32>(z18), w1, fma(vec4<f32>(z19), w0, a15)))));
        z19 = z14;
        z18 = z13;
        z17 = z12;
        z16 = z11;
        z15 = z10;
        z14 = z9;
        z13 = z8;
        z12 = z7;
        z11 = z6;
        z10 = z5;
        z9 = z4;
        z8 = z3;
        z7 = z2;
        z6 = z1;
        z5 = z0;
      }
    } else {
      for (var m = 0u; m < mr; m++) {
        let e = (i32(rho + p.pad) - i32((ks + m * p.q) * p.dil)) / i32(s) + i32(u0);
        let w0 = wp[wi];
        wi += cq;
        a0 = fma(vec4<f32>(dyat(o, e + 0)), w0, a0);
        a1 = fma(vec4<f32>(dyat(o, e + 1)), w0, a1);
        a2 = fma(vec4<f32>(dyat(o, e + 2)), w0, a2);
        a3 = fma(vec4<f32>(dyat(o, e + 3)), w0, a3);
        a4 = fma(vec4<f32>(dyat(o, e + 4)), w0, a4);
        a5 = fma(vec4<f32>(dyat(o, e + 5)), w0, a5);
        a6 = fma(vec4<f32>(dyat(o, e + 6)), w0, a6);
        a7 = fma(vec4<f32>(dyat(o, e + 7)), w0, a7);
        a8 = fma(vec4<f32>(dyat(o, e + 8)), w0, a8);
        a9 = fma(vec4<f32>(dyat(o, e + 9)), w0, a9);
        a10 = fma(vec4<f32>(dyat(o, e + 10)), w0, a10);
        a11 = fma(vec4<f32>(dyat(o, e + 11)), w0, a11);
        a12 = fma(vec4<f32>(dyat(o, e + 12)), w0, a12);
        a13 = fma(vec4<f32>(dyat(o, e + 13)), w0, a13);
        a14 = fma(vec4<f32>(dyat(o, e + 14)), w0, a14);
        a15 = fma(vec4<f32>(dyat(o, e + 15)), w0, a15);
      }
    }
  }
  store_dx(n, ci0, rho + s * (u0 + 0u), ok, a0);
  store_dx(n, ci0, rho + s * (u0 + 1u), ok, a1);
  store_dx(n, ci0, rho + s * (u0 + 2u), ok, a2);
  store_dx(n, ci0, rho + s * (u0 + 3u), ok, a3);
  store_dx(n, ci0, rho + s * (u0 + 4u), ok, a4);
  store_dx(n, ci0, rho + s * (u0 + 5u), ok, a5);
  store_dx(n, ci0, rho + s * (u0 + 6u), ok, a6);
  store_dx(n, ci0, rho + s * (u0 + 7u), ok, a7);
  store_dx(n, ci0, rho + s * (u0 + 8u), ok, a8);
  store_dx(n, ci0, rho + s * (u0 + 9u), ok, a9);
  store_dx(n, ci0, rho + s * (u0 + 10u), ok, a10);
  store_dx(n, ci0, rho + s * (u0 + 11u), ok, a11);
  store_dx(n, ci0, rho + s * (u0 + 12u), ok, a12);
  store_dx(n, ci0, rho + s * (u0 + 13u), ok, a13);
  store_dx(n, ci0, rho + s * (u0 + 14u), ok, a14);
  store_dx(n, ci0, rho + s * (u0 + 15u), ok, a15);
}

const KB: u32 = 10u;  // taps per invocation (dW)

// dy for 4 channels from co0 at (n, t); zero when not live or past Lout.
fn dy4(n: u32, t: u32, co0: u32, live: bool) -> vec4<f32> {
  let go = n * p.cout * p.lout + min(t, p.lout - 1u);
  let com = p.cout - 1u;
  let v = vec4<f32>(dy[go + min(co0, com) * p.lout], dy[go + min(co0 + 1u, com) * p.lout],
                    dy[go + min(co0 + 2u, com) * p.lout], dy[go + min(co0 + 3u, com) * p.lout]);
  return select(vec4<f32>(), v, live && t < p.lout);
}

fn store_dw(pbase: u32, co0: u32, ci: u32, k: u32, ok: bool, v: vec4<f32>) {
  if (!ok || k >= p.k) { return; }
  for (var c = 0u; c < 4u; c++) {
    let co = co0 + c;
    if (co < p.cout) { part[pbase + (co * p.cin + ci) * p.k + k] = v[c]; }
  }
}

// Partial dW over chunks of the batch. Each invocation owns KB taps k_j = kr + q*(jb*KB + j) of one
// input channel, which (when the dilation divides the stride, q = stride/dilation) read x one
// stride apart: tap j at position t reads what tap j+1 read at t-1, so the activations slide through
// a register window exactly as in the forward pass. 4 output channels per workgroup row.
// Grid: x (+ z rows of gx) = lanes over chunks * Cin * q * ceil(ceil(K/q)/KB), y = Cout/4 blocks.
@compute @workgroup_size(8)
fn backward_weight(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let c = p.q;
  let njb = ((p.k + c - 1u) / c + KB - 1u) / KB;
  let per = p.cin * c * njb;
  let gi = (wg.z * p.gx + wg.x) * 8u + li;
  let ok = gi < p.chunks * per;
  let g = min(gi, p.chunks * per - 1u);
  let chunk = g / per;
  let rem = g % per;
  let ci = rem / (c * njb);
  let kr = (rem / njb) % c;
  let jb = rem % njb;
  let kbase = kr + c * jb * KB;
  let co0 = wg.y * 4u;
  let s = i32(p.stride);
  let d = i32(p.dil);

  var a0 = vec4<f32>(); var a1 = vec4<f32>(); var a2 = vec4<f32>(); var a3 = vec4<f32>(); var a4 = vec4<f32>(); var a5 = vec4<f32>(); var a6 = vec4<f32>(); var a7 = vec4<f32>(); var a8 = vec4<f32>(); var a9 = vec4<f32>();
  for (var i = 0u; i < p.chunk_len; i++) {
    let nn = chunk * p.chunk_len + i;
    let live = nn < p.n;
    let n = min(nn, p.n - 1u);
    let xo = (n * p.cin + ci) * p.lin;
    if (p.slide == 1u) {
      // x of tap j at position t: base + (t + j) * stride
      var o = (i32(jb * KB) * s) + i32(kr) * d - i32(p.pad);
      var v0 = xat(xo, o + 0 * s);
      var v1 = xat(xo, o + 1 * s);
      var v2 = xat(xo, o + 2 * s);
      var v3 = xat(xo, o + 3 * s);
      var v4 = xat(xo, o + 4 * s);
      var v5 = xat(xo, o + 5 * s);
      var v6 = xat(xo, o + 6 * s);
      var v7 = xat(xo, o + 7 * s);
      var v8 = xat(xo, o + 8 * s);
      o += 9 * s;
      for (var t = 0u; t < p.lout; t += U) {
        let v9 = xat(xo, o + 0 * s);
        let v10 = xat(xo, o + 1 * s);
        let v11 = xat(xo, o + 2 * s);
        let v12 = xat(xo, o + 3 * s);
        let v13 = xat(xo, o + 4 * s);
        o += 5 * s;
        let g0 = dy4(n, t + 0u, co0, live);
        let g1 = dy4(n, t + 1u, co0, live);
        let g2 = dy4(n, t + 2u, co0, live);
        let g3 = dy4(n, t + 3u, co0, live);
        let g4 = dy4(n, t + 4u, co0, live);
        a0 = fma(vec4<f32>(v4), g4, fma(vec4<f32>(v3), g3, fma(vec4<f32>(v2), g2, fma(vec4<f32>(v1), g1, fma(vec4<f32>(v0), g0, a0)))));
        a1 = fma(vec4<f32>(v5), g4, fma(vec4<f32>(v4), g3, fma(vec4<f32>(v3), g2, fma(vec4<f32>(v2), g1, fma(vec4<f32>(v1), g0, a1)))));
        a2 = fma(vec4<f32>(v6), g4, fma(vec4<f32>(v5), g3, fma(vec4<f32>(v4), g2, fma(vec4<f32>(v3), g1, fma(vec4<f32>(v2), g0, a2)))));
        a3 = fma(vec4<f32>(v7), g4, fma(vec4<f32>(v6), g3, fma(vec4<f32>(v5), g2, fma(vec4<f32>(v4), g1, fma(vec4<f32>(v3), g0, a3)))));
        a4 = fma(vec4<f32>(v8), g4, fma(vec4<f32>(v7), g3, fma(vec4<f32>(v6), g2, fma(vec4<f32>(v5), g1, fma(vec4<f32>(v4), g0, a4)))));
        a5 = fma(vec4<f32>(v9), g4, fma(vec4<f32>(v8), g3, fma(vec4<f32>(v7), g2, fma(vec4<f32>(v6), g1, fma(vec4<f32>(v5), g0, a5)))));
        a6 = fma(vec4<f32>(v10), g4, fma(vec4<f32>(v9), g3, fma(vec4<f32>(v8), g2, fma(vec4<f32>(v7), g1, fma(vec4<f32>(v6), g0, a6)))));
        a7 = fma(vec4<f32>(v11), g4, fma(vec4<f32>(v10), g3, fma(vec4<f32>(v9), g2, fma(vec4<f32>(v8), g1, fma(vec4<f32>(v7), g0, a7)))));
        a8 = fma(vec4<f32>(v12), g4, fma(vec4<f32>(v11), g3, fma(vec4<f32>(v10), g2, fma(vec4<f32>(v9), g1, fma(vec4<f32>(v8), g0, a8)))));
        a9 = fma(vec4<f32>(v13), g4, fma(vec4<f32>(v12), g3, fma(vec4<f32>(v11), g2, fma(vec4<f32>(v10), g1, fma(vec4<f32>(v9), g0, a9)))));
        v0 = v5;
        v1 = v6;
        v2 = v7;
        v3 = v8;
        v4 = v9;
        v5 = v10;
        v6 = v11;
        v7 = v12;
        v8 = v13;
      }
    } else {
      // general dilation (q = 1): taps kbase + j, one gather each per position
      for (var t = 0u; t < p.lout; t++) {
        let g0 = dy4(n, t, co0, live);
        let o = i32(t) * s + i32(kbase) * d - i32(p.pad);
        a0 = fma(vec4<f32>(xat(xo, o + 0 * d)), g0, a0);
        a1 = fma(vec4<f32>(xat(xo, o + 1 * d)), g0, a1);
        a2 = fma(vec4<f32>(xat(xo, o + 2 * d)), g0, a2);
        a3 = fma(vec4<f32>(xat(xo, o + 3 * d)), g0, a3);
        a4 = fma(vec4<f32>(xat(xo, o + 4 * d)), g0, a4);
        a5 = fma(vec4<f32>(xat(xo, o + 5 * d)), g0, a5);
        a6 = fma(vec4<f32>(xat(xo, o + 6 * d)), g0, a6);
        a7 = fma(vec4<f32>(xat(xo, o + 7 * d)), g0, a7);
        a8 = fma(vec4<f32>(xat(xo, o + 8 * d)), g0, a8);
        a9 = fma(vec4<f32>(xat(xo, o + 9 * d)), g0, a9);
      }
    }
  }
  let pbase = chunk * p.m;
  store_dw(pbase, co0, ci, kbase + 0u * c, ok, a0);
  store_dw(pbase, co0, ci, kbase + 1u * c, ok, a1);
  store_dw(pbase, co0, ci, kbase + 2u * c, ok, a2);
  store_dw(pbase, co0, ci, kbase + 3u * c, ok, a3);
  store_dw(pbase, co0, ci, kbase + 4u * c, ok, a4);
  store_dw(pbase, co0, ci, kbase + 5u * c, ok, a5);
  store_dw(pbase, co0, ci, kbase + 6u * c, ok, a6);
  store_dw(pbase, co0, ci, kbase + 7u * c, ok, a7);
  store_dw(pbase, co0, ci, kbase + 8u * c, ok, a8);
  store_dw(pbase, co0, ci, kbase + 9u * c, ok, a9);
}

// Partial db over one chunk of N*Lout. Grid: x = Cout/64, y = chunks.
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
