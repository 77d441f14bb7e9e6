// Elementwise ops over flat f32 arrays. Shapes arrive in the uniform `p`; 1-D grids of up to
// 65535 workgroups are extended into y so any length up to the binding limit works.

struct Params {
  n: u32,
  row: u32,   // elements per workgroup row in y (grid width * 256)
  alpha: f32,
  beta: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn relu_forward(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.y * p.row + g.x;
  if (i < p.n) { y[i] = max(x[i], 0.0); }
}

// y = alpha * x + beta
@compute @workgroup_size(256)
fn affine(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.y * p.row + g.x;
  if (i < p.n) { y[i] = p.alpha * x[i] + p.beta; }
}
