/**
 * The aggregate that flows through the MapReduce job, shared by mapper, combiner and reducer.
 *
 * Every record of the job (mapper output, combiner output, reducer output) is one row of `stage_minute` as
 * a tab-separated line: `service bucket n cpu_sum cpu_min cpu_max cpu_peak ram_... disk_...`. The first two
 * fields are the key (`-D stream.num.map.output.key.fields=2`). One format for all three stages means a
 * combiner is just "merge rows with the same key", which is correct however often Hadoop applies it, and
 * the reducer's output loads into DuckDB as it is.
 *
 * The service is written as a JSON string literal: a name may hold tabs or newlines, which would break
 * the line format; JSON escapes them, and DuckDB's `json_extract_string` reads it back.
 *
 * No imports: this file is shipped with the job and runs with nothing but Node on the task nodes.
 */

/** Micro-units of a percentage, exactly as view-sql.ts `quantize` and its SQL (round half away from zero). */
export const quantize = (pct: number): number => Math.sign(pct) * Math.round(Math.abs(pct) * 1e6);

export const MINUTE_US = 60_000_000;

/**
 * Start of the minute of `ts`, as DuckDB's `ts // 60000000 * 60000000` on BIGINT: integer division truncates
 * toward zero. `%` on doubles is exact, so this is exact for every safe integer (a float division is not).
 */
export const minuteOf = (ts: number): number => ts - (ts % MINUTE_US);

/** Fields per row: service, bucket, n, then sum/min/max/peak for cpu, ram, disk. */
export const ROW_FIELDS = 15;

/** A failure with the text the job should report (the task's stderr ends up in Hadoop's error). */
export class JobInputError extends Error {}

interface Extremes {
  min: number;
  max: number;
  /** Earliest ts at which `max` was reached: the tie rule of view-sql.ts (`max_by(ts, [u, -ts])`). */
  peak: number;
}

const extremes = (u: number, ts: number): Extremes => ({ min: u, max: u, peak: ts });

function mergeExtremes(into: Extremes, min: number, max: number, peak: number): void {
  if (min < into.min) into.min = min;
  if (max > into.max || (max === into.max && peak < into.peak)) {
    into.max = max;
    into.peak = peak;
  }
}

/**
 * The map side: quantised values of one record, accumulated per key.
 *
 * Sums are plain numbers here, exact while they stay safe integers (< 2^53). `add` refuses a value that
 * could take a sum past that bound (`fits`), and the mapper then emits the key's row and starts it afresh:
 * partial rows are always correct because the combiner and reducer merge them (with BigInt).
 */
export class MapAggregate {
  n = 0;
  readonly sums = [0, 0, 0];
  readonly ext: Extremes[];

  constructor(
    readonly service: string,
    readonly bucket: number,
    values: readonly number[],
    ts: number,
  ) {
    this.ext = values.map((u) => extremes(u, ts));
    this.add(values, ts);
  }

  fits(values: readonly number[]): boolean {
    for (let i = 0; i < 3; i++) if (!Number.isSafeInteger(this.sums[i] + values[i])) return false;
    return this.n < Number.MAX_SAFE_INTEGER;
  }

  add(values: readonly number[], ts: number): void {
    this.n++;
    for (let i = 0; i < 3; i++) {
      this.sums[i] += values[i];
      mergeExtremes(this.ext[i], values[i], values[i], ts);
    }
  }

  row(): string {
    let out = `${JSON.stringify(this.service)}\t${this.bucket}\t${this.n}`;
    for (let i = 0; i < 3; i++) {
      const e = this.ext[i];
      out += `\t${this.sums[i]}\t${e.min}\t${e.max}\t${e.peak}`;
    }
    return out;
  }
}

/**
 * The merge side (combiner and reducer): rows with one key merged. Counts and sums are BigInt, so a total
 * is exact whatever the number of rows merged (a day of a busy service can pass 2^53 micro-units);
 * min/max/peak are single observed values (quantised percentages, microsecond times) and stay numbers.
 */
export class MergeAggregate {
  private n: bigint;
  private readonly sums: bigint[];
  private readonly ext: Extremes[];

  constructor(
    readonly key: string,
    fields: readonly string[],
  ) {
    this.n = BigInt(fields[2]);
    this.sums = [BigInt(fields[3]), BigInt(fields[7]), BigInt(fields[11])];
    this.ext = [0, 1, 2].map((i) => ({ min: num(fields[4 + 4 * i]), max: num(fields[5 + 4 * i]), peak: num(fields[6 + 4 * i]) }));
  }

  merge(fields: readonly string[]): void {
    this.n += BigInt(fields[2]);
    for (let i = 0; i < 3; i++) {
      const at = 3 + 4 * i;
      this.sums[i] += BigInt(fields[at]);
      mergeExtremes(this.ext[i], num(fields[at + 1]), num(fields[at + 2]), num(fields[at + 3]));
    }
  }

  row(): string {
    let out = `${this.key}\t${this.n}`;
    for (let i = 0; i < 3; i++) {
      const e = this.ext[i];
      out += `\t${this.sums[i]}\t${e.min}\t${e.max}\t${e.peak}`;
    }
    return out;
  }
}

/** A decimal integer field that must be exact as a number. */
function num(s: string): number {
  const v = Number(s);
  if (!Number.isSafeInteger(v)) throw new JobInputError(`not an exact integer: ${JSON.stringify(s)}`);
  return v;
}

/** Splits a row into its fields and its key (service and bucket); throws on a malformed row. */
export function parseRow(line: string): { key: string; fields: string[] } {
  const fields = line.split('\t');
  if (fields.length !== ROW_FIELDS) throw new JobInputError(`expected ${ROW_FIELDS} tab-separated fields, got ${fields.length}: ${excerpt(line)}`);
  return { key: `${fields[0]}\t${fields[1]}`, fields };
}

export const excerpt = (line: string): string => JSON.stringify(line.length > 200 ? `${line.slice(0, 200)}...` : line);
