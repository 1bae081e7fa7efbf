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
  /** When disk used % reaches 100 at the recent trend; null or absent when there is no trustworthy upward trend. */
  diskFullAt?: number | null;
  /** As diskFullAt, for RAM. */
  ramFullAt?: number | null;
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

/** Minute buckets of one service. */
export interface ServiceSeries {
  service: string;
  buckets: Bucket[];
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
  /** While a MapReduce job runs: its map and reduce progress, percent. */
  mapProgress?: number;
  reduceProgress?: number;
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
  jobs: JobStatus[];
  /** Messages accepted but not yet fsynced to the write-ahead segment. */
  unflushed: number;
  /** Accepted text waiting in memory (segment or speed layer), bytes; bounded by --max-unflushed. */
  unflushedBytes: number;
  /** While the write-ahead segments cannot be written: the error, and since when (epoch µs). */
  storageError: string | null;
  storageErrorSince: number | null;
  /** Unreadable lines moved out of the daemon's own files into the quarantine, over the data dir's life. */
  quarantinedLines: number;
}

export interface JobStatus {
  name: string;
  schedule: string;
  runs: number;
  failures: number;
  /** Ticks skipped because the previous run was still going. */
  skipped: number;
  lastStartedAt: number | null;
  lastDurationMs: number | null;
  lastError: string | null;
}

export interface RejectedDatagram {
  at: number;
  reason: string;
  detail: string;
  from: string;
  /** The first bytes of the datagram, as text. */
  excerpt: string;
}

export type AlertState = 'FIRING' | 'RESOLVED';

/** One alert episode of one rule on one service, from firing to resolution. */
export interface Alert {
  id: string;
  service: string;
  /** cpu | ram | disk | diskFree | silent | diskFull | ramFull */
  rule: string;
  severity: Health;
  state: AlertState;
  /** When the condition began (for `silent`: the last message before the silence). */
  startedAt: number;
  endedAt: number | null;
  /** At firing: percent (cpu, ram, disk), GB (diskFree), seconds without a message (silent), hours until full (forecasts). */
  value: number | null;
  message: string;
  /** Matched by an active silence now: no notifications are sent for it. */
  silenced: boolean;
}

export interface Silence {
  id: string;
  /** A service name or a glob (`payments-*`). */
  service: string;
  /** Only this rule; null silences every rule of the matching services. */
  rule: string | null;
  until: number;
  reason: string | null;
}

export interface AlertFilter {
  /** true: only FIRING; false: only RESOLVED; absent: both. */
  active?: boolean;
  service?: string;
}

export interface SilenceInput {
  service: string;
  rule?: string | null;
  until: number;
  reason?: string | null;
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
  /** Minute buckets of every service (or the named ones) over a short window, in one snapshot. */
  history(fromUs: number, toUs: number, services?: string[]): Promise<ServiceSeries[]>;
  pipeline(): Promise<Pipeline>;
  runBatch(opts: { full?: boolean }): Promise<BatchRun>;
  /** Newest first. */
  alerts(filter: AlertFilter): Promise<Alert[]>;
  /** Silences in force now. */
  silences(): Promise<Silence[]>;
  /** Throws UserError on an unknown rule, an empty service or an `until` in the past. */
  silence(input: SilenceInput): Promise<Silence>;
  /** Ends a silence now; false when no active silence has that id. */
  unsilence(id: string): Promise<boolean>;
  /** Calls `listener` with every alert state change (FIRING, RESOLVED); returns the unsubscribe function. */
  subscribeAlerts(listener: (alert: Alert) => void): () => void;
  /** Ready once started, until shutdown begins, and while accepted messages can be made durable. */
  readiness(): { ready: boolean; reason?: string };
}
