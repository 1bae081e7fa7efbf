import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { fanOut, type Sinks } from '../ingest/fan-out.js';
import type { HealthMessage } from '../core/message.js';
import type { Config } from '../config/settings.js';
import type { Logger } from '../log.js';
import { Quarantine } from '../storage/quarantine.js';
import { SegmentLog } from '../storage/segment-log.js';
import { Shipper } from '../storage/shipper.js';
import type { MasterStore } from '../storage/store.js';
import { Absorbed } from '../core/absorbed.js';
import type { BatchEngine } from '../batch/engine.js';
import { BatchLayer } from '../batch/batch-layer.js';
import { Database, readMeta, reclaimSpace, writeMeta } from '../serving/database.js';
import { QueryService } from '../serving/query-service.js';
import { DEFAULT_RETENTION, Lifecycle } from '../lifecycle/lifecycle.js';
import type { RetentionOptions } from '../lifecycle/retention.js';
import type { SpeedDeps, SpeedLayer } from '../speed/speed-layer.js';

/**
 * The lambda pipeline, built in one place for the daemon, the tests and the benchmarks: the serving database,
 * the write-ahead segments and shipping into the master dataset, the batch layer, the speed layer and the
 * query service, wired the same way whatever store and engines are chosen.
 */

export interface PipelineOptions {
  /** Holds the DuckDB file, the write-ahead segments, the quarantine and the engines' local scratch. */
  dataDir: string;
  store: MasterStore;
  batchEngine: BatchEngine;
  speedEngine(deps: SpeedDeps): Promise<SpeedLayer>;
  segments: { flushIntervalMs: number; maxBytes: number; maxAgeMs: number; maxUnflushedBytes: number };
  allowedLatenessUs: number;
  /** DuckDB's memory and threads (see DatabaseLimits); its spill directory is `<dataDir>/duckdb-tmp`. */
  database?: { memoryBytes?: number; threads?: number };
  /** How long each tier keeps its data (lifecycle/retention.ts). @default DEFAULT_RETENTION */
  retention?: RetentionOptions;
  /** A read of the serving views taking longer fails with QUERY_TIMEOUT, its statement interrupted. @default 10000 */
  queryTimeoutMs?: number;
  /** The batch layer's clock, epoch µs. @default Date.now */
  now?: () => number;
  log: Logger;
}

export interface Pipeline {
  readonly db: Database;
  readonly store: MasterStore;
  readonly segments: SegmentLog;
  readonly shipper: Shipper;
  readonly speed: SpeedLayer;
  readonly batch: BatchLayer;
  readonly query: QueryService;
  readonly absorbed: Absorbed;
  readonly quarantine: Quarantine;
  readonly lifecycle: Lifecycle;
  sealAndShip(): Promise<number>;
  /**
   * The per-message path (see ingest/fan-out.ts), for one message or a worker's batch. `observers` also get
   * every accepted message (the daemon's live state and health rules); `onLate` counts messages older than W.
   */
  sink(opts?: { observers?: { observe(msg: HealthMessage, recvUs: number): void }[]; onLate?: () => void }): Sinks;
  /**
   * Closes what the pipeline opened, the database last: callers close their own users of `db` first. `reclaim`:
   * then gives the disk back what deleted rows left in the DuckDB file, when that is most of it (reclaimSpace).
   */
  close(opts?: { reclaim?: boolean }): Promise<void>;
}

/** The options of the pipeline that come from the daemon's settings (the daemon and `hms import --data-dir`). */
export const pipelineSettings = (c: Config) => ({
  segments: {
    flushIntervalMs: c.flushInterval / 1000,
    maxBytes: c.segmentMaxBytes,
    maxAgeMs: c.segmentMaxAge / 1000,
    maxUnflushedBytes: c.maxUnflushed,
  },
  allowedLatenessUs: c.allowedLateness,
  retention: {
    rawUs: c.retentionRaw,
    minuteUs: c.retentionMinute,
    hourUs: c.retentionHour,
    dayUs: c.retentionDay,
    sizeBytes: c.retentionSize,
  },
  // The rest of --memory-limit is Node's (the ingest path, the health state, GraphQL).
  database: { memoryBytes: c.memoryLimit / 2, threads: c.threads },
  queryTimeoutMs: c.queryTimeout / 1000,
});

/**
 * Opens the pipeline: recovers the segments, then brings the realtime views up to date (reading the segments
 * after their saved progress: see speed-layer.ts).
 */
export async function openPipeline(o: PipelineOptions): Promise<Pipeline> {
  const { store, log } = o;
  const dbPath = join(o.dataDir, 'hms.duckdb');
  const limits = { ...o.database, tempDir: join(o.dataDir, 'duckdb-tmp') };
  const db = await Database.open(dbPath, limits);
  const meta: DuckDBConnection = await db.connect();
  const absorbed = await Absorbed.load(meta);
  const quarantine = new Quarantine(
    log.child({ module: 'quarantine' }),
    (total) => writeMeta(meta, 'quarantined_lines', total),
    (await readMeta(meta, 'quarantined_lines')) ?? 0,
  );
  const masterFiles = await store.list().catch((err: Error) => {
    throw new Error(`cannot list the master dataset at ${store.location} (--storage / --hdfs-url): ${err.message}`);
  });
  const segments = new SegmentLog(
    {
      ...o.segments,
      dir: join(o.dataDir, 'segments'),
      quarantineDir: join(o.dataDir, 'quarantine'),
      quarantine,
      minNextId: masterFiles.reduce((m, f) => Math.max(m, f.segment), 0) + 1,
    },
    log,
  );
  const recovered = await segments.start();
  // Shipping goes in id order, so everything below the oldest local segment is already in the store.
  const shipper = new Shipper(segments, store, log, (recovered[0]?.id ?? segments.currentId) - 1);
  const sealAndShip = async () => {
    await segments.seal();
    const r = await shipper.ship();
    // Coded in its text: whatever the store's cause, a failed ship is the store's failure (core/error-code.ts).
    if (r.error) throw new Error(`STORE_UNAVAILABLE: cannot ship segments to the master dataset: ${r.error.message}`, { cause: r.error });
    return shipper.shippedUpTo;
  };
  const speed = await o.speedEngine({
    db,
    store,
    absorbed,
    quarantine,
    sealAndShip,
    localFiles: () => segments.localFiles(),
    sealedUpTo: () => segments.sealedUpTo,
    scrubLocalFiles: () => segments.scrubSealed(),
    dir: join(o.dataDir, 'speed'),
    log,
  });
  const query = await QueryService.create(db, { timeoutMs: o.queryTimeoutMs });
  const batch = new BatchLayer({
    db,
    store,
    engine: o.batchEngine,
    speed,
    absorbed,
    quarantine,
    sealAndShip,
    allowedLatenessUs: o.allowedLatenessUs,
    now: o.now,
    log: log.child({ module: 'batch' }),
  });
  await batch.start();
  const lifecycle = await Lifecycle.create({
    db,
    store,
    batch,
    absorbed,
    quarantine,
    dir: join(o.dataDir, 'compaction'),
    retention: o.retention ?? DEFAULT_RETENTION,
    now: o.now ?? (() => Date.now() * 1000),
    log,
  });

  // Realtime views: every row the batch views have not absorbed, from what they kept and the segments after it.
  const t0 = Date.now();
  const rebuilt = await speed.rebuild();
  log.info({ messages: rebuilt, ms: Date.now() - t0, engine: speed.engine }, 'realtime views rebuilt');

  return {
    db,
    store,
    segments,
    shipper,
    speed,
    batch,
    query,
    absorbed,
    quarantine,
    lifecycle,
    sealAndShip,
    sink: ({ observers = [], onLate = () => {} } = {}) =>
      fanOut({ segments, speed, maxUnflushedBytes: o.segments.maxUnflushedBytes, watermark: () => absorbed.current().watermark, onLate, observers }),
    async close(opts = {}) {
      await batch.close();
      lifecycle.close();
      await segments.close();
      await speed.close();
      await query.close();
      meta.closeSync();
      await store.release();
      db.close();
      if (!opts.reclaim) return;
      const t0 = Date.now();
      const r = await reclaimSpace(dbPath, limits);
      if (r) log.info({ beforeBytes: r.beforeBytes, afterBytes: r.afterBytes, ms: Date.now() - t0 }, 'gave the disk back the free space of the DuckDB file');
    },
  };
}
