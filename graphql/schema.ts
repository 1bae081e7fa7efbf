/**
 * The GraphQL surface of design.md ("names are a contract") plus the extra fields of src/api.ts, wired to an
 * HmsApi. Times are epoch microseconds on the core side; the DateTime scalar converts at the edge.
 */
import type { GraphQLSchema } from 'graphql';
import { createSchema } from 'graphql-yoga';
import type { HmsApi, Step } from '../src/api.js';
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
    pipeline: Pipeline!
  }
  type Mutation {
    "Incremental unless full is true."
    runBatch(full: Boolean): BatchRun!
  }
  type Subscription {
    services: [ServiceHealth!]!
    pipeline: Pipeline!
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
  }
`;

export interface SchemaOptions {
  /** Gap between subscription pushes; default 1000. */
  pushIntervalMs?: number;
  /** Aborted when the server stops, which ends every open subscription. */
  shutdown?: AbortSignal;
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
        pipeline: () => callCore(() => api.pipeline()),
      },
      Mutation: {
        runBatch: (_: unknown, { full }: { full?: boolean | null }) =>
          callCore(() => api.runBatch(full == null ? {} : { full })),
      },
      Subscription: {
        services: live(() => api.services()),
        pipeline: live(() => api.pipeline()),
      },
    },
  });
}
