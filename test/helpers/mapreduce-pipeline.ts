/**
 * The real layers wired in process as in test/helpers/pipeline.ts, with a store of the test's choice (local
 * or HDFS) and the batch engine switchable between runs, so one master dataset and one watermark serve
 * both engines.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { pino } from 'pino';
import type { HealthMessage } from '../../src/ingest/message.js';
import { LocalStore } from '../../src/storage/local-store.js';
import { encodeLine, SegmentLog } from '../../src/storage/segment-log.js';
import { Shipper } from '../../src/storage/shipper.js';
import type { MasterFile, MasterStore } from '../../src/storage/store.js';
import { DuckDBBatchEngine } from '../../src/views/batch-duckdb.js';
import type { BatchEngine } from '../../src/views/batch-engine.js';
import { BatchLayer } from '../../src/views/batch-layer.js';
import { Database } from '../../src/views/database.js';
import { QueryService } from '../../src/views/query-service.js';
import { DuckDBSpeedLayer } from '../../src/views/speed-duckdb.js';
import { AGG_COLUMN_DDL } from '../../src/views/view-sql.js';

/** A batch engine that delegates to whichever engine the test chose for the next run. */
export class SwitchEngine implements BatchEngine {
  constructor(public current: BatchEngine) {}

  get name(): string {
    return this.current.name;
  }

  computeMinutes(conn: DuckDBConnection, files: MasterFile[], watermark: number): Promise<void> {
    return this.current.computeMinutes(conn, files, watermark);
  }

  async release(): Promise<void> {}
}

export interface MrPipelineOptions {
  /** The master dataset store. @default a LocalStore under the pipeline's dir */
  store?: (local: LocalStore) => MasterStore;
  dir?: string;
}

export async function buildMrPipeline(opts: MrPipelineOptions = {}) {
  const root = opts.dir ?? (await mkdtemp(join(tmpdir(), 'hms-mr-views-')));
  const ownsRoot = opts.dir === undefined;
  const log = pino({ level: 'silent' });
  const clock = { now: Date.UTC(2026, 10, 27, 12, 0, 0) * 1000 };
  const db = await Database.open(join(root, 'hms.duckdb'));
  const local = new LocalStore(join(root, 'master'));
  const store = opts.store ? opts.store(local) : local;
  const segments = new SegmentLog({ dir: join(root, 'segments'), flushIntervalMs: 60_000, maxBytes: 1 << 30, maxAgeMs: 3_600_000, minNextId: 1 }, log);
  await segments.start();
  const shipper = new Shipper(segments, store, log, segments.currentId - 1);
  const speed = await DuckDBSpeedLayer.create(db, join(root, 'speed'), { store, localFiles: () => segments.localFiles() });
  const query = await QueryService.create(db);
  const duckdb = new DuckDBBatchEngine(store);
  const engine = new SwitchEngine(duckdb);
  const batch = new BatchLayer({
    db,
    store,
    engine,
    speed,
    allowedLatenessUs: 60_000_000,
    now: () => clock.now,
    log,
    sealAndShip: async () => {
      await segments.seal();
      const r = await shipper.ship();
      if (r.error) throw new Error(r.error);
      return shipper.shippedUpTo;
    },
  });
  await batch.start();
  return {
    root,
    localMaster: join(root, 'master'),
    clock,
    db,
    store,
    segments,
    speed,
    query,
    batch,
    engine,
    duckdb,
    ingest(msgs: HealthMessage[]) {
      for (const m of msgs) {
        const line = encodeLine(m, clock.now);
        speed.push(line, segments.append(line));
      }
    },
    /** Seals and ships what was ingested (without a batch run). */
    async ship() {
      await segments.seal();
      const r = await shipper.ship();
      if (r.error) throw new Error(r.error);
    },
    /** Sorted rows of a table, as text. */
    async dump(table: string): Promise<string[]> {
      const conn = await db.connect();
      try {
        return (await conn.runAndReadAll(`SELECT * FROM ${table} ORDER BY ALL`)).getRows().map((r) => r.map(String).join(','));
      } finally {
        conn.closeSync();
      }
    },
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
    async close() {
      await segments.close();
      await batch.close();
      await speed.close();
      await query.close();
      db.close();
      if (ownsRoot) await rm(root, { recursive: true, force: true });
    },
  };
}

export type MrPipeline = Awaited<ReturnType<typeof buildMrPipeline>>;
