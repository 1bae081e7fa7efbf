/** Short, fixed-width renderings of numbers and times for an 80-column screen. */
import stringWidth from 'string-width';

/** "4s", "12m", "5h", "3d": the coarsest unit that keeps two significant figures readable. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** "4s ago"; clock skew that puts `then` in the future reads as "0s ago". */
export function formatAgo(then: number, now: number): string {
  return `${formatDuration(now - then)} ago`;
}

/** Integer percent for the table: "42%". */
export const formatPct = (v: number): string => (Number.isFinite(v) ? `${Math.round(v)}%` : '-');

/** One decimal for the detail view: "42.5". */
export const formatFixed1 = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '-');

/** Free space in GB: one decimal under 100 GB, whole GB above. */
export const formatGb = (v: number): string => (!Number.isFinite(v) ? '-' : v < 100 ? v.toFixed(1) : v.toFixed(0));

const COUNT_UNITS: readonly [number, string][] = [
  [1e3, 'k'],
  [1e6, 'M'],
  [1e9, 'G'],
  [1e12, 'T'],
];

/** Compact counts for the header, three significant digits, five columns at most: 999, 1.23k, 12.3k, 123k, 1.23M. */
export function formatCount(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return '-';
  if (Math.abs(Math.round(n)) < 1000) return String(Math.round(n));
  // The unit where the value rounds below 1000 (999,600 is 1.00M, not 1000k).
  let i = 0;
  while (i < COUNT_UNITS.length - 1 && Math.abs(n / COUNT_UNITS[i]![0]) >= 999.5) i++;
  const [size, unit] = COUNT_UNITS[i]!;
  const v = Math.abs(n / size);
  return `${(n / size).toFixed(v < 9.995 ? 2 : v < 99.95 ? 1 : 0)}${unit}`;
}

/** Exact counts with thousands separators for the detail view: 3,600. */
export const formatExact = (n: number): string => Math.round(n).toLocaleString('en-US');

/** Rate with one decimal when small: "0.5", "12", "1.20k". */
export const formatRate = (n: number | null | undefined): string =>
  n != null && Number.isFinite(n) && Math.abs(n) < 10 ? n.toFixed(1) : formatCount(n);

const pad2 = (n: number): string => String(n).padStart(2, '0');
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * Wall-clock time in the local zone, or in UTC with `utc`: "14:02:11"; with `withDate`, "Nov 27 14:02" (a 7-day
 * window spans dates). Shown next to `zoneName`, so a reader knows which clock it is.
 */
export function formatClock(ms: number, withDate = false, utc = false): string {
  const d = new Date(ms);
  const [month, day, h, m, sec] = utc
    ? [d.getUTCMonth(), d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()]
    : [d.getMonth(), d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds()];
  const hm = `${pad2(h)}:${pad2(m)}`;
  return withDate ? `${MONTHS[month]} ${pad2(day)} ${hm}` : `${hm}:${pad2(sec)}`;
}

/**
 * The zone `formatClock` shows at `ms`: "UTC", or the local zone's short name ("EST", "GMT+1"; the summer name
 * in summer). Built on each call, not cached: it is asked a few times a frame, and TZ may change under it.
 */
export function zoneName(utc: boolean, ms: number): string {
  if (utc) return 'UTC';
  const part = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(ms).find((p) => p.type === 'timeZoneName');
  return part?.value ?? 'local';
}

/**
 * A number from the daemon's text with what the eye can use: at least 3 significant digits, never fewer than
 * its whole part ("+304.23%/h" reads "+304%/h", "56.025000000000006" "56", "2.147" "2.15"). Only decimals
 * standing alone are touched: an address or a version ("10.0.0.7", "1.2.3") is left as it is.
 */
export function tidyNumbers(text: string): string {
  return text.replace(/(?<![\d.])\d+\.\d+(?!\d|\.\d)/g, (n) => {
    const v = Number(n);
    const whole = Math.trunc(v).toString().length;
    return String(Number(v.toPrecision(Math.min(100, Math.max(3, v >= 1 ? whole : 3)))));
  });
}

/**
 * Characters that must not reach the terminal raw: controls (an ESC starts a terminal command), format
 * characters (a bidi override reverses what follows), surrogates, unassigned code points, line and paragraph
 * separators. The daemon refuses them in service names, but text also comes from older data and errors.
 */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Cs}\p{Cn}\p{Zl}\p{Zp}]/gu;

/** `s` with every unsafe character shown as its escape, e.g. `\u{202e}`. */
export const safeText = (s: string): string => s.replace(UNSAFE, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const graphemes = new Intl.Segmenter();

/**
 * Pads or cuts `s` to exactly `width` terminal columns (cut text ends in "…"), made safe first. Columns, not
 * code points: a CJK character or an emoji takes two, a combining mark none.
 */
export function fitText(s: string, width: number, align: 'left' | 'right' = 'left'): string {
  if (width <= 0) return '';
  const ascii = PRINTABLE_ASCII.test(s);
  const text = ascii ? s : safeText(s);
  const w = ascii ? s.length : stringWidth(text);
  if (w > width) {
    let out = '';
    let used = 0;
    for (const { segment } of graphemes.segment(text)) {
      const sw = stringWidth(segment);
      if (used + sw > width - 1) break;
      out += segment;
      used += sw;
    }
    return `${out}…${' '.repeat(width - 1 - used)}`;
  }
  const gap = ' '.repeat(width - w);
  return align === 'left' ? text + gap : gap + text;
}

/**
 * When a resource fills up at its current trend: "disk full in 5h (at 03:12)", with the date when it is more
 * than a day away; "disk full now" once the time has passed; null without a forecast.
 */
export function formatForecast(what: string, fullAt: number | null, now: number, utc = false): string | null {
  if (fullAt == null || !Number.isFinite(fullAt)) return null;
  if (fullAt <= now) return `${what} full now`;
  const at = fullAt - now > 86_400_000 ? formatClock(fullAt, true, utc) : formatClock(fullAt, false, utc).slice(0, 5);
  return `${what} full in ${formatDuration(fullAt - now)} (at ${at} ${zoneName(utc, fullAt)})`;
}

/** Bytes for the header: "512 B", "12.3 MiB". */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${Math.round(v)} B` : `${v.toFixed(1)} ${units[u]}`;
}
