/** Unicode block sparklines and bar charts: eight levels per character cell. */

const LEVELS = '▁▂▃▄▅▆▇█';

/** One character per value, scaled to [0, max]; null (no data in that slot) is a blank. */
export function sparkline(values: readonly (number | null)[], max = 100): string {
  let out = '';
  for (const v of values) {
    if (v == null || !Number.isFinite(v)) out += ' ';
    else out += LEVELS[Math.max(0, Math.min(7, Math.round((v / max) * 7)))];
  }
  return out;
}

const EIGHTHS = ' ▁▂▃▄▅▆▇█';

/**
 * Vertical bars `height` rows tall, one column per value, top row first. A value of 0 still shows a sliver so
 * that "idle" differs from "no data" (null, blank).
 */
export function barRows(values: readonly (number | null)[], top: number, height: number): string[] {
  const rows: string[] = Array.from({ length: height }, () => '');
  for (const v of values) {
    const eighths = v == null || !Number.isFinite(v) ? 0 : Math.max(1, Math.round((Math.min(v, top) / top) * height * 8));
    for (let r = 0; r < height; r++) {
      const fromBottom = height - 1 - r;
      const fill = Math.max(0, Math.min(8, eighths - fromBottom * 8));
      rows[r] += EIGHTHS[fill];
    }
  }
  return rows;
}
