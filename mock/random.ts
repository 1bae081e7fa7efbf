/**
 * Deterministic randomness for the mock fleet. Profiles draw their constants from a seeded sequence
 * (mulberry32); time-varying noise is hashed from (seed, service, slot) instead, so a value at any elapsed
 * time can be computed directly, without replaying everything before it.
 */

/** mulberry32: tiny, fast, and identical on every platform, which is all mock data needs. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// murmur3's finaliser: every input bit flips about half the output bits.
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * A uniform number in [0, 1) for (key, stream, slot). Fixed arity rather than rest parameters:
 * it runs once or twice per message at load-test rates, and rest parameters allocate.
 */
export function hashUnit(key: number, stream: number, slot: number): number {
  let h = fmix(key ^ 0x9e3779b9);
  h = fmix(h ^ Math.imul(stream + 1, 0x27d4eb2f));
  h = fmix(h ^ Math.imul(slot | 0, 0x165667b1) ^ ((slot / 4294967296) | 0));
  return h / 4294967296;
}

/** A key that identifies one service of one seeded fleet. */
export const serviceKey = (seed: number, serviceIndex: number): number => fmix((seed >>> 0) ^ fmix(serviceIndex + 0x51ed27));

/**
 * Smooth noise in [0, 1): random values at every `period` seconds, joined by smoothstep, so a metric
 * drifts like a real one instead of jumping on every sample.
 */
export function smoothNoise(key: number, stream: number, t: number, period: number): number {
  const x = t / period;
  const k = Math.floor(x);
  const f = x - k;
  const a = hashUnit(key, stream, k);
  const b = hashUnit(key, stream, k + 1);
  return a + (b - a) * f * f * (3 - 2 * f);
}
