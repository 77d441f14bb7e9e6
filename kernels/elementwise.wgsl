// Elementwise ops over flat f32 arrays. Shapes arrive in the uniform `p`; 1-D grids of up to
// 65535 workgroups are extended into y so any length up to the binding limit works:
// element index i = gid.y * p.row + gid.x, with p.row = (workgroups in x) * 256.
//
// Every resource variable has its own binding number, so any subset of them can form an entry
// point's layout without aliasing.

struct Params {
  n: u32,
  row: u32,   // elements per workgroup row in y (grid width * 256)
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

@compute @workgroup_size(256)
fn relu_forward(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.y * p.row + g.x;
  if (i < p.n) { y[i] = max(x[i], 0.0); }
}

// dx = dy * (x > 0): the subgradient at 0 is 0, as in PyTorch.
@compute @workgroup_size(256)
fn relu_backward(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.y * p.row + g.x;
  if (i < p.n) { dx[i] = select(0.0, dy[i], x[i] > 0.0); }
}

// y = alpha * x + beta
@compute @workgroup_size(256)
fn affine(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.y * p.row + g.x;
  if (i < p.n) { y[i] = p.alpha * x[i] + p.beta; }
}

// y = a + b
@compute @workgroup_size(256)
fn add(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.y * p.row + g.x;
  if (i < p.n) { y[i] = a[i] + b[i]; }
}

// y += alpha * x (in place; gradient accumulation)
@compute @workgroup_size(256)
fn add_into(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.y * p.row + g.x;
  if (i < p.n) { y[i] = y[i] + p.alpha * x[i]; }
}

// y = beta (in place)
@compute @workgroup_size(256)
fn fill(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.y * p.row + g.x;
  if (i < p.n) { y[i] = p.beta; }
}
