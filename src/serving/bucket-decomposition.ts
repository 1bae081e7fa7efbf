import { ceilTo, floorTo, MICROS_PER_DAY, MICROS_PER_HOUR } from '../core/time.js';

export type Granularity = 'minute' | 'hour' | 'day';

/** Bucket starts in [from, to) of one view table. */
export interface BucketRange {
  granularity: Granularity;
  from: number;
  to: number;
}

/**
 * Covers a minute-aligned window [from, to) with the fewest, coarsest aligned buckets: minutes up to the
 * first hour boundary, hours up to the first day boundary, whole days, then hours and minutes again.
 * At most one day range, two hour ranges and two minute ranges. Days are UTC days.
 */
export function decompose(from: number, to: number): BucketRange[] {
  if (to <= from) return [];
  const h0 = ceilTo(from, MICROS_PER_HOUR);
  const h1 = floorTo(to, MICROS_PER_HOUR);
  if (h0 >= h1) return [{ granularity: 'minute', from, to }];
  const out: BucketRange[] = [];
  const push = (granularity: Granularity, a: number, b: number) => {
    if (a < b) out.push({ granularity, from: a, to: b });
  };
  push('minute', from, h0);
  const d0 = ceilTo(h0, MICROS_PER_DAY);
  const d1 = floorTo(h1, MICROS_PER_DAY);
  if (d0 < d1) {
    push('hour', h0, d0);
    push('day', d0, d1);
    push('hour', d1, h1);
  } else push('hour', h0, h1);
  push('minute', h1, to);
  return out;
}
