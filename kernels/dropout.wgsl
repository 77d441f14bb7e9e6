// Dropout with a counter-based random mask: element i of a tensor is kept when
// hash(offset + i, k1, k2) >= threshold, where (k1, k2) are derived from (seed, step) on the CPU
// (src/engine/ops/dropout.ts, dropoutKeys) and threshold = floor(p * 2^32). The mask is a pure
// function of (seed, step, i), so backward re-derives it instead of storing it.
//
// Hash: Chris Wellons' "triple32" integer mixer, applied twice with the two keys in between;
// the CPU reference (test/reference/dropout.ts) computes the same bits.

struct Params {
  n: u32,
  row: u32,        // invocations per workgroup row in y (grid width * 256)
  threshold: u32,
  k1: u32,
  k2: u32,
  scale: f32,      // 1 / (1 - p)
  offset: u32,     // index of element 0 in the mask (a micro-batch's place in its batch)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

fn triple32(v: u32) -> u32 {
  var h = v;
  h ^= h >> 17u;
  h *= 0xed5ad4bbu;
  h ^= h >> 11u;
  h *= 0xac4c1b51u;
  h ^= h >> 15u;
  h *= 0x31848babu;
  h ^= h >> 14u;
  return h;
}

fn keep_scale(i: u32) -> f32 {
  let h = triple32(triple32((i + p.offset) ^ p.k1) + p.k2);
  return select(0.0, p.scale, h >= p.threshold);
}

// Elements per invocation (variant knob, as in elementwise.wgsl): 8 on software GPUs, 1 on real ones.
override PER: u32 = 1u;

fn forward_at(i: u32) { y[i] = x[i] * keep_scale(i); }
fn backward_at(i: u32) { dx[i] = dy[i] * keep_scale(i); }

@compute @workgroup_size(256)
fn forward(@builtin(global_invocation_id) g: vec3<u32>) {
  let s = (g.y * p.row + g.x) * PER;
  if (s + PER <= p.n) { for (var k = 0u; k < PER; k++) { forward_at(s + k); } }
  else { for (var i = s; i < p.n; i++) { forward_at(i); } }
}

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) g: vec3<u32>) {
  let s = (g.y * p.row + g.x) * PER;
  if (s + PER <= p.n) { for (var k = 0u; k < PER; k++) { backward_at(s + k); } }
  else { for (var i = s; i < p.n; i++) { backward_at(i); } }
}
