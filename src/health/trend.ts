/**
 * A least-squares trend over a sliding time window (Prometheus `predict_linear`), in constant memory: points
 * are folded into a ring of time buckets holding the sums that ordinary least squares needs, so adding a point
 * is O(1) on the ingest path and a fit is O(buckets). The fit is exact over every point in the window: buckets
 * only decide where the window's edge falls.
 */

export interface TrendFit {
  /** Fitted value at `atUs`. */
  valueAt: (atUs: number) => number;
  /** Change per second. */
  slopePerSec: number;
  /** Coefficient of determination, 0-1: how much of the variation the line explains. */
  r2: number;
  points: number;
  /** Time between the oldest and the newest point in the window. */
  spanUs: number;
  /** When the line reaches `level`, or null when it never does going forward (flat or falling). */
  reaches: (level: number) => number | null;
}

// Per bucket: n, Σt, Σv, Σt², Σtv, Σv², min t, max t; t in seconds from the bucket start, so sums stay small
// and the variance terms do not cancel catastrophically after days of uptime.
const N = 0;
const ST = 1;
const SV = 2;
const STT = 3;
const STV = 4;
const SVV = 5;
const TMIN = 6;
const TMAX = 7;
const WIDTH = 8;
// Values are centred on this before summing, for the same reason (used percent lives in 0-100).
const CENTRE = 50;

export class TrendWindow {
  private readonly bucketUs: number;
  private readonly index: Float64Array;
  private readonly sums: Float64Array;
  private newest = Number.NEGATIVE_INFINITY;

  /**
   * @param buckets how finely the window's edge moves; memory is 9 numbers per bucket, per service and metric
   * @default 30
   */
  constructor(
    readonly windowUs: number,
    private readonly buckets = 30,
  ) {
    this.bucketUs = Math.max(1, Math.ceil(windowUs / buckets));
    this.index = new Float64Array(buckets).fill(Number.NaN);
    this.sums = new Float64Array(buckets * WIDTH);
  }

  /** Forgets every point: what came before a restart or a cleanup says nothing about the line after it. */
  reset(): void {
    this.index.fill(Number.NaN);
    this.newest = Number.NEGATIVE_INFINITY;
  }

  add(tsUs: number, value: number): void {
    const b = Math.floor(tsUs / this.bucketUs);
    if (b > this.newest) this.newest = b;
    else if (b <= this.newest - this.buckets) return; // older than the window
    const slot = ((b % this.buckets) + this.buckets) % this.buckets;
    const o = slot * WIDTH;
    const s = this.sums;
    if (this.index[slot] !== b) {
      this.index[slot] = b;
      s.fill(0, o, o + WIDTH);
      s[o + TMIN] = Number.POSITIVE_INFINITY;
      s[o + TMAX] = Number.NEGATIVE_INFINITY;
    }
    const t = (tsUs - b * this.bucketUs) / 1e6;
    const v = value - CENTRE;
    s[o + N] += 1;
    s[o + ST] += t;
    s[o + SV] += v;
    s[o + STT] += t * t;
    s[o + STV] += t * v;
    s[o + SVV] += v * v;
    if (t < s[o + TMIN]) s[o + TMIN] = t;
    if (t > s[o + TMAX]) s[o + TMAX] = t;
  }

  /** The least-squares line over the window ending at the newest point, or null with fewer than 3 points. */
  fit(): TrendFit | null {
    if (!Number.isFinite(this.newest)) return null;
    const first = this.newest - this.buckets + 1;
    const originUs = first * this.bucketUs;
    const bucketSec = this.bucketUs / 1e6;
    let n = 0;
    let st = 0;
    let sv = 0;
    let stt = 0;
    let stv = 0;
    let svv = 0;
    let tmin = Number.POSITIVE_INFINITY;
    let tmax = Number.NEGATIVE_INFINITY;
    for (let slot = 0; slot < this.buckets; slot++) {
      const b = this.index[slot];
      if (!(b >= first)) continue; // empty (NaN) or expired
      const o = slot * WIDTH;
      const s = this.sums;
      // Shift the bucket's sums from its own start to the window origin.
      const shift = (b - first) * bucketSec;
      const bn = s[o + N];
      n += bn;
      st += s[o + ST] + bn * shift;
      sv += s[o + SV];
      stt += s[o + STT] + 2 * shift * s[o + ST] + bn * shift * shift;
      stv += s[o + STV] + shift * s[o + SV];
      svv += s[o + SVV];
      tmin = Math.min(tmin, s[o + TMIN] + shift);
      tmax = Math.max(tmax, s[o + TMAX] + shift);
    }
    if (n < 3) return null;
    const varT = n * stt - st * st;
    const varV = n * svv - sv * sv;
    const cov = n * stv - st * sv;
    if (!(varT > 0)) return null;
    const slope = cov / varT;
    const intercept = (sv - slope * st) / n + CENTRE;
    const r2 = varV > 0 ? Math.min(1, (cov * cov) / (varT * varV)) : 0;
    const valueAt = (atUs: number) => intercept + (slope * (atUs - originUs)) / 1e6;
    return {
      valueAt,
      slopePerSec: slope,
      r2,
      points: n,
      spanUs: (tmax - tmin) * 1e6,
      reaches: (level) => (slope > 0 ? originUs + ((level - intercept) / slope) * 1e6 : null),
    };
  }
}
