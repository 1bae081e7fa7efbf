/**
 * The daemon's query-side contract: what the GraphQL layer (graphql/) may ask of the core.
 * Times are epoch microseconds here; the GraphQL layer converts them to and from ISO-8601 `DateTime`.
 * Shapes mirror the GraphQL surface in the design (names are a contract).
 */

export type Health = 'OK' | 'WARN' | 'CRIT' | 'SILENT';
export type Step = 'MINUTE' | 'HOUR' | 'DAY';

export interface ServiceHealth {
  service: string;
  health: Health;
  /** Why the health is not OK (empty when OK). */
  reasons: string[];
  /** Receive time of the newest message. */
  lastSeen: number;
  cpu: number;
  ramUsed: number;
  diskUsed: number;
  ramFreeGb: number;
  diskFreeGb: number;
}

export interface Resource {
  mean: number;
  min: number;
  max: number;
  peakAt: number;
}

export interface ServiceStats {
  service: string;
  count: number;
  batchCount: number;
  realtimeCount: number;
  cpu: Resource;
  ram: Resource;
  disk: Resource;
}

export interface Bucket {
  start: number;
  count: number;
  cpu: Resource;
  ram: Resource;
  disk: Resource;
}

export interface BatchRun {
  id: string;
  engine: string;
  /** RUNNING | SUCCEEDED | FAILED */
  status: string;
  /** INCREMENTAL | FULL */
  mode: string;
  startedAt: number;
  finishedAt: number | null;
  watermark: number | null;
  records: number | null;
  partitions: number | null;
  error: string | null;
}

export interface ReasonCount {
  reason: string;
  count: number;
}

export interface Pipeline {
  received: number;
  accepted: number;
  rejected: number;
  late: number;
  kernelDrops: number | null;
  rejectedBy: ReasonCount[];
  /** Messages accepted through each compatibility mode. */
  compat: ReasonCount[];
  /** A bounded sample of the latest rejected datagrams. */
  rejectedSample: RejectedDatagram[];
  /** Receive buffer size granted by the kernel (bytes). */
  recvBufferBytes: number;
  watermark: number | null;
  lastBatch: BatchRun | null;
  backlogSegments: number;
  storage: string;
  batchEngine: string;
  speedEngine: string;
  /** Accepted messages per second over the last few seconds. */
  messagesPerSecond: number;
  startedAt: number;
}

export interface RejectedDatagram {
  at: number;
  reason: string;
  detail: string;
  from: string;
  /** The first bytes of the datagram, as text. */
  excerpt: string;
}

/** Failure of a request that the caller can fix; `code` is stable and shown to GraphQL clients. */
export class UserError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface HmsApi {
  services(): Promise<ServiceHealth[]>;
  /** Window [fromUs, toUs); unaligned bounds widen to whole minutes. Throws UserError on a bad window. */
  stats(fromUs: number, toUs: number, service?: string): Promise<ServiceStats[]>;
  series(service: string, fromUs: number, toUs: number, step: Step): Promise<Bucket[]>;
  pipeline(): Promise<Pipeline>;
  runBatch(opts: { full?: boolean }): Promise<BatchRun>;
  /** True once started and until shutdown begins. */
  ready(): boolean;
}
