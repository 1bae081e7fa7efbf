import { type DuckDBConnection, LIST, listValue, VARCHAR } from '@duckdb/node-api';
import type { MasterFile, MasterStore } from '../storage/store.js';
import type { BatchEngine } from './engine.js';
import { minuteAggregate, readSegments } from '../serving/view-sql.js';

/** Batch engine `duckdb`: SQL over the master dataset files (staged locally by the store). */
export class DuckDBBatchEngine implements BatchEngine {
  readonly name = 'duckdb';

  constructor(private readonly store: MasterStore) {}

  async computeMinutes(conn: DuckDBConnection, files: MasterFile[], watermark: number): Promise<void> {
    if (files.length === 0) return;
    const staged = await this.store.stage(files);
    try {
      await conn.run(
        `INSERT INTO stage_minute ${minuteAggregate(readSegments(), [], 'ts < $w')}`,
        { files: listValue(staged.paths), w: BigInt(watermark) },
        { files: LIST(VARCHAR) },
      );
    } finally {
      await staged.release();
    }
  }

  async release(): Promise<void> {}
}
