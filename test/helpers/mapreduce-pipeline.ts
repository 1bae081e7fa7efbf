/**
 * The pipeline of test/helpers/pipeline.ts with a store of the test's choice (local or HDFS) and the batch
 * engine switchable between runs, so one master dataset and one watermark serve both engines.
 */
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import type { BatchRun } from '../../src/api.js';
import type { DuckDBConnection } from '@duckdb/node-api';
import { LocalStore } from '../../src/storage/local-store.js';
import type { MasterFile, MasterStore } from '../../src/storage/store.js';
import { DuckDBBatchEngine } from '../../src/batch/duckdb-engine.js';
import type { BatchEngine } from '../../src/batch/engine.js';
import { AGG_COLUMN_DDL } from '../../src/serving/view-sql.js';
import { buildPipeline } from './pipeline.js';

/**
 * A batch engine that delegates to whichever engine the test chose for the next run, and keeps every progress
 * report ("map/reduce" percent) the engines gave the batch layer.
 */
export class SwitchEngine implements BatchEngine {
  readonly progress: string[] = [];

  constructor(public current: BatchEngine) {}

  get name(): string {
    return this.current.name;
  }

  computeMinutes(conn: DuckDBConnection, files: MasterFile[], watermark: number, progress?: (mapPct: number, reducePct: number) => void): Promise<void> {
    return this.current.computeMinutes(conn, files, watermark, (map, reduce) => {
      this.progress.push(`${map}/${reduce}`);
      progress?.(map, reduce);
    });
  }

  async release(): Promise<void> {}
}

export interface MrPipelineOptions {
  /** The master dataset store. @default a LocalStore under the pipeline's dir */
  store?: (local: LocalStore) => MasterStore;
  dir?: string;
}

export async function buildMrPipeline(opts: MrPipelineOptions = {}) {
  let duckdb!: DuckDBBatchEngine;
  let engine!: SwitchEngine;
  const p = await buildPipeline({
    dir: opts.dir,
    store: opts.store ? (root) => opts.store!(new LocalStore(join(root, 'master'))) : undefined,
    engine: (store) => {
      duckdb = new DuckDBBatchEngine(store);
      engine = new SwitchEngine(duckdb);
      return engine;
    },
  });
  const db = p.db;
  return {
    ...p,
    localMaster: join(p.root, 'master'),
    engine,
    duckdb,
    /** `stage_minute` as one engine fills it for these files and watermark (outside any batch run). */
    async stageMinutes(e: BatchEngine, files: MasterFile[], watermark: number): Promise<string[]> {
      const conn = await db.connect();
      try {
        await conn.run(`CREATE OR REPLACE TEMP TABLE stage_minute (service VARCHAR, bucket BIGINT, ${AGG_COLUMN_DDL})`);
        await e.computeMinutes(conn, files, watermark);
        return (await conn.runAndReadAll('SELECT * FROM stage_minute ORDER BY ALL')).getRows().map((r) => r.map(String).join(','));
      } finally {
        conn.closeSync();
      }
    },
    /** A full run on the duckdb engine gives `views` again, with the watermark and record count of `run`. */
    async duckdbAgrees(t: ExecutionContext, run: BatchRun, views: Awaited<ReturnType<typeof p.batchViews>>): Promise<void> {
      engine.current = duckdb;
      const duck = await p.batch.run({ full: true });
      t.is(duck.status, 'SUCCEEDED', duck.error ?? '');
      t.is(duck.watermark, run.watermark);
      t.is(duck.records, run.records);
      t.deepEqual(await p.batchViews(), views);
    },
  };
}

export type MrPipeline = Awaited<ReturnType<typeof buildMrPipeline>>;
