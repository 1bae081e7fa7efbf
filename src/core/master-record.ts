/**
 * The master record format: one JSON line per accepted message, the same in the write-ahead segments and
 * the master dataset. Its fields are declared once (`RECORD_FIELDS`, in jobs/mapreduce/task/record.mts, which
 * ships with the MapReduce job and parses and validates a line); here they are written (`encodeLine`), named
 * for the SQL readers (`RAW_COLUMNS`, Spark's schema derives from it), checked in SQL (`VALID_RECORD`) and
 * read without parsing where only the time is needed (`recordTime`).
 */
import { isBlank, MAX_TIME_US, parseRecord, RECORD_FIELDS } from '../../jobs/mapreduce/task/record.mjs';
import type { HealthMessage } from './message.js';

/**
 * What the decoder's canonical path read (ingest/decode.ts): the text of cpu, RAM total and free, disk
 * total and free as received where it is exactly how JavaScript prints the number, '' where not; and a
 * service name that JSON needs no escape for.
 */
export type ReceivedTexts = readonly string[];

/**
 * One line of a segment, its fields in `RECORD_FIELDS` order (a unit test holds the two together). With
 * `texts`, numbers are copied from the datagram instead of printed again; the line is the same either way.
 */
export function encodeLine(m: HealthMessage, recvUs: number, texts?: ReceivedTexts | null): string {
  if (texts) {
    return `{"service":"${m.service}","ts":${m.ts},"cpu":${texts[0] || m.cpu},"ram_total":${texts[1] || m.ramTotal},"ram_free":${texts[2] || m.ramFree},"disk_total":${texts[3] || m.diskTotal},"disk_free":${texts[4] || m.diskFree},"recv":${recvUs}}\n`;
  }
  return `{"service":${JSON.stringify(m.service)},"ts":${m.ts},"cpu":${m.cpu},"ram_total":${m.ramTotal},"ram_free":${m.ramFree},"disk_total":${m.diskTotal},"disk_free":${m.diskFree},"recv":${recvUs}}\n`;
}

const pad = (id: number) => String(id).padStart(12, '0');

export const segmentName = (id: number, ext: 'open' | 'jsonl'): string => `seg-${pad(id)}.${ext}`;
export const segmentIdOf = (name: string): number | undefined => {
  const m = /seg-(\d{12})/.exec(name);
  return m ? Number(m[1]) : undefined;
};

/**
 * A compacted master file: the records of segments `first` to `last` in one hour partition, as Parquet with a
 * `seg` column (each record's segment). It overshadows the files of those segments in its partition.
 */
export const compactedName = (first: number, last: number): string => `compact-${pad(first)}-${pad(last)}.parquet`;

/** Master file names: what a file holds (segments `first` to `last`) and in which form; undefined for any other name. */
export function masterName(name: string): { first: number; last: number; format: 'jsonl' | 'parquet' } | undefined {
  let m = /^seg-(\d{12})\.jsonl$/.exec(name);
  if (m) return { first: Number(m[1]), last: Number(m[1]), format: 'jsonl' };
  m = /^compact-(\d{12})-(\d{12})\.parquet$/.exec(name);
  if (m && Number(m[1]) <= Number(m[2])) return { first: Number(m[1]), last: Number(m[2]), format: 'parquet' };
  return undefined;
}

/** Columns of a raw segment line, as read by DuckDB's `read_json`. */
export const RAW_COLUMNS = `{${RECORD_FIELDS.map(([name, type]) => `${name}: '${type}'`).join(', ')}}`;

const TIME_KEY = '"ts":';

/**
 * The event time of a record line, read from its `ts` field without parsing the line; NaN when absent.
 * Digits beyond a safe integer give an unsafe number (the caller refuses it), as Number() would.
 */
export function recordTime(buf: Buffer, start = 0, end = buf.length): number {
  // Searched within the line only: a run of lines without the key must not make the search quadratic.
  const found = start === 0 && end === buf.length ? buf.indexOf(TIME_KEY) : buf.subarray(start, end).indexOf(TIME_KEY);
  if (found < 0) return Number.NaN;
  const at = start + found;
  let i = at + TIME_KEY.length;
  let ts = 0;
  for (; i < end && buf[i] >= 0x30 && buf[i] <= 0x39; i++) ts = ts * 10 + (buf[i] - 0x30);
  return i === at + TIME_KEY.length ? Number.NaN : ts;
}

const DOUBLE_MAX = '1.7976931348623157e308';
const finitePair = (r: string) => `${r}_total > 0 AND ${r}_total <= ${DOUBLE_MAX} AND ${r}_free >= 0 AND ${r}_free <= ${r}_total`;

/**
 * `parseRecord`'s rules on the typed columns, for the SQL engines: a row that is not a record (a missing
 * field reads as NULL, Infinity and NaN fail the bounds) makes the query fail with `INVALID_RECORD`
 * rather than be counted or silently dropped; the caller then scrubs the files it read (quarantine.ts).
 * The readers' JSON parsers refuse what is not JSON at all (and lone surrogates, and invalid UTF-8).
 */
export const VALID_RECORD = `(service IS NOT NULL AND length(service) > 0 AND NOT regexp_matches(service, '[\\x00-\\x1f\\x7f-\\x9f]')
  AND ts >= 0 AND ts <= ${MAX_TIME_US} AND recv >= 0 AND cpu >= 0 AND cpu <= 100 AND ${finitePair('ram')} AND ${finitePair('disk')})`;

/** A run of consecutive bad lines of a file. */
export interface BadRun {
  /** Byte offset of the run's first line in the file. */
  offset: number;
  lines: number;
  /** Why its first line is not a record. */
  reason: string;
  data: Buffer;
}

export interface Scanned {
  /** The valid records (and nothing else), ready to replace the file. */
  good: Buffer;
  bad: BadRun[];
  badLines: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Why one line (without its newline) is not a master record; undefined when it is one, or blank. */
function lineProblem(bytes: Uint8Array): string | undefined {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return 'invalid UTF-8';
  }
  if (isBlank(text)) return undefined;
  const r = parseRecord(text);
  return typeof r === 'string' ? r : undefined;
}

/**
 * Splits file content into its valid records and runs of bad lines; undefined when there is nothing bad.
 * A last line without its newline is a torn write, and bad too.
 */
export function scanRecords(data: Buffer): Scanned | undefined {
  const good: Buffer[] = [];
  const bad: BadRun[] = [];
  let badLines = 0;
  let last: BadRun | undefined;
  for (let start = 0; start < data.length; ) {
    const nl = data.indexOf(0x0a, start);
    const end = nl < 0 ? data.length : nl + 1;
    const line = data.subarray(start, end);
    const problem = nl < 0 ? 'torn line (no newline at the end of the file)' : lineProblem(line.subarray(0, line.length - 1));
    if (problem === undefined) {
      good.push(line);
      last = undefined;
    } else {
      badLines++;
      if (last && last.offset + last.data.length === start) {
        last.data = Buffer.concat([last.data, line]);
        last.lines++;
      } else {
        last = { offset: start, lines: 1, reason: problem, data: Buffer.from(line) };
        bad.push(last);
      }
    }
    start = end;
  }
  return badLines === 0 ? undefined : { good: Buffer.concat(good), bad, badLines };
}
