/**
 * The real layers wired in process with the Spark speed engine (the Spark twin of pipeline.ts), a shared
 * Spark driver per test file (start-up is the expensive part), and the one test that stands for a Spark
 * suite that cannot run here.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestFn } from 'ava';
import { pino } from 'pino';
import type { HealthMessage } from '../../src/ingest/message.js';
import { LocalStore } from '../../src/storage/local-store.js';
import { encodeLine, SegmentLog } from '../../src/storage/segment-log.js';
import { Shipper } from '../../src/storage/shipper.js';
import type { MasterStore } from '../../src/storage/store.js';
import { DuckDBBatchEngine } from '../../src/views/batch-duckdb.js';
import { BatchLayer } from '../../src/views/batch-layer.js';
import { Database } from '../../src/views/database.js';
import { QueryService } from '../../src/views/query-service.js';
import { prepareSparkRuntime, SparkDriver, type SparkRuntime } from '../../src/views/spark-driver.js';
import { localSparkIo, type SparkIo } from '../../src/views/spark-io.js';
import { SparkSpeedLayer } from '../../src/views/speed-spark.js';

export type SparkAvailability = { ok: true; runtime: SparkRuntime } | { ok: false; why: string };

let availability: Promise<SparkAvailability> | undefined;

/** Java, the cached jars (fetched with Maven when missing) and the compiled driver; asked once per process. */
export function sparkAvailable(): Promise<SparkAvailability> {
  availability ??= prepareSparkRuntime({ fetch: true }).then(
    (runtime): SparkAvailability => ({ ok: true, runtime }),
    (err: Error): SparkAvailability => ({ ok: false, why: err.message }),
  );
  return availability;
}

/** Fails in CI (where Spark is required) and elsewhere passes with the reason in the log: never a silent skip. */
export function registerSparkUnavailable(test: TestFn, suite: string, why: string): void {
  test(`${suite}: needs Java and the Spark jars`, (t) => {
    if (process.env.CI) t.fail(`Spark required in CI: ${why}`);
    else {
      t.log(`${suite} skipped: ${why}`);
      t.pass();
    }
  });
}

/** One local[2] driver for a whole test file. */
export function sharedDriver(runtime: SparkRuntime, conf: Record<string, string> = {}): SparkDriver {
  return new SparkDriver({ runtime, master: 'local[2]', heap: '768m', conf, startTimeoutMs: 240_000 });
}

export interface SparkPipelineOptions {
  driver: SparkDriver;
  dir?: string;
  /** The master store and how Spark reaches it; default a LocalStore under `root` read over file://. */
  storage?: (root: string) => Promise<{ store: MasterStore; io: SparkIo }>;
}

export async function buildSparkPipeline(opts: SparkPipelineOptions) {
  const root = opts.dir ?? (await mkdtemp(join(tmpdir(), 'hms-spark-')));
  const log = pino({ level: 'silent' });
  const clock = { now: Date.UTC(2026, 10, 27, 12, 0, 0) * 1000 };
  const db = await Database.open(join(root, 'hms.duckdb'));
  const { store, io } = opts.storage
    ? await opts.storage(root)
    : { store: new LocalStore(join(root, 'master')), io: localSparkIo(join(root, 'master'), join(root, 'spark-out')) };
  const segments = new SegmentLog({ dir: join(root, 'segments'), flushIntervalMs: 60_000, maxBytes: 1 << 30, maxAgeMs: 3_600_000, minNextId: 1 }, log);
  await segments.start();
  const shipper = new Shipper(segments, store, log, segments.currentId - 1);
  const sealAndShip = async () => {
    await segments.seal();
    const r = await shipper.ship();
    if (r.error) throw new Error(r.error);
    return shipper.shippedUpTo;
  };
  const speed = await SparkSpeedLayer.create({ db, store, io, driver: opts.driver, ownsDriver: false, sealAndShip, dir: join(root, 'speed'), warmUp: false, log });
  const query = await QueryService.create(db);
  const batch = new BatchLayer({ db, store, engine: new DuckDBBatchEngine(store), speed, allowedLatenessUs: 60_000_000, now: () => clock.now, log, sealAndShip });
  await batch.start();
  return {
    root,
    clock,
    db,
    store,
    segments,
    shipper,
    speed,
    query,
    batch,
    ingest(msgs: HealthMessage[]) {
      for (const m of msgs) {
        const line = encodeLine(m, clock.now);
        speed.push(line, segments.append(line));
      }
    },
    async close() {
      await segments.close();
      await batch.close();
      await speed.close();
      await query.close();
      db.close();
      await store.release();
      if (!opts.dir) await rm(root, { recursive: true, force: true });
    },
  };
}

export type SparkPipeline = Awaited<ReturnType<typeof buildSparkPipeline>>;

/** Every row of a table, as text, in a fixed order: engines must agree exactly (the views are integers). */
export async function dumpTable(db: Database, table: string): Promise<string[]> {
  const conn = await db.connect();
  try {
    const rows = (await conn.runAndReadAll(`SELECT * FROM ${table} ORDER BY ALL`)).getRows();
    return rows.map((r) => r.map(String).join(','));
  } finally {
    conn.closeSync();
  }
}
