/**
 * Epoch timestamps in seconds, milliseconds, microseconds or nanoseconds are told apart by magnitude:
 * each unit covers the years 1973-5138 without overlapping the next, so no plausible clock is ambiguous.
 */
const SECONDS_BELOW = 1e11;
const MILLIS_BELOW = 1e14;
const MICROS_BELOW = 1e17;
const NANOS_BELOW = 1e20;

/** Epoch number (any unit) to epoch microseconds, or undefined when it is not a positive finite time. */
export function epochToMicros(t: number): number | undefined {
  if (!Number.isFinite(t) || t <= 0 || t >= NANOS_BELOW) return undefined;
  if (t < SECONDS_BELOW) return Math.round(t * 1e6);
  if (t < MILLIS_BELOW) return Math.round(t * 1e3);
  if (t < MICROS_BELOW) return Math.round(t);
  return Math.round(t / 1e3);
}

// Date and time with a zone designator; a time without a zone would be a guess, so it is refused.
const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?(Z|([+-])(\d{2}):?(\d{2}))$/i;

/**
 * ISO-8601 text with a zone to epoch microseconds (sub-millisecond digits kept), or undefined. Every field
 * is checked: no rollover of 2026-02-31 into March, no hour 24, no offset beyond RFC 3339's 23:59.
 */
export function isoToMicros(text: string): number | undefined {
  const m = ISO.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac = '', , sign, oh, om] = m;
  if (+h > 23 || +mi > 59 || +s > 59) return undefined;
  if (oh !== undefined && (+oh > 23 || +om > 59)) return undefined;
  // setUTCFullYear, unlike Date.UTC, takes years 0-99 as they are rather than as 1900-1999.
  const date = new Date(0);
  date.setUTCFullYear(+y, +mo - 1, +d);
  if (date.getUTCFullYear() !== +y || date.getUTCMonth() !== +mo - 1 || date.getUTCDate() !== +d) return undefined;
  date.setUTCHours(+h, +mi, +s, 0);
  const offsetMin = oh === undefined ? 0 : (sign === '-' ? -1 : 1) * (+oh * 60 + +om);
  const micros = Number((frac + '000000').slice(0, 6));
  return (date.getTime() - offsetMin * 60_000) * 1000 + micros;
}

export const MICROS_PER_MINUTE = 60_000_000;
export const MICROS_PER_HOUR = 3_600_000_000;
export const MICROS_PER_DAY = 86_400_000_000;

export const floorTo = (us: number, step: number): number => Math.floor(us / step) * step;
export const ceilTo = (us: number, step: number): number => Math.ceil(us / step) * step;

export const microsToIso = (us: number): string => {
  const ms = Math.floor(us / 1000);
  const rest = us - ms * 1000;
  const iso = new Date(ms).toISOString();
  return rest === 0 ? iso : `${iso.slice(0, -1)}${String(rest).padStart(3, '0')}Z`;
};
