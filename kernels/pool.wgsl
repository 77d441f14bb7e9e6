// 1-D average pooling over the last axis of [N, C, L] (PyTorch AvgPool1d, no padding, floor
// mode): y[r, o] = mean(x[r, o*stride .. o*stride + kernel - 1]) with r = n*C + c.
// One invocation per output element (forward) or per input element (backward, a gather over the
// windows that cover it, so no atomics are needed).

struct Params {
  rows: u32,       // N * C
  len_in: u32,     // L
  len_out: u32,    // floor((L - kernel) / stride) + 1
  kernel: u32,
  stride: u32,
  row: u32,        // invocations per workgroup row in y (grid width * 256)
  inv_kernel: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn avg_forward(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.y * p.row + g.x;
  if (i >= p.rows * p.len_out) { return; }
  let r = i / p.len_out;
  let o = i - r * p.len_out;
  let base = r * p.len_in + o * p.stride;
  var s = 0.0;
  for (var j = 0u; j < p.kernel; j++) { s += x[base + j]; }
  y[i] = s * p.inv_kernel;
}

@compute @workgroup_size(256)
fn avg_backward(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.y * p.row + g.x;
  if (i >= p.rows * p.len_in) { return; }
  let r = i / p.len_in;
  let l = i - r * p.len_in;
  // windows o with o*stride <= l < o*stride + kernel
  var lo = 0u;
  if (l >= p.kernel) { lo = (l - p.kernel) / p.stride + 1u; }
  let hi = min(l / p.stride + 1u, p.len_out);
  var s = 0.0;
  for (var o = lo; o < hi; o++) { s += dy[r * p.len_out + o]; }
  dx[i] = s * p.inv_kernel;
}

// Ragged segment means over the last axis of [rows, len_in]: y[r, s] = mean of
// x[r, starts[s] .. starts[s + 1] - 1], segments contiguous and non-empty (the caller checks), so
// len_out = number of segments. One invocation per output element.
@group(0) @binding(5) var<storage, read> starts: array<i32>;

@compute @workgroup_size(256)
fn segment_mean(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.y * p.row + g.x;
  if (i >= p.rows * p.len_out) { return; }
  let r = i / p.len_out;
  let s = i - r * p.len_out;
  let lo = u32(starts[s]);
  let hi = u32(starts[s + 1u]);
  var sum = 0.0;
  for (var j = lo; j < hi; j++) { sum += x[r * p.len_in + j]; }
  y[i] = sum / f32(hi - lo);
}
