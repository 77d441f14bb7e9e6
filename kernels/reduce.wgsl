// Reductions over the last axis of a [rows, cols] view (a whole tensor is rows = 1).
// Invocation index i = gid.y * p.row + gid.x (1-D grids split over y).

struct Params {
  rows: u32,
  cols: u32,
  chunk: u32,      // sum_chunks: elements summed per invocation
  out_cols: u32,   // sum_chunks: ceil(cols / chunk)
  k: u32,          // topk: number of values kept per row (<= 16)
  row: u32,        // invocations per workgroup row in y (grid width * workgroup size)
  scale: f32,      // sum_chunks / broadcast_rows: multiplier (1/count for a mean)
  square: u32,     // sum_chunks: 1 sums squared elements (the first pass of a sum of squares)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@group(0) @binding(5) var<storage, read_write> indices: array<i32>;
@group(0) @binding(6) var<storage, read_write> values: array<f32>;

// y[r, j] = scale * sum(x[r, j*chunk .. min((j+1)*chunk, cols) - 1]), of squares with p.square
// (the first pass of a sum of squares; later passes are plain sums). Repeated passes (chunk 256)
// reduce a row of any length without workgroup barriers, which are slow on software GPUs; four
// interleaved accumulators shorten the dependency chain.
@compute @workgroup_size(256)
fn sum_chunks(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.y * p.row + g.x;
  if (i >= p.rows * p.out_cols) { return; }
  let r = i / p.out_cols;
  let j = i - r * p.out_cols;
  let start = r * p.cols + j * p.chunk;
  let count = min(p.chunk, p.cols - j * p.chunk);
  var acc = vec4<f32>(0.0);
  var t = 0u;
  let sq = p.square != 0u;
  for (; t + 4u <= count; t += 4u) {
    let v = vec4<f32>(x[start + t], x[start + t + 1u], x[start + t + 2u], x[start + t + 3u]);
    acc += select(v, v * v, sq);
  }
  for (; t < count; t++) { let v = x[start + t]; acc.x += select(v, v * v, sq); }
  y[i] = p.scale * ((acc.x + acc.y) + (acc.z + acc.w));
}

// Backward of a (scaled) row sum: dx[r, c] = scale * dy[r].
@compute @workgroup_size(256)
fn broadcast_rows(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.y * p.row + g.x;
  if (i >= p.rows * p.cols) { return; }
  dx[i] = p.scale * dy[i / p.cols];
}

// indices[r] = first c with the largest x[r, c] (ties go to the lower index).
@compute @workgroup_size(64)
fn argmax(@builtin(global_invocation_id) g: vec3<u32>) {
  let r = g.y * p.row + g.x;
  if (r >= p.rows) { return; }
  let base = r * p.cols;
  var best = x[base];
  var bi = 0u;
  for (var c = 1u; c < p.cols; c++) {
    let v = x[base + c];
    if (v > best) { best = v; bi = c; }
  }
  indices[r] = i32(bi);
}

const K_MAX = 16u;

// values[r, :k], indices[r, :k]: the k largest x[r, c] in descending order, ties broken by the
// lower index. An insertion list in registers: scanning c upwards, a value is inserted after every
// kept value >= it, so equal values keep their index order.
@compute @workgroup_size(64)
fn topk(@builtin(global_invocation_id) g: vec3<u32>) {
  let r = g.y * p.row + g.x;
  if (r >= p.rows) { return; }
  let base = r * p.cols;
  let k = p.k;
  var tv: array<f32, K_MAX>;
  var ti: array<u32, K_MAX>;
  var filled = 0u;
  for (var c = 0u; c < p.cols; c++) {
    let v = x[base + c];
    var pos: u32;
    if (filled < k) {
      pos = filled;
      filled++;
    } else if (v > tv[k - 1u]) {
      pos = k - 1u;
    } else {
      continue;
    }
    while (pos > 0u && tv[pos - 1u] < v) {
      tv[pos] = tv[pos - 1u];
      ti[pos] = ti[pos - 1u];
      pos--;
    }
    tv[pos] = v;
    ti[pos] = c;
  }
  for (var j = 0u; j < k; j++) {
    values[r * k + j] = tv[j];
    indices[r * k + j] = i32(ti[j]);
  }
}
