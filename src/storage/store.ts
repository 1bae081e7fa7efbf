/**
 * The master dataset store: the port every backend (local files, HDFS) implements.
 *
 * Contract:
 * - The dataset is immutable: files are only ever added, never edited or deleted.
 * - A file is `<root>/date=YYYY-MM-DD/hour=HH/seg-<id>.jsonl`: the lines of one write-ahead segment whose
 *   event time falls in that hour. Readers never see a half-written file (write under a temporary name,
 *   then rename), and `put` is idempotent: a file already there with the same length is not written twice.
 * - `put` resolves only when the data is durable in the store; only then may the local segment go.
 */

import { MICROS_PER_HOUR } from '../ingest/timestamp.js';

export interface MasterFile {
  /** `date=YYYY-MM-DD/hour=HH` */
  partition: string;
  /** Start of the partition hour, epoch microseconds. */
  hour: number;
  /** Write-ahead segment id the file came from. */
  segment: number;
  name: string;
  bytes: number;
}

/** Local copies of master files for an engine to read; `release` frees any temporary copies. */
export interface Staged {
  paths: string[];
  release(): Promise<void>;
}

export interface MasterStore {
  readonly kind: string;
  /** Human-readable location, for logs and the pipeline view. */
  readonly location: string;
  put(partition: string, name: string, data: Uint8Array): Promise<void>;
  /** Every file in the dataset. */
  list(): Promise<MasterFile[]>;
  /** Makes files readable by DuckDB as local paths. */
  stage(files: MasterFile[]): Promise<Staged>;
  release(): Promise<void>;
}

const PARTITION = /^date=(\d{4})-(\d{2})-(\d{2})\/hour=(\d{2})$/;

export function partitionOf(tsUs: number): string {
  const iso = new Date(Math.floor(tsUs / 1000)).toISOString();
  return `date=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}`;
}

export function partitionHour(partition: string): number | undefined {
  const m = PARTITION.exec(partition);
  return m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4]) * 1000 : undefined;
}

/** Splits a segment's lines by event-time partition (the `ts` field each line carries). */
export function splitByPartition(data: Buffer): Map<string, Buffer[]> {
  const parts = new Map<string, Buffer[]>();
  let start = 0;
  while (start < data.length) {
    let end = data.indexOf(0x0a, start);
    if (end < 0) end = data.length - 1;
    const line = data.subarray(start, end + 1);
    const at = line.indexOf('"ts":') + 5;
    const ts = Number(line.subarray(at, line.indexOf(0x2c, at)).toString());
    const key = partitionOf(ts);
    const list = parts.get(key);
    if (list) list.push(line);
    else parts.set(key, [line]);
    start = end + 1;
  }
  return parts;
}

/**
 * Master files holding rows the batch views have not absorbed: a segment newer than `batchSegment`, or an
 * hour that reaches the watermark (hour + 1h > watermark).
 */
export function notAbsorbedFiles(files: MasterFile[], watermark: number | null, batchSegment: number | null): MasterFile[] {
  return files.filter((f) => f.segment > (batchSegment ?? -1) || f.hour + MICROS_PER_HOUR > (watermark ?? 0));
}
