/**
 * The GraphQL surface of design.md ("names are a contract") plus the extra fields of src/api.ts, wired to an
 * HmsApi. Times are epoch microseconds on the core side; the DateTime scalar converts at the edge.
 */
import type { GraphQLSchema } from 'graphql';
import { createSchema } from 'graphql-yoga';
import type { Alert, HmsApi, Step } from '../src/api.js';
import { DateTime } from './datetime.js';
import { callCore, userError } from './errors.js';
import { ticks } from './ticks.js';

export const typeDefs = /* GraphQL */ `
  "ISO-8601 UTC"
  scalar DateTime
  enum Health { OK WARN CRIT SILENT }
  enum Step { MINUTE HOUR DAY }

  type Query {
    services: [ServiceHealth!]!
    "Window [from, to); unaligned bounds widen to whole minutes."
    stats(from: DateTime!, to: DateTime!, service: String): [ServiceStats!]!
    series(service: String!, from: DateTime!, to: DateTime!, step: Step!): [Bucket!]!
    "Minute buckets of every service (or the named ones) over at most 6 hours, in one answer: sparklines."
    history(from: DateTime!, to: DateTime!, services: [String!]): [ServiceSeries!]!
    pipeline: Pipeline!
    "Newest first (at most 1000). active: true gives FIRING alerts only, false RESOLVED only."
    alerts(active: Boolean, service: String): [Alert!]!
    "Silences in force now."
    silences: [Silence!]!
  }
  type Mutation {
    "Incremental unless full is true."
    runBatch(full: Boolean): BatchRun!
    "Suppresses notifications for matching alerts until the given time. service may be a glob (payments-*); no rule means every rule."
    silence(service: String!, rule: String, until: DateTime!, reason: String): Silence!
    "Ends a silence now; false when no silence in force has that id."
    unsilence(id: String!): Boolean!
  }
  type Subscription {
    services: [ServiceHealth!]!
    pipeline: Pipeline!
    "Every alert state change (FIRING, RESOLVED), as it happens."
    alerts: Alert!
  }

  type ServiceSeries {
    service: String!
    buckets: [Bucket!]!
  }
  type ServiceHealth {
    service: String!
    health: Health!
    "Why health is not OK; empty when OK."
    reasons: [String!]!
    lastSeen: DateTime!
    cpu: Float!
    ramUsed: Float!
    diskUsed: Float!
    ramFreeGb: Float!
    diskFreeGb: Float!
    "When disk used reaches 100% at the recent least-squares trend; null without a trustworthy upward trend."
    diskFullAt: DateTime
    "As diskFullAt, for RAM."
    ramFullAt: DateTime
  }
  type Alert {
    id: String!
    service: String!
    "cpu | ram | disk | diskFree | silent | diskFull | ramFull"
    rule: String!
    severity: Health!
    "FIRING | RESOLVED"
    state: String!
    "When the condition began (silent: the last message before the silence)."
    startedAt: DateTime!
    endedAt: DateTime
    "At firing: percent (cpu, ram, disk), GB (diskFree), seconds without a message (silent), hours until full (diskFull, ramFull)."
    value: Float
    message: String!
    "Covered by a silence in force now: no notifications are sent for it."
    silenced: Boolean!
  }
  type Silence {
    id: String!
    "A service name or glob."
    service: String!
    "Null: every rule."
    rule: String
    until: DateTime!
    reason: String
  }
  "ram and disk are used-percent."
  type Resource { mean: Float!  min: Float!  max: Float!  peakAt: DateTime! }
  type ServiceStats {
    service: String!
    count: Float!
    batchCount: Float!
    realtimeCount: Float!
    cpu: Resource!
    ram: Resource!
    disk: Resource!
  }
  type Bucket { start: DateTime!  count: Float!  cpu: Resource!  ram: Resource!  disk: Resource! }
  type Pipeline {
    received: Float!
    accepted: Float!
    rejected: Float!
    late: Float!
    kernelDrops: Float
    rejectedBy: [ReasonCount!]!
    "Messages accepted through each compatibility mode."
    compat: [ReasonCount!]!
    "A bounded sample of the latest rejected datagrams."
    rejectedSample: [RejectedDatagram!]!
    "UDP receive buffer granted by the kernel, bytes."
    recvBufferBytes: Float!
    watermark: DateTime
    lastBatch: BatchRun
    backlogSegments: Float!
    storage: String!
    batchEngine: String!
    speedEngine: String!
    "Accepted messages per second over the last few seconds."
    messagesPerSecond: Float!
    startedAt: DateTime!
    "Scheduled jobs (ship, batch, speed, health): runs, failures, skipped overlapping ticks, the last error."
    jobs: [JobStatus!]!
    "Messages accepted but not yet fsynced to the write-ahead segment."
    unflushed: Float!
    "Accepted text waiting in memory (write-ahead segment or speed layer), bytes; at --max-unflushed new datagrams are rejected as storage_unavailable."
    unflushedBytes: Float!
    "While the write-ahead segments cannot be written (a full disk): the error. Null when writes work."
    storageError: String
    "When the current storage error began."
    storageErrorSince: DateTime
    "Unreadable lines moved from the daemon's own files to the quarantine, over the life of the data directory."
    quarantinedLines: Float!
  }
  type JobStatus {
    name: String!
    schedule: String!
    runs: Float!
    failures: Float!
    skipped: Float!
    lastStartedAt: DateTime
    lastDurationMs: Float
    lastError: String
  }
  type ReasonCount { reason: String!  count: Float! }
  type RejectedDatagram { at: DateTime!  reason: String!  detail: String!  from: String!  excerpt: String! }
  type BatchRun {
    id: String!
    engine: String!
    "RUNNING | SUCCEEDED | FAILED"
    status: String!
    "INCREMENTAL | FULL"
    mode: String!
    startedAt: DateTime!
    finishedAt: DateTime
    watermark: DateTime
    records: Float
    partitions: Float
    error: String
    "While a MapReduce job runs: map and reduce progress, percent."
    mapProgress: Float
    reduceProgress: Float
  }
`;

export interface SchemaOptions {
  /** Gap between subscription pushes; default 1000. */
  pushIntervalMs?: number;
  /** Aborted when the server stops, which ends every open subscription. */
  shutdown?: AbortSignal;
}

/** Alerts that a stalled subscriber has not taken yet, at most; older ones are dropped so memory stays bounded. */
const MAX_PENDING_ALERTS = 1000;

/**
 * The alert subscription's source: pushes from the core, pulled by the client. Ends when the client leaves
 * (return()) or the server stops; either way the core listener is removed.
 */
function alertEvents(api: HmsApi, shutdown?: AbortSignal): AsyncGenerator<Alert, void, unknown> {
  const pending: Alert[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  const unsubscribe = api.subscribeAlerts((alert) => {
    if (pending.length >= MAX_PENDING_ALERTS) pending.shift();
    pending.push(alert);
    wake?.();
  });
  const end = (): void => {
    if (ended) return;
    ended = true;
    unsubscribe();
    shutdown?.removeEventListener('abort', end);
    wake?.();
  };
  if (shutdown?.aborted) end();
  else shutdown?.addEventListener('abort', end, { once: true });
  async function* run(): AsyncGenerator<Alert, void, unknown> {
    while (!ended) {
      const next = pending.shift();
      if (next) yield next;
      else await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  }
  const gen = run();
  const finish = gen.return.bind(gen);
  // return() queues behind a pending next() that waits for an alert: end the wait first (as ticks.ts does).
  gen.return = (value) => {
    end();
    return finish(value);
  };
  return gen;
}

interface Window {
  from: number;
  to: number;
}

// Checked here rather than left to the core so every backend refuses an empty window the same way.
function checkWindow({ from, to }: Window): void {
  if (to <= from) throw userError('BAD_WINDOW', '`to` must be later than `from`.');
}

export function createHmsSchema(api: HmsApi, opts: SchemaOptions = {}): GraphQLSchema {
  const interval = opts.pushIntervalMs ?? 1000;
  // The source stream only paces; `resolve` reads the core on each tick, so a failing read becomes an error
  // in that one event (masked and logged like any other) instead of ending the subscription.
  const live = (read: () => Promise<unknown>) => ({
    subscribe: () => ticks(interval, opts.shutdown),
    resolve: () => callCore(read),
  });
  return createSchema({
    typeDefs,
    resolvers: {
      DateTime,
      Query: {
        services: () => callCore(() => api.services()),
        stats: (_: unknown, args: Window & { service?: string | null }) => {
          checkWindow(args);
          return callCore(() => api.stats(args.from, args.to, args.service ?? undefined));
        },
        series: (_: unknown, args: Window & { service: string; step: Step }) => {
          checkWindow(args);
          return callCore(() => api.series(args.service, args.from, args.to, args.step));
        },
        history: (_: unknown, args: Window & { services?: string[] | null }) => {
          checkWindow(args);
          return callCore(() => api.history(args.from, args.to, args.services ?? undefined));
        },
        pipeline: () => callCore(() => api.pipeline()),
        alerts: (_: unknown, args: { active?: boolean | null; service?: string | null }) =>
          callCore(() => api.alerts({ active: args.active ?? undefined, service: args.service ?? undefined })),
        silences: () => callCore(() => api.silences()),
      },
      Mutation: {
        runBatch: (_: unknown, { full }: { full?: boolean | null }) =>
          callCore(() => api.runBatch(full == null ? {} : { full })),
        silence: (_: unknown, args: { service: string; rule?: string | null; until: number; reason?: string | null }) =>
          callCore(() => api.silence({ service: args.service, rule: args.rule ?? null, until: args.until, reason: args.reason ?? null })),
        unsilence: (_: unknown, { id }: { id: string }) => callCore(() => api.unsilence(id)),
      },
      Subscription: {
        services: live(() => api.services()),
        pipeline: live(() => api.pipeline()),
        alerts: {
          subscribe: () => alertEvents(api, opts.shutdown),
          resolve: (alert: Alert) => alert,
        },
      },
    },
  });
}
