import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { createHttpServer } from '../graphql/server.js';
import type { HmsApi, Pipeline } from './api.js';
import type { Config } from './config/settings.js';
import { IngestCounters } from './ingest/counters.js';
import { UdpServer } from './ingest/udp-server.js';
import type { Logger } from './log.js';
import { Scheduler } from './scheduler/scheduler.js';
import { fanOut } from './ingest/fan-out.js';
import { prepareDataDir } from './storage/data-dir.js';
import { Quarantine } from './storage/quarantine.js';
import { SegmentLog } from './storage/segment-log.js';
import { Shipper } from './storage/shipper.js';
import { BatchLayer } from './views/batch-layer.js';
import { Database, readMeta, writeMeta } from './views/database.js';
import { LiveState } from './views/live-state.js';
import { HealthService } from './health/health-service.js';
import { loadRulesFile, parseRulesConfig } from './health/rules.js';
import { QueryService } from './views/query-service.js';
import type { SpeedLayer } from './views/speed-duckdb.js';
import { implementations } from './implementations.js';

export interface App {
  start(): Promise<{ udpPort: number; httpPort: number }>;
  /** The one shutdown path; later calls return the same promise. */
  stop(): Promise<void>;
  readonly api: HmsApi;
}

export function buildApp(config: Config, log: Logger): App {
  // Parsed first: a bad rule stops the daemon before it opens anything.
  const rules = config.rules ? loadRulesFile(config.rules) : parseRulesConfig(config.rulesInline);
  const counters = new IngestCounters();
  const scheduler = new Scheduler(log.child({ module: 'scheduler' }));
  const impl = implementations(config, log.child({ module: 'store' }));
  const store = impl.store;
  const startedAt = Date.now() * 1000;
  let ready = false;
  let stopping: Promise<void> | undefined;
  let db: Database;
  let segments: SegmentLog;
  let shipper: Shipper;
  let speed: SpeedLayer;
  let batch: BatchLayer;
  let live: LiveState;
  let health: HealthService;
  let query: QueryService;
  let udp: UdpServer;
  let quarantine: Quarantine;
  let meta: DuckDBConnection | undefined;

  const pipeline = async (): Promise<Pipeline> => {
    const lastBatch = await query.snapshot((conn) => batch.lastRun(conn));
    const nowMs = Date.now();
    const disk = segments.status();
    return {
      received: counters.received,
      accepted: counters.accepted,
      rejected: counters.rejected,
      late: counters.late,
      kernelDrops: udp.kernelDrops(),
      rejectedBy: Object.entries(counters.rejectedBy).map(([reason, count]) => ({ reason, count })),
      compat: Object.entries(counters.compat).map(([reason, count]) => ({ reason, count })),
      rejectedSample: counters.rejectedSample(),
      recvBufferBytes: udp.recvBufferBytes,
      watermark: batch.watermark,
      lastBatch,
      backlogSegments: shipper.backlog,
      storage: store.kind,
      batchEngine: config.batchEngine,
      speedEngine: speed.engine,
      messagesPerSecond: counters.rate(nowMs),
      startedAt,
      jobs: scheduler.status(),
      unflushed: disk.unflushed,
      unflushedBytes: Math.max(disk.unflushedBytes, speed.pendingBytes),
      storageError: disk.error,
      storageErrorSince: disk.errorSince === null ? null : disk.errorSince * 1000,
      quarantinedLines: quarantine.lines,
    };
  };

  const api: HmsApi = {
    services: async () => health.services(),
    stats: (from, to, service) => query.stats(from, to, service),
    series: (service, from, to, step) => query.series(service, from, to, step),
    history: (from, to, services) => query.history(from, to, services),
    pipeline,
    runBatch: (opts) => batch.run(opts),
    alerts: (filter) => health.alerts(filter),
    silences: () => health.silences(),
    silence: (input) => health.silence(input),
    unsilence: (id) => health.unsilence(id),
    subscribeAlerts: (listener) => health.subscribe(listener),
    readiness: () => {
      if (!ready) return { ready: false, reason: 'starting or shutting down' };
      const { error } = segments.status();
      // Accepted messages cannot be made durable: a load balancer should send health elsewhere.
      if (error) return { ready: false, reason: `the write-ahead segments cannot be written (${error}); accepted messages wait in memory` };
      return { ready: true };
    },
  };

  const http = createHttpServer(api, { host: config.host, port: config.httpPort, log: log.child({ module: 'http' }) });

  async function start() {
    const dataDir = await prepareDataDir(config.dataDir);
    db = await Database.open(join(dataDir, 'hms.duckdb'));
    meta = await db.connect();
    const metaConn = meta;
    quarantine = new Quarantine(
      log.child({ module: 'quarantine' }),
      (total) => writeMeta(metaConn, 'quarantined_lines', total),
      (await readMeta(metaConn, 'quarantined_lines')) ?? 0,
    );
    const masterFiles = await store.list().catch((err: Error) => {
      throw new Error(`cannot list the master dataset at ${store.location} (--storage / --hdfs-url): ${err.message}`);
    });
    const storeMax = masterFiles.reduce((m, f) => Math.max(m, f.segment), 0);
    segments = new SegmentLog(
      {
        dir: join(dataDir, 'segments'),
        quarantineDir: join(dataDir, 'quarantine'),
        quarantine,
        maxUnflushedBytes: config.maxUnflushed,
        flushIntervalMs: config.flushInterval / 1000,
        maxBytes: config.segmentMaxBytes,
        maxAgeMs: config.segmentMaxAge / 1000,
        minNextId: storeMax + 1,
      },
      log,
    );
    const recovered = await segments.start();
    // Shipping goes in id order, so everything below the oldest local segment is already in the store.
    shipper = new Shipper(segments, store, log, (recovered[0]?.id ?? segments.currentId) - 1);
    const sealAndShip = async () => {
      await segments.seal();
      const r = await shipper.ship();
      if (r.error) throw new Error(`cannot ship segments to the master dataset: ${r.error}`);
      return shipper.shippedUpTo;
    };
    speed = await impl.createSpeedLayer(db, { sealAndShip, localFiles: () => segments.localFiles(), quarantine });
    live = await LiveState.load(db);
    health = await HealthService.create(
      db,
      {
        rules,
        webhook: config.webhookUrl
          ? { url: config.webhookUrl, groupWaitUs: config.webhookGroupWait, repeatIntervalUs: config.webhookRepeatInterval }
          : null,
        historyRetentionUs: config.alertRetention,
      },
      log.child({ module: 'health' }),
    );
    query = await QueryService.create(db);
    batch = new BatchLayer({
      db,
      store,
      engine: impl.createBatchEngine((map, reduce) => batch.progress(map, reduce)),
      speed,
      allowedLatenessUs: config.allowedLateness,
      quarantine,
      log: log.child({ module: 'batch' }),
      sealAndShip,
    });
    const state = await batch.start();

    // Realtime views: every row the batch views have not absorbed, from the store and local segments.
    const t0 = Date.now();
    const rebuilt = await speed.rebuild(state.watermark, state.segment);
    log.info({ messages: rebuilt, ms: Date.now() - t0, engine: speed.engine }, 'realtime views rebuilt');

    udp = new UdpServer(
      {
        host: config.host,
        port: config.udpPort,
        recvBufferBytes: config.recvBuffer,
        decode: { maxBytes: config.maxDatagramBytes, maxFutureUs: config.maxFutureSkew, minTimestampUs: config.minTimestamp, compat: config.compat },
      },
      counters,
      fanOut({
        segments,
        speed,
        maxUnflushedBytes: config.maxUnflushed,
        watermark: () => batch.watermark,
        onLate: () => counters.late++,
        live,
        health,
      }),
      log,
    );
    const udpPort = await udp.start();

    scheduler.add('ship', config.shipSchedule, async () => {
      const r = await shipper.ship();
      if (r.error) throw new Error(r.error);
    });
    scheduler.add('batch', config.batchSchedule, async () => {
      const run = await batch.run();
      if (run.status === 'FAILED') throw new Error(run.error ?? 'batch run failed');
    });
    scheduler.add('speed', config.speedSchedule, async () => {
      await speed.tick();
      await live.save();
    });
    scheduler.add('health', config.healthSchedule, () => health.tick());
    const { port: httpPort } = await http.start();
    ready = true;
    log.info({ udpPort, httpPort, dataDir, storage: store.kind }, 'daemon ready');
    return { udpPort, httpPort };
  }

  async function shutdown() {
    ready = false;
    await udp?.close();
    await scheduler.stop();
    await http.stop();
    await health?.close();
    await batch?.close();
    await segments?.close();
    await live?.save().catch(() => undefined);
    await speed?.close();
    await query?.close();
    live?.close();
    await store.release();
    meta?.closeSync();
    db?.close();
    log.info('daemon stopped');
  }

  return {
    api,
    start,
    stop: () => {
      stopping ??= shutdown();
      return stopping;
    },
  };
}
