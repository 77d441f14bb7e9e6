// Powder pattern rendering: peaks + background + noise on a regular 2-theta grid, clamped at 0,
// then normalisation to a maximum of 1. Host side and the exact math: src/sim/render.ts; CPU
// reference: test/reference/render.ts.
//
// Everything is in grid units (index j of point x_j = x0 + j * step), so the peak offset
// d = (j - ci) - cf is computed from exact integers and a small fraction (fp32 keeps ~1e-7 of a
// grid step even at 90 deg).
//
// peaks: 2 vec4 per peak, sorted by centre within a pattern:
//   [0] = (ci: integer part of the centre, cf: fractional part, cut: half window,
//          endMax: max over this and earlier peaks of centre + cut)
//   [1] = (aG, startMin: min over this and later peaks of centre - cut, aL, bL):
//         value(d) = aG exp(-ln2 bL d^2) + aL / (1 + bL d^2) for |d| <= cut
//   endMax and startMin are monotone, so the peaks whose windows can reach a block of points are
//   one index range found by a binary search and a loop that stops at the first startMin past it.
//   (Peaks whose cut is 0 are not uploaded; see render.ts for how cut is chosen.)
// info: per pattern (first peak, peak count, noise seed, number of Chebyshev coefficients)
// params: 4 vec4 per pattern
//   [0] = (unused, Poisson counts at height 1 (0 = off), Gaussian sigma, uniform noise maximum)
//   [1] = (hump amplitude, hump centre, hump 4 ln2 / fwhm^2, hump eta)   (grid units)
//   [2], [3] = Chebyshev coefficients c0..c7 over t = 2 j / (points - 1) - 1

struct Params {
  batch: u32,
  points: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> peaks: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> info: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> params: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// Points per invocation: the peak search and the peak loads are shared by these points.
const PPI: u32 = 8u;

// Counter-based random numbers: a 32-bit integer hash (the "lowbias32" finaliser) of
// (pattern seed, point, stream). Same seed -> same numbers, independent of the launch shape.
fn hash32(v: u32) -> u32 {
  var x = v;
  x = x ^ (x >> 16u);
  x = x * 0x7feb352du;
  x = x ^ (x >> 15u);
  x = x * 0x846ca68bu;
  x = x ^ (x >> 16u);
  return x;
}

// Uniform in [0, 1) with 24 bits.
fn uniform01(key: u32, j: u32, stream: u32) -> f32 {
  let h = hash32(key ^ hash32(j * 8u + stream));
  return f32(h >> 8u) * (1.0 / 16777216.0);
}

// Standard normal (Box-Muller on streams s and s + 1).
fn normal01(key: u32, j: u32, s: u32) -> f32 {
  let u1 = 1.0 - uniform01(key, j, s);
  let u2 = uniform01(key, j, s + 1u);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

// Poisson sample: CDF inversion below lambda = 40, rounded normal approximation above.
fn poisson(lambda: f32, key: u32, j: u32) -> f32 {
  if (lambda <= 0.0) { return 0.0; }
  if (lambda < 40.0) {
    let u = uniform01(key, j, 0u);
    var term = exp(-lambda);
    var cdf = term;
    var k = 0.0;
    loop {
      if (u < cdf || k >= 200.0) { break; }
      k = k + 1.0;
      term = term * lambda / k;
      cdf = cdf + term;
    }
    return k;
  }
  return max(0.0, round(lambda + sqrt(lambda) * normal01(key, j, 1u)));
}

@compute @workgroup_size(64)
fn render(@builtin(global_invocation_id) g: vec3<u32>) {
  let b = g.y;
  let j0 = g.x * PPI;
  if (b >= p.batch || j0 >= p.points) { return; }
  let inf = info[b];
  let start = inf.x;
  let count = inf.y;
  let pa = params[b * 4u];

  var acc: array<f32, 8>;
  for (var i = 0u; i < PPI; i = i + 1u) { acc[i] = 0.0; }

  // First peak with endMax >= j0 (no earlier peak reaches this block); one grid unit of slack
  // for the fp32 rounding of the bounds (the exact test is |d| <= cut below).
  let lowX = f32(j0) - 1.0;
  var lo = 0u;
  var hi = count;
  loop {
    if (lo >= hi) { break; }
    let mid = (lo + hi) / 2u;
    let q = peaks[2u * (start + mid)];
    if (q.w < lowX) { lo = mid + 1u; } else { hi = mid; }
  }
  let highX = f32(j0 + PPI - 1u) + 1.0;
  for (var k = lo; k < count; k = k + 1u) {
    let c = peaks[2u * (start + k) + 1u];
    if (c.y > highX) { break; }
    let a = peaks[2u * (start + k)];
    let bG = 0.6931471805599453 * c.w;
    // Pure Gaussian and pure Lorentzian peaks skip the other term (a uniform branch per peak).
    if (c.z == 0.0) {
      for (var i = 0u; i < PPI; i = i + 1u) {
        let d = (f32(j0 + i) - a.x) - a.y;
        if (abs(d) <= a.z) { acc[i] = acc[i] + c.x * exp(-bG * d * d); }
      }
    } else if (c.x == 0.0) {
      for (var i = 0u; i < PPI; i = i + 1u) {
        let d = (f32(j0 + i) - a.x) - a.y;
        if (abs(d) <= a.z) { acc[i] = acc[i] + c.z / (1.0 + c.w * d * d); }
      }
    } else {
      for (var i = 0u; i < PPI; i = i + 1u) {
        let d = (f32(j0 + i) - a.x) - a.y;
        if (abs(d) <= a.z) {
          let d2 = d * d;
          acc[i] = acc[i] + c.x * exp(-bG * d2) + c.z / (1.0 + c.w * d2);
        }
      }
    }
  }

  let hump = params[b * 4u + 1u];
  let cheb0 = params[b * 4u + 2u];
  let cheb1 = params[b * 4u + 3u];
  let nCheb = inf.w;
  let key = hash32(inf.z);
  let tScale = 2.0 / f32(max(p.points - 1u, 1u));
  for (var i = 0u; i < PPI; i = i + 1u) {
    let j = j0 + i;
    if (j >= p.points) { break; }
    var y = acc[i];
    // Chebyshev background by the three-term recurrence T_{n+1} = 2 t T_n - T_{n-1}.
    let t = f32(j) * tScale - 1.0;
    var tPrev = 1.0;
    var tCur = t;
    for (var n = 0u; n < nCheb; n = n + 1u) {
      var coef: f32;
      if (n < 4u) { coef = cheb0[n]; } else { coef = cheb1[n - 4u]; }
      var tn: f32;
      if (n == 0u) { tn = 1.0; } else if (n == 1u) { tn = t; } else {
        let tNext = 2.0 * t * tCur - tPrev;
        tPrev = tCur;
        tCur = tNext;
        tn = tNext;
      }
      y = y + coef * tn;
    }
    if (hump.x != 0.0) {
      let dh = f32(j) - hump.y;
      let dh2 = dh * dh;
      y = y + hump.x * ((1.0 - hump.w) * exp(-hump.z * dh2) + hump.w / (1.0 + hump.z * dh2 / 0.6931471805599453));
    }
    if (pa.y > 0.0) { y = poisson(pa.y * y, key, j) / pa.y; }
    if (pa.z > 0.0) { y = y + pa.z * normal01(key, j, 3u); }
    if (pa.w > 0.0) { y = y + pa.w * uniform01(key, j, 5u); }
    // A detector counts photons: noise never takes an intensity below zero.
    out[b * p.points + j] = max(y, 0.0);
  }
}

// One workgroup per pattern: divide by the pattern's maximum (left as is when the maximum is <= 0).
var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn normalize(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let b = wg.x;
  if (b >= p.batch) { return; }
  let base = b * p.points;
  var m = -3.4e38;
  for (var j = l.x; j < p.points; j = j + 256u) { m = max(m, out[base + j]); }
  red[l.x] = m;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (l.x < s) { red[l.x] = max(red[l.x], red[l.x + s]); }
    workgroupBarrier();
  }
  let mx = red[0];
  if (mx > 0.0) {
    for (var j = l.x; j < p.points; j = j + 256u) { out[base + j] = out[base + j] / mx; }
  }
}
