/**
 * `GET /metrics`: the daemon's own health and the fleet's latest health in the Prometheus text format
 * (prom-client, on a registry of its own). Nothing here counts on the ingest path: each scrape reads the
 * answers the GraphQL `pipeline` and `services` fields give, once, and every metric's collect() copies its
 * numbers from that one reading. Only the scheduled jobs' durations are observed as they happen (`timed`).
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Health, Pipeline, ServiceHealth } from '../api.js';
import type { AlertmanagerStats } from '../health/alertmanager.js';
import type { NotifierStats } from '../health/notifier.js';

export interface MetricsSources {
  pipeline(): Promise<Pipeline>;
  services(): Promise<ServiceHealth[]>;
  /** GraphQL subscriptions open now, WebSocket and SSE together. */
  subscriptions(): number;
  /** The alert receivers' counts; null when that receiver is not configured. */
  receivers(): { webhook: NotifierStats | null; alertmanager: AlertmanagerStats | null };
}

export interface MetricsOptions {
  /** Services whose health is exported (--metrics-max-services): the first by name; the rest are counted. */
  maxServices: number;
}

export interface DaemonMetrics {
  /** The Content-Type of `render()`'s text. */
  readonly contentType: string;
  /** The exposition text, read from the sources now. */
  render(): Promise<string>;
  /** `fn` with its every run observed in hms_job_duration_seconds{task}; for the scheduler. */
  timed<T>(job: string, fn: () => Promise<T>): () => Promise<T>;
}

/** What one scrape reads, before any metric is collected. */
interface Reading {
  pipeline: Pipeline;
  /** The services exported, sorted by name, at most maxServices. */
  services: ServiceHealth[];
  omitted: number;
  known: number;
  subscriptions: number;
  receivers: ReturnType<MetricsSources['receivers']>;
  nowUs: number;
}

type Labels = Record<string, string>;
type Rows = [Labels, number][];

/** The health state as a number, so that PromQL can compare it (`hms_service_health >= 2`: CRIT or SILENT). */
const HEALTH_VALUE: Record<Health, number> = { OK: 0, WARN: 1, CRIT: 2, SILENT: 3 };

/** prom-client's default Node.js metrics that `promtool check metrics` rejects: gauges named `_total`. */
const LINT_REJECTED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/**
 * promtool wants base units (bytes, not GB). The wire format's sizes are GB; `hms agent` sends GiB, so a GB is
 * read as 2^30 bytes here.
 */
const GIB = 1024 ** 3;

/** From a millisecond ship or health tick to a long MapReduce batch run. */
const JOB_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

export function createMetrics(sources: MetricsSources, opts: MetricsOptions): DaemonMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const name of LINT_REJECTED_DEFAULTS) registry.removeSingleMetric(name);
  let reading: Reading;

  /**
   * The rows of a metric are replaced at each scrape. A total counted elsewhere becomes a Counter by starting
   * it again from zero and adding the total (prom-client's Counter has no set). A metric without labels
   * and without a value now (no watermark yet, no kernel drop count off Linux) is left out, not shown as 0.
   */
  const fill = (metric: Counter | Gauge, labelNames: readonly string[], rows: Rows, put: (labels: Labels, v: number) => void): void => {
    metric.reset();
    if (rows.length === 0 && labelNames.length === 0) metric.remove();
    for (const [labels, v] of rows) put(labels, v);
  };
  const counter = (name: string, help: string, labelNames: readonly string[], read: (r: Reading) => Rows): void => {
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        fill(this, labelNames, read(reading), (labels, v) => this.inc(labels, v));
      },
    });
  };
  const gauge = (name: string, help: string, labelNames: readonly string[], read: (r: Reading) => Rows): void => {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        fill(this, labelNames, read(reading), (labels, v) => this.set(labels, v));
      },
    });
  };
  const one = (v: number | null | undefined): Rows => (v === null || v === undefined ? [] : [[{}, v]]);
  // Labelled `task`: Prometheus sets `job` (the scrape job) itself and would rename ours to exported_job.
  const byJob = (field: 'failures' | 'skipped') => (r: Reading): Rows => r.pipeline.jobs.map((j) => [{ task: j.name }, j[field]]);
  const perService = (value: (s: ServiceHealth) => number) => (r: Reading): Rows => r.services.map((s) => [{ service: s.service }, value(s)]);

  counter('hms_ingest_received_total', 'Datagrams received on the UDP port (every one is then accepted or rejected).', [], (r) => one(r.pipeline.received));
  counter('hms_ingest_accepted_total', 'Messages accepted.', [], (r) => one(r.pipeline.accepted));
  counter('hms_ingest_accepted_signed_total', 'Accepted messages that carried a valid signature.', [], (r) => one(r.pipeline.acceptedSigned));
  counter('hms_ingest_rejected_total', 'Datagrams rejected, by reason.', ['reason'], (r) => r.pipeline.rejectedBy.map((x) => [{ reason: x.reason }, x.count]));
  counter('hms_ingest_compat_total', 'Messages accepted through a compatibility mode (--compat), by mode.', ['mode'], (r) =>
    r.pipeline.compat.map((x) => [{ mode: x.reason }, x.count]),
  );
  counter('hms_ingest_late_total', 'Accepted messages older than the batch watermark when they arrived.', [], (r) => one(r.pipeline.late));
  counter('hms_udp_kernel_drops_total', "Datagrams the kernel dropped on the daemon's UDP socket (receive buffer full).", [], (r) => one(r.pipeline.kernelDrops));
  gauge('hms_udp_receive_buffer_bytes', 'UDP receive buffer the kernel granted.', [], (r) => one(r.pipeline.recvBufferBytes));
  counter('hms_ingest_worker_restarts_total', 'Ingest worker processes started again after they died.', [], (r) => one(r.pipeline.ingestWorkerRestarts));
  gauge('hms_unflushed_messages', 'Messages accepted but not yet fsynced to the write-ahead segment.', [], (r) => one(r.pipeline.unflushed));
  gauge('hms_unflushed_bytes', 'Accepted text waiting in memory; at --max-unflushed new datagrams are rejected.', [], (r) => one(r.pipeline.unflushedBytes));
  gauge('hms_storage_error', '1 while the write-ahead segments cannot be written (a full disk), else 0.', [], (r) => one(r.pipeline.storageError === null ? 0 : 1));
  gauge('hms_backlog_segments', 'Sealed segments waiting to be shipped to the master dataset.', [], (r) => one(r.pipeline.backlogSegments));
  counter('hms_quarantined_lines_total', 'Unreadable lines moved to the quarantine, over the life of the data directory.', [], (r) => one(r.pipeline.quarantinedLines));
  gauge('hms_watermark_age_seconds', 'Now minus the batch watermark W; absent before the first batch run.', [], (r) =>
    one(r.pipeline.watermark === null ? null : (r.nowUs - r.pipeline.watermark) / 1e6),
  );
  counter('hms_job_failures_total', 'Scheduled job runs that failed, by task (ship, batch, speed, health).', ['task'], byJob('failures'));
  counter('hms_job_skipped_total', 'Scheduled job ticks skipped because the previous run was still going, by task.', ['task'], byJob('skipped'));
  const durations = new Histogram({
    name: 'hms_job_duration_seconds',
    help: 'Duration of scheduled job runs, failed ones included, by task (ship, batch, speed, health).',
    labelNames: ['task'],
    buckets: JOB_BUCKETS_S,
    registers: [registry],
  });
  counter('hms_alert_notifications_total', 'Alert deliveries by receiver (webhook, alertmanager) and outcome (sent, failed).', ['receiver', 'outcome'], ({ receivers: { webhook, alertmanager } }) => [
    ...(webhook ? ([[{ receiver: 'webhook', outcome: 'sent' }, webhook.sent], [{ receiver: 'webhook', outcome: 'failed' }, webhook.failed]] as Rows) : []),
    ...(alertmanager ? ([[{ receiver: 'alertmanager', outcome: 'sent' }, alertmanager.sent], [{ receiver: 'alertmanager', outcome: 'failed' }, alertmanager.failed]] as Rows) : []),
  ]);
  gauge('hms_alertmanager_failing', 'Alertmanagers (--alertmanager-url) whose last push failed; absent without one.', [], (r) => one(r.receivers.alertmanager?.failing));
  gauge('hms_graphql_subscriptions', 'GraphQL subscriptions open now.', [], (r) => one(r.subscriptions));

  gauge('hms_services', 'Services the daemon has health for.', [], (r) => one(r.known));
  gauge('hms_services_omitted', 'Services left out of the hms_service_* metrics by --metrics-max-services.', [], (r) => one(r.omitted));
  gauge('hms_service_cpu_percent', "CPU of the service's newest message, percent.", ['service'], perService((s) => s.cpu));
  gauge('hms_service_ram_used_percent', "RAM used of the service's newest message, percent.", ['service'], perService((s) => s.ramUsed));
  gauge('hms_service_disk_used_percent', "Disk used of the service's newest message, percent.", ['service'], perService((s) => s.diskUsed));
  gauge('hms_service_disk_free_bytes', "Free disk of the service's newest message, bytes (its GB read as GiB).", ['service'], perService((s) => s.diskFreeGb * GIB));
  gauge('hms_service_health', 'Health of the service: 0 OK, 1 WARN, 2 CRIT, 3 SILENT.', ['service'], perService((s) => HEALTH_VALUE[s.health]));
  gauge('hms_service_last_seen_timestamp_seconds', "Receive time of the service's newest message, Unix seconds.", ['service'], perService((s) => s.lastSeen / 1e6));

  return {
    contentType: registry.contentType,
    async render() {
      const [pipeline, all] = await Promise.all([sources.pipeline(), sources.services()]);
      const services = all.sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0)).slice(0, opts.maxServices);
      // Set and used in one synchronous stretch: registry.metrics() runs every collect() before it awaits,
      // so scrapes that overlap each see their own reading.
      reading = { pipeline, services, omitted: all.length - services.length, known: all.length, subscriptions: sources.subscriptions(), receivers: sources.receivers(), nowUs: Date.now() * 1000 };
      return registry.metrics();
    },
    timed(task, fn) {
      durations.zero({ task });
      return async () => {
        const end = durations.startTimer({ task });
        try {
          return await fn();
        } finally {
          end();
        }
      };
    },
  };
}
