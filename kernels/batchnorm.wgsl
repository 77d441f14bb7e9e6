// BatchNorm1d over x [N, C, L] (L = 1 for [N, C]), PyTorch semantics: per-channel statistics over
// N and L; training normalises with the batch mean and biased variance and moves the running
// statistics by `momentum` (running_var takes the unbiased variance); evaluation uses the
// running statistics.
//
// Reductions avoid workgroup barriers (slow on software GPUs): one invocation per (channel, n,
// block of BLOCK positions) writes a partial sum, and one invocation per channel adds its
// partials. The variance is a second pass over deviations from the mean (no E[x^2] - E[x]^2
// cancellation).

struct Params {
  n: u32,
  c: u32,
  l: u32,
  blocks: u32,     // ceil(l / BLOCK)
  parts: u32,      // n * blocks: partials per channel
  row: u32,        // invocations per workgroup row in y (grid width * workgroup size)
  eps: f32,
  momentum: f32,
  inv_count: f32,  // 1 / (n * l)
  unbias: f32,     // (n * l) / (n * l - 1), or 1 when n * l = 1
}

const BLOCK = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read_write> st: array<f32>;       // [2, c]: mean, invstd (written by the forward)
@group(0) @binding(7) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(8) var<storage, read_write> running_var: array<f32>;
@group(0) @binding(9) var<storage, read_write> partial: array<f32>;  // [c, parts]
@group(0) @binding(10) var<storage, read_write> partial2: array<f32>; // [c, parts]
@group(0) @binding(11) var<storage, read> dy: array<f32>;
@group(0) @binding(12) var<storage, read_write> dx: array<f32>;
@group(0) @binding(13) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(14) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(15) var<storage, read> stats: array<f32>;         // st, bound read-only

fn index(g: vec3<u32>) -> u32 { return g.y * p.row + g.x; }

// Position range of partial i: channel ch, batch row nn, positions [l0, l1).
struct Part { ch: u32, base: u32, count: u32 }
fn part_of(i: u32) -> Part {
  let ch = i / p.parts;
  let k = i - ch * p.parts;
  let nn = k / p.blocks;
  let b = k - nn * p.blocks;
  let l0 = b * BLOCK;
  return Part(ch, (nn * p.c + ch) * p.l + l0, min(BLOCK, p.l - l0));
}

// partial[i] = sum of x over part i.
@compute @workgroup_size(64)
fn partial_sums(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = index(g);
  if (i >= p.c * p.parts) { return; }
  let q = part_of(i);
  var s = vec4<f32>(0.0);
  var t = 0u;
  for (; t + 4u <= q.count; t += 4u) { s += vec4<f32>(x[q.base + t], x[q.base + t + 1u], x[q.base + t + 2u], x[q.base + t + 3u]); }
  for (; t < q.count; t++) { s.x += x[q.base + t]; }
  partial[i] = (s.x + s.y) + (s.z + s.w);
}

// mean[ch] = sum of its partials / count.
@compute @workgroup_size(64)
fn finish_mean(@builtin(global_invocation_id) g: vec3<u32>) {
  let ch = index(g);
  if (ch >= p.c) { return; }
  var s = 0.0;
  for (var k = 0u; k < p.parts; k++) { s += partial[ch * p.parts + k]; }
  st[ch] = s * p.inv_count;
}

// partial[i] = sum of (x - mean)^2 over part i.
@compute @workgroup_size(64)
fn partial_squares(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = index(g);
  if (i >= p.c * p.parts) { return; }
  let q = part_of(i);
  let m = st[q.ch];
  var s = 0.0;
  for (var t = 0u; t < q.count; t++) { let d = x[q.base + t] - m; s += d * d; }
  partial[i] = s;
}

// invstd from the batch variance; the running statistics move towards the batch's.
@compute @workgroup_size(64)
fn finish_var(@builtin(global_invocation_id) g: vec3<u32>) {
  let ch = index(g);
  if (ch >= p.c) { return; }
  var s = 0.0;
  for (var k = 0u; k < p.parts; k++) { s += partial[ch * p.parts + k]; }
  let v = s * p.inv_count;
  st[p.c + ch] = 1.0 / sqrt(v + p.eps);
  running_mean[ch] = (1.0 - p.momentum) * running_mean[ch] + p.momentum * st[ch];
  running_var[ch] = (1.0 - p.momentum) * running_var[ch] + p.momentum * v * p.unbias;
}

// Evaluation: mean and invstd from the running statistics.
@compute @workgroup_size(64)
fn eval_stats(@builtin(global_invocation_id) g: vec3<u32>) {
  let ch = index(g);
  if (ch >= p.c) { return; }
  st[ch] = running_mean[ch];
  st[p.c + ch] = 1.0 / sqrt(running_var[ch] + p.eps);
}

// y = (x - mean) * invstd * gamma + beta, one invocation per element.
@compute @workgroup_size(256)
fn normalize(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = index(g);
  if (i >= p.n * p.c * p.l) { return; }
  let ch = (i / p.l) % p.c;
  y[i] = (x[i] - stats[ch]) * stats[p.c + ch] * gamma[ch] + beta[ch];
}

// partial[i] = sum of dy, partial2[i] = sum of dy * xhat over part i.
@compute @workgroup_size(64)
fn partial_grads(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = index(g);
  if (i >= p.c * p.parts) { return; }
  let q = part_of(i);
  let m = stats[q.ch];
  let is = stats[p.c + q.ch];
  var s = 0.0;
  var s2 = 0.0;
  for (var t = 0u; t < q.count; t++) {
    let d = dy[q.base + t];
    s += d;
    s2 += d * (x[q.base + t] - m) * is;
  }
  partial[i] = s;
  partial2[i] = s2;
}

// dbeta = sum dy, dgamma = sum dy * xhat, per channel.
@compute @workgroup_size(64)
fn finish_grads(@builtin(global_invocation_id) g: vec3<u32>) {
  let ch = index(g);
  if (ch >= p.c) { return; }
  var s = 0.0;
  var s2 = 0.0;
  for (var k = 0u; k < p.parts; k++) {
    s += partial[ch * p.parts + k];
    s2 += partial2[ch * p.parts + k];
  }
  dbeta[ch] = s;
  dgamma[ch] = s2;
}

// Training mode: dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)).
@compute @workgroup_size(256)
fn backward_input(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = index(g);
  if (i >= p.n * p.c * p.l) { return; }
  let ch = (i / p.l) % p.c;
  let is = stats[p.c + ch];
  let xhat = (x[i] - stats[ch]) * is;
  dx[i] = gamma[ch] * is * (dy[i] - dbeta[ch] * p.inv_count - xhat * dgamma[ch] * p.inv_count);
}

// Evaluation mode (fixed statistics): dx = gamma * invstd * dy.
@compute @workgroup_size(256)
fn backward_input_eval(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = index(g);
  if (i >= p.n * p.c * p.l) { return; }
  let ch = (i / p.l) % p.c;
  dx[i] = gamma[ch] * stats[p.c + ch] * dy[i];
}
