/**
 * FAKE HmsApi for the GraphQL tests: in memory, no UDP, no DuckDB. Returns fixed but non-trivial data
 * (sub-millisecond timestamps, nulls, nested runs) so tests can assert exact values, records every call
 * with its arguments, and can be told to fail or to report not ready.
 */
import {
  type Alert,
  type BatchRun,
  type Bucket,
  type CompactionRun,
  type HmsApi,
  type ImportResult,
  type Pipeline,
  type RetentionRun,
  type ServiceHealth,
  type ServiceSeries,
  type ServiceStats,
  type Silence,
  type Step,
  UserError,
} from '../../src/api.js';

/** 2026-11-27T10:00:00Z in epoch microseconds. */
export const T0 = Date.UTC(2026, 10, 27, 10, 0, 0) * 1000;
const MINUTE = 60_000_000;

export const SERVICES: ServiceHealth[] = [
  {
    service: 'orders',
    health: 'OK',
    reasons: [],
    lastSeen: T0 + 123, // 10:00:00.000123
    cpu: 42.5,
    ramUsed: 60.9375,
    diskUsed: 58.92578125,
    ramFreeGb: 12.5,
    diskFreeGb: 210.3,
    diskFullAt: null,
    ramFullAt: null,
  },
  {
    service: 'payments',
    health: 'CRIT',
    reasons: ['cpu 97.1% > 95% for 2m', 'disk full in ~3h'],
    lastSeen: T0 - 5 * MINUTE, // whole second: no fraction expected in the ISO form
    cpu: 97.1,
    ramUsed: 88,
    diskUsed: 99.5,
    ramFreeGb: 1.92,
    diskFreeGb: 0.64,
    diskFullAt: null,
    ramFullAt: null,
  },
];

const resource = (mean: number, min: number, max: number, peakAt: number) => ({ mean, min, max, peakAt });

export const STATS: ServiceStats[] = [
  {
    service: 'orders',
    count: 5_000_000_000, // beyond Int32: why counts are Float
    batchCount: 4_999_999_000,
    realtimeCount: 1000,
    cpu: resource(41.25, 3, 99.75, T0 + 7 * MINUTE + 456_789),
    ram: resource(60, 55.5, 70.25, T0 + 2 * MINUTE),
    disk: resource(58.9, 58.8, 59, T0 + MINUTE),
    coveredFrom: T0 - 60 * MINUTE,
    coveredTo: T0 + 60 * MINUTE,
    resolution: 'HOUR',
  },
];

export const RUN: BatchRun = {
  id: 'run-0042',
  engine: 'duckdb',
  status: 'SUCCEEDED',
  mode: 'INCREMENTAL',
  startedAt: T0 - 90_000_000 + 1,
  finishedAt: T0 - 88_500_000,
  watermark: T0 - 3 * MINUTE,
  records: 123_456,
  partitions: 3,
  error: null,
  errorCode: null,
  mapProgress: null,
  reduceProgress: null,
};

export const PIPELINE: Pipeline = {
  received: 1_000_010,
  accepted: 1_000_000,
  rejected: 10,
  late: 2,
  imported: 0,
  kernelDrops: null,
  rejectedBy: [
    { reason: 'malformed_json', count: 7 },
    { reason: 'range', count: 3 },
  ],
  authMode: 'optional',
  acceptedSigned: 999_000,
  compat: [{ reason: 'seed_mock', count: 12 }],
  rejectedSample: [{ at: T0 + 999, reason: 'range', detail: 'CPU 140 > 100', from: '10.0.0.7:51234', excerpt: '{"CPU":140' }],
  recvBufferBytes: 4_194_304,
  recvBufferAdvice: null,
  ingestWorkers: [],
  ingestWorkerRestarts: 0,
  watermark: T0 - 3 * MINUTE,
  lastBatch: RUN,
  backlogSegments: 4,
  storage: 'local',
  batchEngine: 'duckdb',
  speedEngine: 'duckdb',
  messagesPerSecond: 812.5,
  startedAt: T0 - 3_600_000_000,
  jobs: [
    { name: 'ship', schedule: '*/5 * * * * *', runs: 12, failures: 1, skipped: 0, lastStartedAt: T0 - 5_000_000, lastDurationMs: 3, lastError: 'STORE_UNAVAILABLE: the master dataset store could not be read or written; see the daemon log', lastErrorCode: 'STORE_UNAVAILABLE' },
  ],
  unflushed: 17,
  unflushedBytes: 4096,
  storageError: null,
  storageErrorSince: null,
  quarantinedLines: 0,
  tiers: { rawFrom: null, minuteFrom: T0 - 7 * 1440 * MINUTE, hourFrom: null, dayFrom: null },
  lastCompaction: null,
  lastRetention: null,
};

export const COMPACTION: CompactionRun = {
  startedAt: T0 - 60_000_000,
  finishedAt: T0 - 59_000_000,
  partitions: 3,
  filesBefore: 90,
  bytesBefore: 4_500_000,
  bytesAfter: 420_000,
  records: 30_000,
  leftovers: 0,
};

export const RETENTION: RetentionRun = {
  startedAt: T0 - 60_000_000,
  finishedAt: T0 - 59_500_000,
  partitions: ['date=2026-10-28/hour=11'],
  files: 1,
  bytes: 140_000,
  minuteRows: 1200,
  hourRows: 0,
  dayRows: 0,
  tiers: { rawFrom: T0 - 30 * 1440 * MINUTE, minuteFrom: T0 - 7 * 1440 * MINUTE, hourFrom: null, dayFrom: null },
};

export type Method = 'services' | 'stats' | 'series' | 'history' | 'pipeline' | 'runBatch' | 'compact' | 'applyRetention' | 'forgetService' | 'importMessages';

export class FakeHmsApi implements HmsApi {
  readonly calls: { method: Method; args: unknown[] }[] = [];
  isReady = true;
  /** Thrown by every call to that method while set. */
  readonly failures = new Map<Method, Error>();

  count(method: Method): number {
    return this.calls.filter((c) => c.method === method).length;
  }

  private record(method: Method, ...args: unknown[]): void {
    this.calls.push({ method, args });
    const failure = this.failures.get(method);
    if (failure) throw failure;
  }

  async services(): Promise<ServiceHealth[]> {
    this.record('services');
    return structuredClone(SERVICES);
  }

  async stats(fromUs: number, toUs: number, service?: string): Promise<ServiceStats[]> {
    this.record('stats', fromUs, toUs, service);
    if (service === 'nope') throw new UserError('UNKNOWN_SERVICE', 'no service named "nope"');
    return structuredClone(service ? STATS.filter((s) => s.service === service) : STATS);
  }

  async series(service: string, fromUs: number, toUs: number, step: Step): Promise<Bucket[]> {
    this.record('series', service, fromUs, toUs, step);
    // One bucket per minute of the window, so the answer depends on the arguments.
    const buckets: Bucket[] = [];
    for (let start = fromUs, i = 0; start < toUs; start += MINUTE, i++) {
      const cpu = resource(10 + i, 5 + i, 20 + i, start + 30_000_000);
      buckets.push({ start, resolution: 'MINUTE', count: 60 + i, cpu, ram: cpu, disk: cpu });
    }
    return buckets;
  }
  /** Two services, each with the minute buckets series() gives for it. */
  async history(fromUs: number, toUs: number, services?: string[]): Promise<ServiceSeries[]> {
    this.record('history', fromUs, toUs, services);
    const names = services ?? ['orders', 'payments'];
    return Promise.all(names.map(async (service) => ({ service, buckets: await this.series(service, fromUs, toUs, 'MINUTE') })));
  }


  async pipeline(): Promise<Pipeline> {
    this.record('pipeline');
    // received grows per call, so successive subscription events are distinguishable.
    return { ...structuredClone(PIPELINE), received: PIPELINE.received + this.count('pipeline') - 1 };
  }

  async runBatch(opts: { full?: boolean }): Promise<BatchRun> {
    this.record('runBatch', opts);
    return { ...structuredClone(RUN), mode: opts.full ? 'FULL' : 'INCREMENTAL', partitions: opts.full ? null : 3 };
  }

  async compact(): Promise<CompactionRun> {
    this.record('compact');
    return structuredClone(COMPACTION);
  }

  async applyRetention(): Promise<RetentionRun> {
    this.record('applyRetention');
    return structuredClone(RETENTION);
  }

  async forgetService(service: string): Promise<boolean> {
    this.record('forgetService', service);
    return SERVICES.some((s) => s.service === service);
  }

  /** Accepts what parses as JSON, refuses the rest: enough to see the arguments and the answer travel. */
  async importMessages(messages: string[], compat: string[]): Promise<ImportResult> {
    this.record('importMessages', messages, compat);
    const rejected = messages.flatMap((m, index) => {
      try {
        JSON.parse(m);
        return [];
      } catch {
        return [{ index, reason: 'malformed_json', detail: 'not JSON (fake)' }];
      }
    });
    return { accepted: messages.length - rejected.length, rejected };
  }

  // Alerting is exercised against the real HealthService (test/health-*.test.ts); here it is only present.
  async alerts(): Promise<Alert[]> {
    return [];
  }

  async silences(): Promise<Silence[]> {
    return [];
  }

  async silence(): Promise<Silence> {
    throw new UserError('NOT_SUPPORTED', 'the fake core has no silences');
  }

  async unsilence(): Promise<boolean> {
    return false;
  }

  subscribeAlerts(): () => void {
    return () => {};
  }

  readiness(): { ready: boolean; reason?: string } {
    return this.isReady ? { ready: true } : { ready: false, reason: 'core not started or shutting down' };
  }
}
