/**
 * The master dataset store: the port every backend (local files, HDFS) implements.
 *
 * Contract:
 * - The dataset is immutable in meaning: a record, once in, stays (until retention takes its whole partition).
 * - A file is `<root>/date=YYYY-MM-DD/hour=HH/seg-<id>.jsonl`: the lines of one write-ahead segment whose
 *   event time falls in that hour; or `compact-<first>-<last>.parquet`: those of several segments, merged by
 *   the compaction (lifecycle/compaction.ts), which overshadows them (`visibility`) until they are removed.
 *   Readers never see a half-written file (write under a temporary name, then rename), and `put` is
 *   idempotent: a file already there with the same length is not written twice.
 * - `put` resolves only when the data is durable in the store; only then may the local segment go.
 * - The one exception to immutability is the scrub (quarantine.ts): `replace` swaps a file for the same
 *   file without its unreadable lines, atomically, after `quarantine` has kept those lines' bytes.
 * - Engines that run elsewhere (Hadoop, Spark) read master files through `uri` and write their output to a
 *   `scratch` area of the same file system; the store is the only thing that knows paths.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { masterName, recordTime } from '../core/master-record.js';

export interface MasterFile {
  /** `date=YYYY-MM-DD/hour=HH` */
  partition: string;
  /** Start of the partition hour, epoch microseconds. */
  hour: number;
  /** Write-ahead segment id the file came from: the last of them for a compacted file. */
  segment: number;
  /** The first segment id it holds: `segment` but for a compacted file. */
  first: number;
  /** JSON lines (a shipped segment's lines) or Parquet (a compacted partition, with a `seg` column). */
  format: 'jsonl' | 'parquet';
  name: string;
  bytes: number;
}

/** The master file `name` of a partition, or undefined when the name is not one (a temporary file, say). */
export function masterFile(partition: string, name: string, bytes: number): MasterFile | undefined {
  const hour = partitionHour(partition);
  const held = masterName(name);
  if (hour === undefined || !held) return undefined;
  return { partition, hour, segment: held.last, first: held.first, format: held.format, name, bytes };
}

/**
 * Files a compacted file of the same partition stands for (Druid's overshadowing): its segment range holds
 * theirs. Between the swap of a compacted file and the removal of what it merged, and after a crash there, both
 * are on disk; readers see each record once because `list` leaves these out.
 */
export function isOvershadowed(f: MasterFile, partitionFiles: MasterFile[]): boolean {
  return partitionFiles.some((c) => c !== f && c.format === 'parquet' && c.first <= f.first && f.segment <= c.segment);
}

/** The files of each partition, oldest partition first. */
export function byPartition(files: MasterFile[]): MasterFile[][] {
  const out = new Map<string, MasterFile[]>();
  for (const f of files) {
    const list = out.get(f.partition);
    if (list) list.push(f);
    else out.set(f.partition, [f]);
  }
  return [...out.values()].sort((a, b) => a[0].hour - b[0].hour);
}

/** Splits a listing into the files readers see and the overshadowed ones (left for the compaction to remove). */
export function visibility(files: MasterFile[]): { visible: MasterFile[]; overshadowed: MasterFile[] } {
  const visible: MasterFile[] = [];
  const overshadowed: MasterFile[] = [];
  for (const list of byPartition(files)) {
    for (const f of list) (list.length > 1 && isOvershadowed(f, list) ? overshadowed : visible).push(f);
  }
  return { visible, overshadowed };
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
  /** Every file in the dataset that readers see; `overshadowed: true` lists the overshadowed ones instead. */
  list(opts?: { overshadowed?: boolean }): Promise<MasterFile[]>;
  /**
   * Removes files, and the partition and date directories they leave empty. Only compaction (files it has
   * overshadowed), retention (whole partitions past it) and the scrub (a compacted file cut short, kept in the
   * quarantine) remove anything, and each holds the batch layer's lock (or runs before anything else, at start).
   */
  remove(files: MasterFile[]): Promise<void>;
  /** Makes files readable by DuckDB as local paths. */
  stage(files: MasterFile[]): Promise<Staged>;
  /** A file's whole content. */
  read(file: MasterFile): Promise<Buffer>;
  /** Replaces a file's content atomically (readers see the old content or the new, never a mix). */
  replace(file: MasterFile, data: Uint8Array): Promise<void>;
  /** Keeps unreadable lines: writes `data` to `name` (a relative path, `master/...`) under the store's quarantine. */
  quarantine(name: string, data: Uint8Array): Promise<void>;
  /** The file system jobs use, as Hadoop names it: `file:///` or `hdfs://namenode:8020`. */
  readonly fsUri: string;
  /** Where a job reads a master file from: a URI on `fsUri`, as Hadoop's `Path` takes it (not percent-encoded). */
  uri(file: MasterFile): string;
  /** A scratch area on the same file system for the output of jobs: `<root>/tmp/<area>/<name>/...`. */
  scratch(area: string): Scratch;
  release(): Promise<void>;
}

/** Directories of job output, one per job (`name`), in one area of the store's file system. */
export interface Scratch {
  /** The directory's URI, for the job to create (it must not exist yet). */
  uri(name: string): string;
  /** The files directly in the directory, with their sizes; none when it does not exist. */
  files(name: string): Promise<{ name: string; bytes: number }[]>;
  open(name: string, file: string): Promise<Readable>;
  /** The file as a local path, where the store is local (no copy is needed then). */
  localPath?(name: string, file: string): string;
  /** Removes the directory and what it holds; a missing one is fine. */
  remove(name: string): Promise<void>;
  /** Removes the whole area (what an earlier process left). */
  clear(): Promise<void>;
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

const HOUR_US = 3_600_000_000;

/**
 * Splits a segment's lines by event-time partition (the `ts` field each line carries). A line without a
 * usable time cannot be placed in any partition: it is returned apart, for the quarantine. Consecutive lines
 * of one hour, the common case, are kept as one slice of the segment.
 */
export function splitByPartition(data: Buffer): { parts: Map<string, Buffer[]>; unplaced: { offset: number; line: Buffer }[] } {
  const parts = new Map<string, Buffer[]>();
  const unplaced: { offset: number; line: Buffer }[] = [];
  let run: Buffer[] | undefined;
  let runHour = Number.NaN;
  let runStart = 0;
  const endRun = (at: number) => {
    if (run && at > runStart) run.push(data.subarray(runStart, at));
    run = undefined;
    runHour = Number.NaN;
  };
  for (let start = 0; start < data.length; ) {
    const nl = data.indexOf(0x0a, start);
    const end = nl < 0 ? data.length : nl + 1;
    const ts = recordTime(data, start, end);
    if (!Number.isSafeInteger(ts) || nl < 0) {
      endRun(start);
      unplaced.push({ offset: start, line: data.subarray(start, end) });
    } else {
      const hour = Math.floor(ts / HOUR_US);
      if (hour !== runHour) {
        endRun(start);
        const key = partitionOf(ts);
        run = parts.get(key) ?? [];
        parts.set(key, run);
        runHour = hour;
        runStart = start;
      }
    }
    start = end;
  }
  endRun(data.length);
  return { parts, unplaced };
}

/** Local paths of the files of job output `name` that `wanted` picks, downloaded below `localDir` where remote. */
export async function fetchParts(scratch: Scratch, name: string, wanted: (f: { name: string; bytes: number }) => boolean, localDir: string): Promise<string[]> {
  const parts = (await scratch.files(name)).filter(wanted);
  if (scratch.localPath) return parts.map((p) => scratch.localPath!(name, p.name));
  const dir = join(localDir, name);
  await mkdir(dir, { recursive: true });
  const out: string[] = [];
  for (const p of parts) {
    const path = join(dir, p.name);
    await pipeline(await scratch.open(name, p.name), createWriteStream(path));
    out.push(path);
  }
  return out;
}
