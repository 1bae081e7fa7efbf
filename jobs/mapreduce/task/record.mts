/**
 * What a valid health message is, and the master record: one line of a write-ahead segment or master file.
 *
 * The one definition every reader shares: the daemon's decoder (at the edge), the scrub that quarantines
 * bad lines of files the daemon reads back (src/storage/quarantine.ts), and the MapReduce mapper, which is
 * why this file has no imports: it ships with the job and runs with nothing but Node on the task nodes.
 * The SQL engines check the same rules on typed columns (src/storage/master-record.ts, `VALID_RECORD`).
 */

/** Control characters of every class: C0, DEL and C1. They would reach terminals raw. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
export const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** With the `u` flag a surrogate pair is one code point, so only a lone surrogate matches. */
export const LONE_SURROGATE = /\p{Cs}/u;

/** Largest event or receive time a record may carry: the largest exact integer of a double (year 2255). */
export const MAX_TIME_US = Number.MAX_SAFE_INTEGER;

const isPair = (total: unknown, free: unknown): boolean =>
  typeof total === 'number' && typeof free === 'number' && total > 0 && total <= Number.MAX_VALUE && free >= 0 && free <= total;

/** Why the values of a message are not a health message, or undefined when they are. */
export function valuesProblem(cpu: unknown, ramTotal: unknown, ramFree: unknown, diskTotal: unknown, diskFree: unknown): string | undefined {
  // One chain of comparisons for the common case (NaN and Infinity fail them all); the reason only when needed.
  if (typeof cpu === 'number' && cpu >= 0 && cpu <= 100 && isPair(ramTotal, ramFree) && isPair(diskTotal, diskFree)) return undefined;
  if (typeof cpu !== 'number' || !Number.isFinite(cpu)) return `CPU ${cpu} is not a finite number`;
  if (!(cpu >= 0 && cpu <= 100)) return `CPU ${cpu} outside 0-100`;
  return pairProblem(ramTotal, ramFree, 'RAM') ?? pairProblem(diskTotal, diskFree, 'Disk');
}

function pairProblem(total: unknown, free: unknown, name: string): string | undefined {
  if (typeof total !== 'number' || typeof free !== 'number' || !Number.isFinite(total) || !Number.isFinite(free)) {
    return `${name}.Total ${total} and ${name}.Free ${free} must be finite numbers`;
  }
  if (total <= 0) return `${name}.Total ${total} must be > 0`;
  if (free < 0) return `${name}.Free ${free} is negative`;
  if (free > total) return `${name}.Free ${free} > Total ${total}`;
  return undefined;
}

/**
 * The fields of a master record, in the order `encodeLine` (src/core/master-record.ts) writes them, with the
 * SQL type every engine reads them as. Times are epoch microseconds: `ts` the event, `recv` the arrival.
 */
export const RECORD_FIELDS = [
  ['service', 'VARCHAR'],
  ['ts', 'BIGINT'],
  ['cpu', 'DOUBLE'],
  ['ram_total', 'DOUBLE'],
  ['ram_free', 'DOUBLE'],
  ['disk_total', 'DOUBLE'],
  ['disk_free', 'DOUBLE'],
  ['recv', 'BIGINT'],
] as const;

type Field = (typeof RECORD_FIELDS)[number];

/** A master record as parsed from its line. */
export type MasterRecord = { [F in Field as F[0]]: F[1] extends 'VARCHAR' ? string : number };

const isTime = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/**
 * Parses one line (without its newline) as a master record; a string says why it is not one.
 * Blank lines are neither: every reader skips them, so the caller does too.
 */
export function parseRecord(line: string): MasterRecord | string {
  let r: MasterRecord;
  try {
    r = JSON.parse(line);
  } catch (err) {
    return `malformed JSON (${(err as Error).message})`;
  }
  if (r === null || typeof r !== 'object' || Array.isArray(r)) return 'not a JSON object';
  if (typeof r.service !== 'string' || r.service === '') return 'service is not a non-empty string';
  if (LONE_SURROGATE.test(r.service)) return 'service is not well-formed Unicode (a lone surrogate)';
  if (CONTROL.test(r.service)) return 'service has control characters';
  if (!isTime(r.ts) || r.ts > MAX_TIME_US) return `ts ${r.ts} is not an epoch time in microseconds`;
  if (!isTime(r.recv)) return `recv ${r.recv} is not an epoch time in microseconds`;
  return valuesProblem(r.cpu, r.ram_total, r.ram_free, r.disk_total, r.disk_free) ?? r;
}

/** How every engine's error for a line that is not a record begins (the daemon then scrubs the inputs). */
export const INVALID_RECORD = 'invalid master record';

export const isBlank = (line: string): boolean => line.trim() === '';
