import type { DuckDBConnection } from '@duckdb/node-api';
import type { MasterFile } from '../storage/store.js';

/**
 * A batch engine computes minute views from master dataset files. Everything around it (which files,
 * the watermark, rolling minutes up to hours and days, the atomic swap) is the batch layer's and is the
 * same for every engine, so engines can only differ in where the aggregation runs.
 *
 * Contract: fill the temporary table `stage_minute` (created by the caller, columns of `batch_minute`) on
 * `conn` with the minute views of every record in `files` with `ts < watermark`, exactly as
 * `minuteAggregate` in view-sql.ts defines them. Throw on any failure; the caller then changes nothing.
 * An engine that runs a job elsewhere may report its progress (percent of map and reduce) while it runs.
 */
export interface BatchEngine {
  readonly name: string;
  computeMinutes(conn: DuckDBConnection, files: MasterFile[], watermark: number, progress?: (mapPct: number, reducePct: number) => void): Promise<void>;
  release(): Promise<void>;
}
