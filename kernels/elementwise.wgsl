// Elementwise ops over flat f32 arrays. Shapes arrive in the uniform `p`; 1-D grids of up to
// 65535 workgroups are extended into y so any length up to the binding limit works:
// invocation t = gid.y * p.row + gid.x, with p.row = (workgroups in x) * 256.
//
// Invocation t handles elements t*PER .. t*PER + PER - 1 (override PER, the variant knob):
// PER = 1 ('flat', coalesced loads for real GPUs); PER = 8 ('blocked', software GPUs, where the
// per-invocation overhead dominates: ~3x faster on lavapipe). The full-block path has a constant
// trip count so it unrolls; only the last invocation takes the ragged loop.
//
// Every resource variable has its own binding number, so any subset of them can form an entry
// point's layout without aliasing.

struct Params {
  n: u32,
  row: u32,   // invocations per workgroup row in y (grid width * 256)
  alpha: f32,
  beta: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> a: array<f32>;
@group(0) @binding(4) var<storage, read> b: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;

override PER: u32 = 1u;

fn first(g: vec3<u32>) -> u32 { return (g.y * p.row + g.x) * PER; }

fn relu_forward_at(i: u32) { y[i] = max(x[i], 0.0); }
@compute @workgroup_size(256)
fn relu_forward(@builtin(global_invocation_id) g: vec3<u32>) {
  let s = first(g);
  if (s + PER <= p.n) { for (var k = 0u; k < PER; k++) { relu_forward_at(s + k); } }
  else { for (var i = s; i < p.n; i++) { relu_forward_at(i); } }
}

// dx = dy * (x > 0): the subgradient at 0 is 0, as in PyTorch.
fn relu_backward_at(i: u32) { dx[i] = select(0.0, dy[i], x[i] > 0.0); }
@compute @workgroup_size(256)
fn relu_backward(@builtin(global_invocation_id) g: vec3<u32>) {
  let s = first(g);
  if (s + PER <= p.n) { for (var k = 0u; k < PER; k++) { relu_backward_at(s + k); } }
  else { for (var i = s; i < p.n; i++) { relu_backward_at(i); } }
}

// y = alpha * x + beta
fn affine_at(i: u32) { y[i] = p.alpha * x[i] + p.beta; }
@compute @workgroup_size(256)
fn affine(@builtin(global_invocation_id) g: vec3<u32>) {
  let s = first(g);
  if (s + PER <= p.n) { for (var k = 0u; k < PER; k++) { affine_at(s + k); } }
  else { for (var i = s; i < p.n; i++) { affine_at(i); } }
}

// y = a + b
fn add_at(i: u32) { y[i] = a[i] + b[i]; }
@compute @workgroup_size(256)
fn add(@builtin(global_invocation_id) g: vec3<u32>) {
  let s = first(g);
  if (s + PER <= p.n) { for (var k = 0u; k < PER; k++) { add_at(s + k); } }
  else { for (var i = s; i < p.n; i++) { add_at(i); } }
}

// y += alpha * x (in place; gradient accumulation)
fn add_into_at(i: u32) { y[i] = y[i] + p.alpha * x[i]; }
@compute @workgroup_size(256)
fn add_into(@builtin(global_invocation_id) g: vec3<u32>) {
  let s = first(g);
  if (s + PER <= p.n) { for (var k = 0u; k < PER; k++) { add_into_at(s + k); } }
  else { for (var i = s; i < p.n; i++) { add_into_at(i); } }
}

// y = beta (in place)
fn fill_at(i: u32) { y[i] = p.beta; }
@compute @workgroup_size(256)
fn fill(@builtin(global_invocation_id) g: vec3<u32>) {
  let s = first(g);
  if (s + PER <= p.n) { for (var k = 0u; k < PER; k++) { fill_at(s + k); } }
  else { for (var i = s; i < p.n; i++) { fill_at(i); } }
}

// y = beta * log(1 + alpha * max(x, 0)): log intensity for network inputs (negative noise
// clamped first). log(1 + u) loses digits for u < 1e-4, irrelevant at the input scales used.
fn log_scale_at(i: u32) { y[i] = p.beta * log(1.0 + p.alpha * max(x[i], 0.0)); }
@compute @workgroup_size(256)
fn log_scale(@builtin(global_invocation_id) g: vec3<u32>) {
  let s = first(g);
  if (s + PER <= p.n) { for (var k = 0u; k < PER; k++) { log_scale_at(s + k); } }
  else { for (var i = s; i < p.n; i++) { log_scale_at(i); } }
}
