/**
 * The only source of randomness the core sees. Hosts inject it: the simulator
 * with a seed it prints, the Durable Object host with a seed drawn once at start.
 */
export interface Rng {
  /** A uniformly distributed unsigned 32-bit integer. */
  nextU32(): number;
}

/**
 * xoshiro128** seeded through splitmix32: small, fast, and with a period far
 * beyond anything a simulation or a replica's lifetime can exhaust.
 */
export class SeededRng implements Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    let x = seed >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** A uniform integer in `[0, n)`; `n` must be a positive integer below 2^32. */
export function randomBelow(rng: Rng, n: number): number {
  if (!(n > 0 && n <= 0x100000000 && Number.isInteger(n))) {
    throw new RangeError(`randomBelow: n must be a positive integer below 2^32, got ${n}`);
  }
  // Rejection sampling keeps the distribution exactly uniform.
  const limit = 0x100000000 - (0x100000000 % n);
  for (;;) {
    const x = rng.nextU32();
    if (x < limit) return x % n;
  }
}

/** A uniform integer in `[lo, hi]` inclusive. */
export function randomInt(rng: Rng, lo: number, hi: number): number {
  return lo + randomBelow(rng, hi - lo + 1);
}

/** A uniform float in `[0, 1)`. */
export function randomFloat(rng: Rng): number {
  return rng.nextU32() / 0x100000000;
}

/** True with probability `p`. */
export function chance(rng: Rng, p: number): boolean {
  return p > 0 && randomFloat(rng) < p;
}
