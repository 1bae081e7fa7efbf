/** The detail view's history chart: `series` buckets laid onto character columns, drawn as bars with axes. */
import { formatClock } from './format.js';
import { barRows } from './sparkline.js';
import type { BucketView } from './types.js';

export type ChartMetric = 'cpu' | 'ram' | 'disk';

export const CHART_METRICS: readonly { key: ChartMetric; label: string }[] = [
  { key: 'cpu', label: 'CPU %' },
  { key: 'ram', label: 'RAM used %' },
  { key: 'disk', label: 'Disk used %' },
];

/**
 * One value per column of [from, to): the count-weighted mean of the buckets starting in that column, or, when
 * buckets are wider than columns, of the bucket covering the column's middle. Null where there is no data.
 */
export function chartColumns(
  buckets: readonly BucketView[],
  metric: ChartMetric,
  from: number,
  to: number,
  stepMs: number,
  width: number,
): (number | null)[] {
  const sorted = [...buckets].sort((a, b) => a.start - b.start);
  const span = (to - from) / Math.max(1, width);
  const out: (number | null)[] = [];
  let i = 0;
  for (let c = 0; c < width; c++) {
    const lo = from + c * span;
    const hi = lo + span;
    while (i < sorted.length && sorted[i]!.start < lo) i++;
    let sum = 0;
    let n = 0;
    for (let j = i; j < sorted.length && sorted[j]!.start < hi; j++) {
      const b = sorted[j]!;
      sum += b[metric].mean * b.count;
      n += b.count;
    }
    if (n > 0) {
      out.push(sum / n);
      continue;
    }
    const mid = lo + span / 2;
    const covering = sorted.find((b) => b.start <= mid && mid < b.start + stepMs && b.count > 0);
    out.push(covering ? covering[metric].mean : null);
  }
  return out;
}

/** The y-axis top: the next multiple of 10 above the highest value, at least 10 and at most 100 (percent). */
export function chartTop(values: readonly (number | null)[]): number {
  let max = 0;
  for (const v of values) if (v != null && v > max) max = v;
  return Math.min(100, Math.max(10, Math.ceil(max / 10) * 10));
}

export interface ChartOptions {
  from: number;
  to: number;
  stepMs: number;
  /** Total width in columns, axis labels included. */
  width: number;
  /** Bar rows (the time axis adds one more line). */
  height: number;
  metric: ChartMetric;
  /** Show dates on the time axis (multi-day windows). */
  withDate?: boolean;
  /** The time axis in UTC instead of the local zone. */
  utc?: boolean;
}

const GUTTER = 6;

/** Lines of text: `height` bar rows with a percent axis, then a time axis. */
export function renderChart(buckets: readonly BucketView[], o: ChartOptions): string[] {
  const plotWidth = Math.max(1, o.width - GUTTER);
  const height = Math.max(1, o.height);
  const values = chartColumns(buckets, o.metric, o.from, o.to, o.stepMs, plotWidth);
  const top = chartTop(values);
  const bars = barRows(values, top, height);
  const label = (r: number): string => {
    if (r === 0) return `${top}%`;
    if (r === height - 1) return '0%';
    if (height >= 5 && r === Math.floor((height - 1) / 2)) return `${Math.round(top / 2)}%`;
    return '';
  };
  const lines = bars.map((row, r) => `${label(r).padStart(GUTTER - 2)} ┤${row}`);
  const left = formatClock(o.from, o.withDate, o.utc).slice(0, o.withDate ? 12 : 5);
  const right = formatClock(o.to, o.withDate, o.utc).slice(0, o.withDate ? 12 : 5);
  const gap = plotWidth - left.length - right.length;
  lines.push(' '.repeat(GUTTER) + (gap > 0 ? left + ' '.repeat(gap) + right : left).slice(0, plotWidth));
  return lines;
}
