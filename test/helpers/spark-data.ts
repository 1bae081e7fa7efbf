/** Test data for the Spark engine tests: edge cases of the view definitions, and data around a watermark. */
import type { HealthMessage } from '../../src/core/message.js';
import { MICROS_PER_MINUTE } from '../../src/core/time.js';
import { randomMessages } from './pipeline.js';

/**
 * Values whose micro-unit product lands on or next to .5 (rounding half away from zero must agree), ratios
 * that are not exact in binary, ties for the maximum at different times (the earliest wins), and rows one
 * microsecond either side of a minute boundary, and a service name full of characters JSON escapes.
 */
export function boundaryMessages(atUs: number): HealthMessage[] {
  const minute = Math.floor(atUs / MICROS_PER_MINUTE) * MICROS_PER_MINUTE;
  const cpus = [0.0000005, 0.0000015, 0.0000025, 2.5e-7, 12.3456785, 50.0000005, 99.9999995, 33.3333335, 0.1 + 0.2, 100, 0];
  const out: HealthMessage[] = cpus.map((cpu, i) => ({
    service: 'edge',
    ts: minute + i * 1_000_000,
    cpu,
    ramTotal: 3 + i,
    ramFree: 1,
    diskTotal: 7,
    diskFree: (i % 7) + 0.5,
  }));
  for (const ts of [minute - 1, minute, minute + MICROS_PER_MINUTE - 1, minute + MICROS_PER_MINUTE]) {
    out.push({ service: 'edge', ts, cpu: 100, ramTotal: 16, ramFree: 0, diskTotal: 1000, diskFree: 0 });
  }
  // A service name that both JSON readers must decode the same way (quotes, a backslash, CJK, an emoji).
  out.push({ service: 'ünï "cødé" \\ 東京 🚀', ts: minute + 7, cpu: 1.5, ramTotal: 8, ramFree: 2, diskTotal: 10, diskFree: 5 });
  return out;
}

/** Rows below W (late), exactly around W, and above it. */
export function straddling(rnd: () => number, w: number, n: number): HealthMessage[] {
  const around = [w - 1, w, w + 1].map((ts) => ({ service: 'orders', ts, cpu: 55.5, ramTotal: 32, ramFree: 8, diskTotal: 500, diskFree: 100 }));
  return [...randomMessages(rnd, n, w - 30 * MICROS_PER_MINUTE, w + 2 * MICROS_PER_MINUTE), ...around];
}
