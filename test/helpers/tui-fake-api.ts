/**
 * A stand-in core (HmsApi) for exercising the dashboard's client against the real GraphQL server without
 * UDP, storage or DuckDB: `n` services whose values drift with time, and fixed history answers.
 * Run directly to serve it for a manual look: `node --import tsx test/helpers/tui-fake-api.ts [port] [services]`.
 */
import type {
  Alert,
  AlertFilter,
  BatchRun,
  Bucket,
  HmsApi,
  Pipeline,
  Resource,
  ServiceHealth,
  ServiceStats,
  Step,
} from '../../src/api.js';

const US = 1000;
const HEALTHS = ['OK', 'OK', 'OK', 'OK', 'OK', 'OK', 'WARN', 'WARN', 'CRIT', 'SILENT'] as const;

export interface FakeApi extends HmsApi {
  batchCalls: { full?: boolean }[];
  /** Arguments of every stats() and series() call, times in epoch microseconds as the core receives them. */
  queries: { kind: 'stats' | 'series'; fromUs: number; toUs: number; service?: string; step?: Step }[];
  /** Number of services() calls so far (one per push per subscriber). */
  reads: number;
  /** What `alerts` answers from (newest first), filtered as the core does. */
  alertLog: Alert[];
  /** Sends a state change to every `alerts` subscriber, as the core does when a rule fires or resolves. */
  emitAlert(alert: Alert): void;
}

export function fakeApi(services = 12, now: () => number = Date.now): FakeApi {
  const started = now();
  let batches = 0;
  const alertListeners = new Set<(a: Alert) => void>();
  const resource = (base: number, at: number): Resource => ({ mean: base, min: base - 5, max: base + 5, peakAt: at * US });
  const api: FakeApi = {
    batchCalls: [],
    queries: [],
    reads: 0,
    alertLog: [],
    emitAlert(alert) {
      for (const l of alertListeners) l(alert);
    },
    async services(): Promise<ServiceHealth[]> {
      api.reads++;
      const t = now();
      return Array.from({ length: services }, (_, i) => {
        const health = HEALTHS[(i * 7) % HEALTHS.length]!;
        const wave = Math.sin(t / 20_000 + i) * 0.5 + 0.5;
        return {
          service: `svc-${String(i).padStart(3, '0')}`,
          health,
          reasons: health === 'OK' ? [] : [`${health.toLowerCase()}: example reason`],
          lastSeen: (health === 'SILENT' ? started : t - (i % 5) * 1000) * US,
          cpu: Math.round(wave * 1000) / 10,
          ramUsed: 40 + (i % 50),
          diskUsed: 30 + ((i * 3) % 65),
          ramFreeGb: 16 - (i % 16) / 2,
          diskFreeGb: 500 - ((i * 3) % 65) * 5,
          // Every fourth service fills its disk: full in five hours.
          diskFullAt: i % 4 === 0 ? (t + 5 * 3_600_000) * US : null,
          ramFullAt: null,
        };
      });
    },
    async stats(fromUs: number, toUs: number, service?: string): Promise<ServiceStats[]> {
      api.queries.push({ kind: 'stats', fromUs, toUs, service });
      const names = service ? [service] : ['svc-000'];
      return names.map((name) => ({
        service: name,
        count: 3600,
        batchCount: 3000,
        realtimeCount: 600,
        cpu: resource(42.5, (fromUs + toUs) / 2 / US),
        ram: resource(60, fromUs / US + 60_000),
        disk: resource(55, toUs / US - 60_000),
        coveredFrom: fromUs,
        coveredTo: toUs,
        resolution: 'MINUTE' as const,
      }));
    },
    async series(service: string, fromUs: number, toUs: number, step: Step): Promise<Bucket[]> {
      api.queries.push({ kind: 'series', fromUs, toUs, service, step });
      const stepUs = (step === 'MINUTE' ? 60_000 : step === 'HOUR' ? 3_600_000 : 86_400_000) * US;
      const out: Bucket[] = [];
      for (let s = Math.floor(fromUs / stepUs) * stepUs; s < toUs; s += stepUs) {
        const v = 50 + 40 * Math.sin(s / stepUs / 6);
        out.push({ start: s, resolution: step, count: 60, cpu: resource(v, s / US), ram: resource(60, s / US), disk: resource(55, s / US) });
      }
      return out;
    },
    async pipeline(): Promise<Pipeline> {
      const t = now();
      return {
        received: (t - started) * 10,
        accepted: (t - started) * 9.9,
        rejected: (t - started) / 10,
        late: 0,
        imported: 0,
        kernelDrops: 0,
        rejectedBy: [{ reason: 'schema', count: (t - started) / 10 }],
        authMode: 'off',
        acceptedSigned: 0,
        compat: [],
        rejectedSample: [
          { at: (t - 4000) * US + 123, reason: 'schema', detail: 'cpu: expected a number', from: '10.0.0.7:50123', excerpt: '{"cpu":"high"}' },
        ],
        recvBufferBytes: 4 * 1024 * 1024,
        recvBufferAdvice: null,
        ingestWorkers: [],
        ingestWorkerRestarts: 0,
        watermark: (t - 120_000) * US,
        lastBatch: batches ? lastBatch(t) : null,
        backlogSegments: 1,
        storage: 'local',
        batchEngine: 'duckdb',
        speedEngine: 'duckdb',
        messagesPerSecond: services * 2,
        startedAt: started * US,
        jobs: [],
        unflushed: 0,
        unflushedBytes: 0,
        storageError: null,
        storageErrorSince: null,
        quarantinedLines: 0,
        tiers: { rawFrom: null, minuteFrom: null, hourFrom: null, dayFrom: null },
        lastCompaction: null,
        lastRetention: null,
      };
    },
    async runBatch(opts: { full?: boolean }): Promise<BatchRun> {
      api.batchCalls.push(opts);
      batches++;
      return { ...lastBatch(now()), mode: opts.full ? 'FULL' : 'INCREMENTAL' };
    },
    async history(fromUs: number, toUs: number, names?: string[]) {
      const all = await api.services();
      const wanted = all.filter((s) => !names || names.includes(s.service));
      return Promise.all(wanted.map(async (s) => ({ service: s.service, buckets: await api.series(s.service, fromUs, toUs, 'MINUTE') })));
    },
    alerts: async ({ active, service }: AlertFilter) =>
      api.alertLog.filter(
        (a) => (active === undefined || (a.state === 'FIRING') === active) && (service === undefined || a.service === service),
      ),
    silences: async () => [],
    silence: async () => {
      throw new Error('the fake core has no silences');
    },
    unsilence: async () => false,
    // The dashboard does not manage the dataset: these only have to exist.
    compact: async () => {
      throw new Error('the dashboard fake does not compact');
    },
    applyRetention: async () => {
      throw new Error('the dashboard fake has no retention');
    },
    forgetService: async () => false,
    importMessages: async () => {
      throw new Error('the dashboard fake does not import');
    },
    subscribeAlerts: (listener) => {
      alertListeners.add(listener);
      return () => alertListeners.delete(listener);
    },
    readiness: () => ({ ready: true }),
  };
  const lastBatch = (t: number): BatchRun => ({
    id: `b-${batches}`,
    engine: 'duckdb',
    status: 'SUCCEEDED',
    mode: 'INCREMENTAL',
    startedAt: (t - 2000) * US,
    finishedAt: (t - 1000) * US,
    watermark: (t - 120_000) * US,
    records: 1234,
    partitions: 2,
    error: null,
    errorCode: null,
    mapProgress: null,
    reduceProgress: null,
  });
  return api;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { createHttpServer } = await import('../../graphql/server.js');
  const server = createHttpServer(fakeApi(Number(process.argv[3] ?? 12)), {
    host: '127.0.0.1',
    port: Number(process.argv[2] ?? 4000),
  });
  const { port } = await server.start();
  process.stderr.write(`fake daemon on http://127.0.0.1:${port}/graphql\n`);
  const stop = (): void => {
    void server.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
