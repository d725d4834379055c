/**
 * Deterministic PRNG for tests and benchmarks (mulberry32): the same seed gives the same sequence,
 * so randomized operation sequences are reproducible. Returns u32 values in [0, 2^32).
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** 0 … n−1 in a random order drawn from `rnd` (Fisher–Yates), for randomized slots in benchmarks. */
export function shuffled(n: number, rnd: () => number): Uint32Array {
  const a = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rnd() % (i + 1);
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}
