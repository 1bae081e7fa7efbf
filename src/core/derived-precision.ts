/**
 * How many significant digits an answer keeps of a value the daemon derives (a used percentage, a mean).
 *
 * Twelve: a derived value is a few double operations on what a sender wrote, each off by at most half an ulp
 * (about 1e-16 relative), so its noise sits in the 16th and 17th digits (`(16 - 7.04) / 16 * 100` is
 * 56.00000000000001). Rounding to 12 removes that noise with a wide margin and keeps more digits than any
 * measurement behind a health message carries (the views themselves hold percentages to 1e-6, 8 digits at 100).
 * Values a sender wrote (CPU, free GB) are answered as sent, never through this.
 */
export const DERIVED_DIGITS = 12;

/** `x` to DERIVED_DIGITS significant digits, as the nearest double (idempotent; 0, negatives and ±Infinity pass). */
export const roundDerived = (x: number): number => Number(x.toPrecision(DERIVED_DIGITS));
