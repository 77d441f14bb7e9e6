// Fused softmax + cross-entropy over rows of logits [N, C] with integer labels [N].
//
// One invocation per row, three passes over the row (max, sum of exp, outputs): no workgroup
// memory and no barriers, which suits software GPUs; rows are independent, so N rows give N-way
// parallelism. Numerically stable: exp(z - max) never overflows, and the loss is computed as
// log(sum exp(z - max)) - (z[label] - max), never as -log(softmax).
//
// Labels outside [0, C) make the row's loss and gradient NaN (so nothing downstream can use a
// plausible-looking value), and `finish` records the first offending row in `status` for the op
// to report as a ValueError when the loss is read.

struct Params {
  n: u32,
  c: u32,
  row: u32,        // invocations per grid row in y (grids wider than 65535 workgroups wrap)
  grad_scale: f32, // gradScale / N
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding(3) var<storage, read_write> losses: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;

fn row_max(base: u32) -> f32 {
  var m = logits[base];
  for (var i = 1u; i < p.c; i++) { m = max(m, logits[base + i]); }
  return m;
}

fn row_sum_exp(base: u32, m: f32) -> f32 {
  var s = 0.0;
  for (var i = 0u; i < p.c; i++) { s += exp(logits[base + i] - m); }
  return s;
}

@compute @workgroup_size(64)
fn forward(@builtin(global_invocation_id) g: vec3<u32>) {
  let r = g.y * p.row + g.x;
  if (r >= p.n) { return; }
  let base = r * p.c;
  let label = labels[r];
  let m = row_max(base);
  let s = row_sum_exp(base, m);
  let ok = label >= 0 && u32(label) < p.c;
  // A runtime operand keeps this out of constant evaluation, where NaN is not allowed.
  let nan = bitcast<f32>(0x7fc00000u | (p.n & 0u));
  if (!ok) {
    losses[r] = nan;
    for (var i = 0u; i < p.c; i++) { grad[base + i] = nan; }
    return;
  }
  losses[r] = log(s) - (logits[base + u32(label)] - m);
  let inv = 1.0 / s;
  for (var i = 0u; i < p.c; i++) {
    let prob = exp(logits[base + i] - m) * inv;
    grad[base + i] = (prob - select(0.0, 1.0, i == u32(label))) * p.grad_scale;
  }
}

struct FinishParams {
  n: u32,
  c: u32,
}

@group(0) @binding(5) var<uniform> f: FinishParams;
@group(0) @binding(6) var<storage, read> row_losses: array<f32>;
@group(0) @binding(7) var<storage, read> row_labels: array<i32>;
@group(0) @binding(8) var<storage, read_write> mean: array<f32>;
// status[0]: 0 if every label is valid, else 1 + the first offending row; status[1]: its label.
@group(0) @binding(9) var<storage, read_write> status: array<i32>;

// Single invocation: mean loss in row order (deterministic) and the label check.
@compute @workgroup_size(1)
fn finish() {
  var s = 0.0;
  var bad = 0;
  var bad_label = 0;
  for (var r = 0u; r < f.n; r++) {
    s += row_losses[r];
    let l = row_labels[r];
    if (bad == 0 && (l < 0 || u32(l) >= f.c)) {
      bad = i32(r) + 1;
      bad_label = l;
    }
  }
  mean[0] = s / f32(f.n);
  status[0] = bad;
  status[1] = bad_label;
}

// Probabilities only (inference).
@group(0) @binding(10) var<storage, read_write> probs: array<f32>;

@compute @workgroup_size(64)
fn softmax(@builtin(global_invocation_id) g: vec3<u32>) {
  let r = g.y * p.row + g.x;
  if (r >= p.n) { return; }
  let base = r * p.c;
  let m = row_max(base);
  let inv = 1.0 / row_sum_exp(base, m);
  for (var i = 0u; i < p.c; i++) { probs[base + i] = exp(logits[base + i] - m) * inv; }
}
