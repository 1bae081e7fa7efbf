import { createHttpServer } from '../../graphql/server.js';
import { type HmsApi, type Pipeline, UserError } from '../api.js';
import { bindHosts, type Config, decodeSettings, ingestWorkerCount, listOf } from '../config/settings.js';
import { HealthService } from '../health/health-service.js';
import { loadRulesFile, parseRulesConfig } from '../health/rules.js';
import { openAccess } from './access.js';
import { chooseBackends } from './backends.js';
import { createMetrics } from './metrics.js';
import { IngestCounters } from '../ingest/counters.js';
import { forEachMessage, IngestWorkers, type WorkerBatch, withoutMessages } from '../ingest/ingest-workers.js';
import { UdpServer } from '../ingest/udp-server.js';
import type { Logger } from '../log.js';
import { type Pipeline as Layers, openPipeline, pipelineSettings } from './pipeline.js';
import type { Sinks } from '../ingest/fan-out.js';
import { Scheduler } from './scheduler.js';
import { prepareDataDir } from '../storage/data-dir.js';
import { LiveState } from '../health/live-state.js';
import { compatModes, MAX_IMPORT_MESSAGES, takeMessages } from '../import/messages.js';
import { COMPAT_MODES } from '../core/message.js';
import { tiersOf } from '../lifecycle/lifecycle.js';

/** How often an ingest worker hands what it accepted to the daemon: well within a flush interval and a tick. */
const WORKER_BATCH_MS = 5;

export interface App {
  start(): Promise<{ udpPort: number; httpPort: number }>;
  /** The one shutdown path; later calls return the same promise. */
  stop(): Promise<void>;
  /** SIGHUP: reads the keys and tokens files again; a file that no longer parses keeps the old ones. */
  reload(): void;
  readonly api: HmsApi;
}

export function buildApp(config: Config, log: Logger): App {
  // Parsed first: a bad rule stops the daemon before it opens anything.
  const rules = config.rules ? loadRulesFile(config.rules) : parseRulesConfig(config.rulesInline);
  const counters = new IngestCounters();
  const scheduler = new Scheduler(log.child({ module: 'scheduler' }));
  const backends = chooseBackends(config, log);
  const startedAt = Date.now() * 1000;
  const hosts = bindHosts(config);
  // Read before anything opens: a bad keys, tokens or certificate file stops the start with an error naming it.
  const access = openAccess(config, log);
  const decodeOptions = decodeSettings(config);
  let ready = false;
  let stopping: Promise<void> | undefined;
  let layers: Layers;
  let live: LiveState;
  let health: HealthService;
  let udp: UdpServer;
  let workers: IngestWorkers | undefined;
  let importSink: Sinks;

  const pipeline = async (): Promise<Pipeline> => {
    const { query, batch, shipper, speed, segments, quarantine, store, lifecycle } = layers;
    const { lastBatch, horizons } = await query.snapshot(async ({ conn, horizons }) => ({ lastBatch: await batch.lastRun(conn), horizons }));
    const nowMs = Date.now();
    const disk = segments.status();
    return {
      received: counters.received,
      accepted: counters.accepted,
      rejected: counters.rejected,
      late: counters.late,
      imported: counters.imported,
      kernelDrops: udp.kernelDrops(),
      rejectedBy: Object.entries(counters.rejectedBy).map(([reason, count]) => ({ reason, count })),
      authMode: config.authMode,
      acceptedSigned: counters.acceptedSigned,
      compat: Object.entries(counters.compat).map(([reason, count]) => ({ reason, count })),
      rejectedSample: counters.rejectedSample(),
      recvBufferBytes: udp.recvBufferBytes,
      recvBufferAdvice: udp.recvBufferAdvice,
      ingestWorkers: [
        { worker: 0, pid: process.pid, received: counters.received - (workers?.receivedByWorkers ?? 0), startedAt },
        ...(workers?.status() ?? []),
      ],
      ingestWorkerRestarts: workers?.restarts ?? 0,
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
      tiers: tiersOf(horizons),
      lastCompaction: lifecycle.lastCompaction,
      lastRetention: lifecycle.lastRetentionRun,
    };
  };

  const api: HmsApi = {
    services: async () => health.services(),
    stats: (from, to, service) => layers.query.stats(from, to, service),
    series: (service, from, to, step) => layers.query.series(service, from, to, step),
    history: (from, to, services) => layers.query.history(from, to, services),
    pipeline,
    runBatch: (opts) => layers.batch.run(opts),
    compact: () => scheduler.runNow('compact'),
    applyRetention: () => scheduler.runNow('retention'),
    forgetService: async (service) => health.forget(service),
    importMessages: async (messages, compat) => {
      if (messages.length > MAX_IMPORT_MESSAGES) throw new UserError('TOO_MANY_MESSAGES', `at most ${MAX_IMPORT_MESSAGES} messages a call (got ${messages.length})`);
      const modes = compatModes(compat, COMPAT_MODES);
      if (typeof modes === 'string') throw new UserError('BAD_COMPAT', modes);
      const r = takeMessages(messages, { ...decodeOptions, compat: modes }, importSink, Date.now() * 1000);
      counters.imported += r.accepted;
      return r;
    },
    alerts: (filter) => health.alerts(filter),
    silences: () => health.silences(),
    silence: (input) => health.silence(input),
    unsilence: (id) => health.unsilence(id),
    subscribeAlerts: (listener) => health.subscribe(listener),
    readiness: () => {
      if (!ready) return { ready: false, reason: 'starting or shutting down' };
      const { error } = layers.segments.status();
      // Accepted messages cannot be made durable: a load balancer should send health elsewhere.
      if (error) return { ready: false, reason: `the write-ahead segments cannot be written (${error}); accepted messages wait in memory` };
      return { ready: true };
    },
  };

  const metrics = createMetrics({ pipeline, services: api.services, subscriptions: () => http.subscriptions(), receivers: () => ({ webhook: health.notifierStats(), alertmanager: health.alertmanagerStats() }) }, { maxServices: config.metricsMaxServices });
  const http = createHttpServer(api, { host: hosts.http, port: config.httpPort, log: log.child({ module: 'http' }), metrics, ...access.http });

  async function start() {
    access.warnAtStart();
    const dataDir = await prepareDataDir(config.dataDir);
    layers = await openPipeline({
      dataDir,
      store: backends.store,
      batchEngine: backends.createBatchEngine(),
      speedEngine: (deps) => backends.createSpeedLayer(deps),
      ...pipelineSettings(config),
      log,
    });
    const { db, shipper, batch, speed, store } = layers;
    live = await LiveState.load(db);
    health = await HealthService.create(
      db,
      {
        rules,
        webhook: config.webhookUrl
          ? { url: config.webhookUrl, groupWaitUs: config.webhookGroupWait, repeatIntervalUs: config.webhookRepeatInterval }
          : null,
        alertmanager: { urls: listOf(config.alertmanagerUrl), resendIntervalUs: config.alertmanagerResendInterval },
        historyRetentionUs: config.alertRetention,
        forgetAfterUs: config.forgetAfter,
      },
      log.child({ module: 'health' }),
    );

    const sinks = layers.sink({ observers: [health], onLate: () => counters.late++ });
    // Imported history: written like datagrams, but no news of a service's health, and not late ingest.
    importSink = layers.sink();
    const decode = decodeOptions;
    udp = new UdpServer(
      {
        host: hosts.udp,
        port: config.udpPort,
        recvBufferBytes: config.recvBuffer,
        decode,
        auth: access.auth,
      },
      counters,
      sinks.one,
      log,
    );
    const udpPort = await udp.start();
    const processes = ingestWorkerCount(config);
    if (processes > 1) {
      workers = new IngestWorkers({
        count: processes - 1,
        socket: udp.handle!,
        init: {
          logLevel: log.level,
          logFormat: config.logFormat,
          decode: { ...decode, compat: [...decode.compat] },
          auth: { mode: config.authMode, keysFile: config.authKeys, windowUs: config.authWindow, maxNonces: config.authReplayCapacity },
          batchMs: WORKER_BATCH_MS,
        },
        onBatch: (b, worker) => takeBatch(b, worker, sinks),
        log,
      });
      await workers.start();
    }

    // Every run of a scheduled job is timed for /metrics (hms_job_duration_seconds{task}).
    const job = (name: string, schedule: string, fn: () => Promise<unknown>) => scheduler.add(name, schedule, metrics.timed(name, fn));
    job('ship', config.shipSchedule, async () => {
      const r = await shipper.ship();
      if (r.error) throw r.error;
    });
    job('batch', config.batchSchedule, async () => {
      const run = await batch.run();
      if (run.status === 'FAILED') throw new Error(run.error ?? 'batch run failed');
    });
    job('speed', config.speedSchedule, async () => {
      await speed.tick();
      await live.save(health.takeLatest());
    });
    job('health', config.healthSchedule, () => health.tick());
    job('compact', config.compactSchedule, () => layers.lifecycle.compact());
    job('retention', config.retentionSchedule, () => layers.lifecycle.applyRetention());
    const { port: httpPort } = await http.start();
    ready = true;
    log.info({ udpPort, httpPort, dataDir, storage: store.kind }, 'daemon ready');
    return { udpPort, httpPort };
  }

  /**
   * An ingest worker's batch: its signed messages' nonces checked once more here (a replay may have reached
   * another process than its original), then kept or refused as a whole, and its counts added.
   */
  function takeBatch(b: WorkerBatch, worker: number, sinks: Sinks): void {
    const { signed, counts } = b;
    let batch = b;
    const drop = new Set<number>();
    const nowUs = Date.now() * 1000;
    let lines: string[] | undefined;
    for (let k = 0; k < signed.index.length; k++) {
      const refused = access.auth.recheck(signed.keyId[k], signed.nonce[k], signed.millis[k], nowUs);
      if (!refused) continue;
      drop.add(signed.index[k]);
      counts.accepted--;
      counts.acceptedSigned--;
      lines ??= b.lines.split('\n');
      counters.reject(refused.reason, refused.detail, Buffer.from(lines[signed.index[k]]), `ingest worker ${worker}`, nowUs);
    }
    if (lines) batch = withoutMessages(b, drop, lines);
    const count = batch.service.length;
    const stored = count === 0 || sinks.batch({ lines: batch.lines, count, each: (fn) => forEachMessage(batch, fn) });
    counters.merge(counts, Date.now(), stored);
  }

  async function shutdown() {
    ready = false;
    // The workers' last batches go into the segments before anything closes.
    await workers?.stop();
    await udp?.close();
    await scheduler.stop();
    await http.stop();
    await health?.close();
    if (health) await live?.save(health.takeLatest()).catch(() => undefined);
    live?.close();
    await layers?.close({ reclaim: true });
    if (!layers) await backends.store.release();
    log.info('daemon stopped');
  }

  return {
    api,
    start,
    reload: () => {
      access.reload();
      workers?.reload();
    },
    stop: () => {
      stopping ??= shutdown();
      return stopping;
    },
  };
}
