// Powder indexing: scores trial cells against observed lines (one invocation per trial).
// A trial is a quadratic form Q(hkl) = A h^2 + B k^2 + C l^2 + D hk + E hl + F kl (8 floats,
// the last two unused). For each observed line (Q, tolerance) the nearest calculated Q is found
// by looping over (h, k) up to the line's index bounds and solving the form for l.
// Output per trial (4 floats): lines within tolerance, sum of min(|dQ|/tol, 1),
// sum of min(|dQ|, tol), and the number of hkl (in the asymmetric unit given by `canon`) with
// Q <= the last line. CPU reference: src/physics/score.ts (scoreTrialsCpu).

struct Params {
  n_lines: u32,
  n_trials: u32,
  row: u32,        // invocations per workgroup row (grid width * 64)
  h_signed: u32,   // 1: h runs over -H..H (monoclinic)
  canon: u32,      // 0 none, 1 h >= k, 2 h >= k >= l
  max_index: u32,
  q_last: f32,     // last line's Q plus its tolerance
  sum_tol: f32,    // sum of all tolerances (result of a trial that cannot be scored)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> lines: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> trials: array<f32>;
@group(0) @binding(3) var<storage, read_write> scores: array<vec4<f32>>;

fn bound(g: f32, q: f32) -> i32 {
  return min(i32(p.max_index), i32(floor(sqrt(max(g * q, 0.0)))));
}

@compute @workgroup_size(64)
fn score(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.y * p.row + gid.x;
  if (t >= p.n_trials) { return; }
  let o = t * 8u;
  let fa = trials[o];
  let fb = trials[o + 1u];
  let fc = trials[o + 2u];
  let fd = trials[o + 3u];
  let fe = trials[o + 4u];
  let ff = trials[o + 5u];
  // direct metric diagonal from the reciprocal metric [[A, D/2, E/2], [D/2, B, F/2], [E/2, F/2, C]]
  let d2 = fd * 0.5;
  let e2 = fe * 0.5;
  let f2 = ff * 0.5;
  let det = fa * (fb * fc - f2 * f2) - d2 * (d2 * fc - f2 * e2) + e2 * (d2 * f2 - fb * e2);
  if (!(det > 0.0) || !(fc > 0.0)) {
    scores[t] = vec4<f32>(0.0, f32(p.n_lines), p.sum_tol, 0.0);
    return;
  }
  let g1 = (fb * fc - f2 * f2) / det;
  let g2 = (fa * fc - e2 * e2) / det;
  let g3 = (fa * fb - d2 * d2) / det;
  let mi = i32(p.max_index);
  var count = 0.0;
  var sum_ratio = 0.0;
  var sum_abs = 0.0;
  for (var i = 0u; i < p.n_lines; i++) {
    let line = lines[i];
    let q = line.x;
    let tol = line.y;
    let hb = bound(g1, q + tol);
    let kb = bound(g2, q + tol);
    var h0 = 0;
    if (p.h_signed == 1u) { h0 = -hb; }
    var best = 3.0e38;
    for (var h = h0; h <= hb; h++) {
      let hf = f32(h);
      for (var k = 0; k <= kb; k++) {
        let kf = f32(k);
        let base = fa * hf * hf + fb * kf * kf + fd * hf * kf;
        let lin = fe * hf + ff * kf;
        let disc = lin * lin - 4.0 * fc * (base - q);
        var l0 = -lin / (2.0 * fc);
        if (disc > 0.0) { l0 = (-lin + sqrt(disc)) / (2.0 * fc); }
        let lf = i32(floor(l0));
        for (var l = lf; l <= lf + 1; l++) {
          if (l < 0 || l > mi) { continue; }
          if (h == 0 && k == 0 && l == 0) { continue; }
          let lq = f32(l);
          let r = abs(q - (base + lin * lq + fc * lq * lq));
          best = min(best, r);
        }
      }
    }
    if (best <= tol) {
      count += 1.0;
      sum_ratio += best / tol;
      sum_abs += best;
    } else {
      sum_ratio += 1.0;
      sum_abs += tol;
    }
  }
  let hb = bound(g1, p.q_last);
  let kb = bound(g2, p.q_last);
  let lb = bound(g3, p.q_last);
  var h0 = 0;
  if (p.h_signed == 1u) { h0 = -hb; }
  var n_calc = 0.0;
  for (var h = h0; h <= hb; h++) {
    let hf = f32(h);
    for (var k = 0; k <= kb; k++) {
      if (p.canon >= 1u && k > abs(h)) { continue; }
      let kf = f32(k);
      for (var l = 0; l <= lb; l++) {
        if (p.canon == 2u && l > k) { continue; }
        if (h == 0 && k == 0 && l == 0) { continue; }
        if (h < 0 && l == 0) { continue; }
        let lq = f32(l);
        let qc = fa * hf * hf + fb * kf * kf + fc * lq * lq + fd * hf * kf + fe * hf * lq + ff * kf * lq;
        if (qc <= p.q_last) { n_calc += 1.0; }
      }
    }
  }
  scores[t] = vec4<f32>(count, sum_ratio, sum_abs, n_calc);
}
