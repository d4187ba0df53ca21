/** A seeded xorshift32 stream of uniform numbers in [lo, hi), for kernel test inputs. */
export function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return (lo = -1, hi = 1) => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return lo + (hi - lo) * (s / 4294967296);
  };
}
export type Rand = ReturnType<typeof rng>;
