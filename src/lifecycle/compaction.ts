import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { INVALID_RECORD, RECORD_FIELDS } from '../../jobs/mapreduce/task/record.mjs';
import type { AbsorbedState } from '../core/absorbed.js';
import { compactedName, VALID_RECORD } from '../core/master-record.js';
import { MICROS_PER_HOUR } from '../core/time.js';
import type { Logger } from '../log.js';
import { recordSource } from '../serving/view-sql.js';
import { type Quarantine, scrubMasterFiles, withScrub } from '../storage/quarantine.js';
import { byPartition, type MasterFile, type MasterStore } from '../storage/store.js';

/**
 * Compaction (Druid's per-time-chunk compaction, Prometheus's block compaction): the sealed master files of each
 * closed hour become one Parquet file (zstd, sorted by service and time), with a `seg` column that keeps each
 * record's segment. The dataset keeps the same records in fewer, smaller files (about 14 bytes a message
 * against 150 as JSON lines), which DuckDB and Spark read natively and the MapReduce job through its input
 * format (jobs/mapreduce/MasterInputFormat.java).
 *
 * An hour is closed once the batch views have absorbed it: it is below W, and only files of segments the
 * batch has read are merged (a late file of a newer segment waits for the next run). The swap: the compacted
 * file is written under a temporary name and renamed in (`put`); from then on it overshadows the files it
 * merged (store.ts `visibility`), which are removed after it. A crash at any point leaves either the old files
 * or the new one visible, never both and never half of one; overshadowed leftovers go at the next run.
 * The caller holds the batch layer's lock: no engine reads the files being swapped.
 */

export interface CompactionDeps {
  conn: DuckDBConnection;
  store: MasterStore;
  absorbed: AbsorbedState;
  quarantine: Quarantine;
  /** A local directory for the Parquet files before they go to the store. */
  dir: string;
  log: Logger;
}

export interface CompactionResult {
  /** Hour partitions compacted by this run. */
  partitions: number;
  /** Files merged, and the bytes they took. */
  filesBefore: number;
  bytesBefore: number;
  /** Bytes of the compacted files written. */
  bytesAfter: number;
  records: number;
  /** Overshadowed files an interrupted earlier run left behind, removed now. */
  leftovers: number;
}

/** Columns of a compacted file: the record's fields and its segment. */
const COMPACTED_COLUMNS = [...RECORD_FIELDS.map(([name]) => name), 'seg'].join(', ');

/** Partitions of closed, absorbed hours that are not a single compacted file yet, oldest first, with their files. */
export function compactable(files: MasterFile[], absorbed: AbsorbedState): MasterFile[][] {
  const w = absorbed.watermark ?? Number.NEGATIVE_INFINITY;
  const read = absorbed.segment ?? -1;
  const held = files.filter((f) => f.hour + MICROS_PER_HOUR <= w && f.segment <= read);
  return byPartition(held).filter((fs) => fs.length > 1 || fs[0].format !== 'parquet');
}

export async function compact(deps: CompactionDeps, onProgress?: (done: number, of: number) => void): Promise<CompactionResult> {
  const { store, log } = deps;
  const leftovers = await store.list({ overshadowed: true });
  if (leftovers.length > 0) {
    await store.remove(leftovers);
    log.info({ files: leftovers.length }, 'compaction: removed files an interrupted run had already merged');
  }
  const partitions = compactable(await store.list(), deps.absorbed);
  const result: CompactionResult = { partitions: 0, filesBefore: 0, bytesBefore: 0, bytesAfter: 0, records: 0, leftovers: leftovers.length };
  await mkdir(deps.dir, { recursive: true });
  for (const files of partitions) {
    const { bytes, records } = await compactPartition(deps, files);
    result.partitions++;
    result.filesBefore += files.length;
    result.bytesBefore += files.reduce((n, f) => n + f.bytes, 0);
    result.bytesAfter += bytes;
    result.records += records;
    onProgress?.(result.partitions, partitions.length);
  }
  if (result.partitions > 0) log.info(result, 'compaction done');
  return result;
}

async function compactPartition(deps: CompactionDeps, files: MasterFile[]): Promise<{ bytes: number; records: number }> {
  const { store, conn } = deps;
  const partition = files[0].partition;
  const name = compactedName(Math.min(...files.map((f) => f.first)), Math.max(...files.map((f) => f.segment)));
  const tmp = join(deps.dir, `${randomUUID()}.parquet`);
  try {
    // A record that fails the check fails the COPY, naming its file: the files are scrubbed and it runs again.
    const records = await withScrub(
      async () => {
        const staged = await store.stage(files);
        try {
          const source = recordSource(staged.paths);
          const rows = await conn.runAndReadAll(
            `COPY (SELECT ${COMPACTED_COLUMNS} FROM ${source.sql}
               WHERE CASE WHEN ${VALID_RECORD} THEN TRUE ELSE error('${INVALID_RECORD} in ' || filename) END
               ORDER BY service, ts, seg)
             TO '${tmp.replaceAll("'", "''")}' (FORMAT parquet, COMPRESSION zstd)`,
            source.params,
            source.types,
          );
          return Number(rows.getRows()[0]?.[0] ?? 0);
        } finally {
          await staged.release();
        }
      },
      () => scrubMasterFiles(store, files, deps.quarantine),
      deps.log,
    );
    const data = await readFile(tmp);
    await store.put(partition, name, data);
    // From here the compacted file overshadows the ones it merged: removing them is tidying, not the swap.
    await store.remove(files);
    deps.log.debug({ partition, file: name, files: files.length, records, bytes: data.length }, 'compacted a partition');
    return { bytes: data.length, records };
  } finally {
    await rm(tmp, { force: true });
  }
}
