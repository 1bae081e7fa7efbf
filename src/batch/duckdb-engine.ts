import type { DuckDBConnection } from '@duckdb/node-api';
import { byPartition, type MasterFile, type MasterStore } from '../storage/store.js';
import type { BatchEngine } from './engine.js';
import { minuteAggregate, recordSource } from '../serving/view-sql.js';

/** Bytes a message takes in a master file of each form (JSON lines as shipped, compacted Parquet), about. */
const BYTES_A_MESSAGE = { jsonl: 150, parquet: 13 } as const;

/**
 * Messages one statement aggregates at most, about. DuckDB's aggregation holds a state per (service, minute):
 * over a month of a fleet those are millions, past any --memory-limit a monitor should have. A minute lies in
 * one hour partition, so the hours can be aggregated a chunk at a time with the same result.
 */
const CHUNK_MESSAGES = 1_500_000;

/** The files in chunks of whole hour partitions of about `CHUNK_MESSAGES` messages each, oldest first. */
export function chunksOfHours(files: MasterFile[], maxMessages = CHUNK_MESSAGES): MasterFile[][] {
  const chunks: MasterFile[][] = [];
  let chunk: MasterFile[] = [];
  let messages = 0;
  for (const inHour of byPartition(files)) {
    const estimate = inHour.reduce((n, f) => n + f.bytes / BYTES_A_MESSAGE[f.format], 0);
    if (chunk.length > 0 && messages + estimate > maxMessages) {
      chunks.push(chunk);
      chunk = [];
      messages = 0;
    }
    chunk.push(...inHour);
    messages += estimate;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/** Batch engine `duckdb`: SQL over the master dataset files of both forms (staged locally by the store). */
export class DuckDBBatchEngine implements BatchEngine {
  readonly name = 'duckdb';

  constructor(
    private readonly store: MasterStore,
    /** Messages one statement aggregates at most, about. @default 1,500,000 */
    private readonly chunkMessages = CHUNK_MESSAGES,
  ) {}

  async computeMinutes(conn: DuckDBConnection, files: MasterFile[], watermark: number): Promise<void> {
    for (const chunk of chunksOfHours(files, this.chunkMessages)) {
      const staged = await this.store.stage(chunk);
      try {
        const source = recordSource(staged.paths);
        await conn.run(`INSERT INTO stage_minute ${minuteAggregate(source.sql, [], 'ts < $w')}`, { ...source.params, w: BigInt(watermark) }, source.types);
      } finally {
        await staged.release();
      }
    }
  }

  async release(): Promise<void> {}
}
