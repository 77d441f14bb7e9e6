// Adam / AdamW parameter update, in place, one invocation per element (PyTorch's single-tensor
// algorithm). Bias corrections are folded into step_size and inv_sqrt_bc2 on the CPU (float64).
//   g = grad_scale * grad (gradient clipping folded into the update)
//   Adam:  g = g + l2 * param                    (l2 = weight decay, 0 for AdamW)
//   AdamW: param = param * decay                     (decay = 1 - lr * weight decay, 1 for Adam)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g^2
//   param -= step_size * m / (sqrt(v) * inv_sqrt_bc2 + eps)
//     with step_size = lr / (1 - beta1^t), inv_sqrt_bc2 = 1 / sqrt(1 - beta2^t)

struct Params {
  n: u32,
  row: u32,            // invocations per workgroup row in y (grid width * 256)
  beta1: f32,
  beta2: f32,
  one_minus_beta1: f32,   // computed in float64: 1 - f32(beta2) in f32 is off by ~1e-5 relative
  one_minus_beta2: f32,
  eps: f32,
  l2: f32,
  decay: f32,
  step_size: f32,
  inv_sqrt_bc2: f32,
  grad_scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;

// Elements per invocation (variant knob, as in elementwise.wgsl): 8 on software GPUs, 1 on real ones.
override PER: u32 = 1u;

fn adam_at(i: u32) {
  let w = param[i];
  let g = p.grad_scale * grad[i] + p.l2 * w;
  let mi = p.beta1 * m[i] + p.one_minus_beta1 * g;
  let vi = p.beta2 * v[i] + p.one_minus_beta2 * g * g;
  m[i] = mi;
  v[i] = vi;
  param[i] = w * p.decay - p.step_size * mi / (sqrt(vi) * p.inv_sqrt_bc2 + p.eps);
}

@compute @workgroup_size(256)
fn adam(@builtin(global_invocation_id) gid: vec3<u32>) {
  let s = (gid.y * p.row + gid.x) * PER;
  if (s + PER <= p.n) { for (var k = 0u; k < PER; k++) { adam_at(s + k); } }
  else { for (var i = s; i < p.n; i++) { adam_at(i); } }
}
