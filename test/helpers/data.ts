// Seeded test data shared by the GPU test suites.

/** n seeded pseudo-random values in [-1, 1) (xorshift32). */
export function data(n: number, seed = 1): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 31 - 1;
  });
}
