/**
 * What the dashboard works with: the GraphQL shapes of design.md with every DateTime turned into epoch
 * milliseconds (the unit of Date.now()), so components compare times without parsing.
 */
import type { Health, Step } from '../src/api.js';

export type { Health, Step };

export interface ServiceRow {
  service: string;
  health: Health;
  /** Why the health is not OK (empty when OK). */
  reasons: string[];
  /** Epoch ms of the newest message. */
  lastSeen: number;
  cpu: number;
  ramUsed: number;
  diskUsed: number;
  ramFreeGb: number;
  diskFreeGb: number;
  /** Epoch ms when disk used reaches 100 % at the recent trend; null without a trustworthy upward trend. */
  diskFullAt: number | null;
  /** As diskFullAt, for RAM. */
  ramFullAt: number | null;
}

export interface ResourceStat {
  mean: number;
  min: number;
  max: number;
  /** Epoch ms of the max. */
  peakAt: number;
}

export interface ServiceStatsView {
  service: string;
  count: number;
  batchCount: number;
  realtimeCount: number;
  cpu: ResourceStat;
  ram: ResourceStat;
  disk: ResourceStat;
}

export interface BucketView {
  start: number;
  count: number;
  cpu: ResourceStat;
  ram: ResourceStat;
  disk: ResourceStat;
}

/** One alert episode of one rule on one service, from firing to resolution. */
export interface AlertView {
  id: string;
  service: string;
  /** cpu | ram | disk | diskFree | silent | diskFull | ramFull */
  rule: string;
  severity: Health;
  state: 'FIRING' | 'RESOLVED';
  /** Epoch ms when the condition began. */
  startedAt: number;
  endedAt: number | null;
  /** At firing: % (cpu, ram, disk), GB (diskFree), seconds without a message (silent), hours until full (forecasts). */
  value: number | null;
  message: string;
  /** Covered by a silence in force: no notifications are sent for it. */
  silenced: boolean;
}

/** The per-minute peaks of one service, as the sparklines need them (from the `history` query). */
export interface ServiceHistory {
  service: string;
  /** Oldest first; `cpu` and `ram` are the highest value seen in the minute starting at `start`. */
  minutes: { start: number; cpu: number; ram: number }[];
}

export interface BatchRunView {
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
  /** While a MapReduce job runs: map and reduce progress, percent. */
  mapProgress?: number | null;
  reduceProgress?: number | null;
}

export interface PipelineView {
  received: number;
  accepted: number;
  rejected: number;
  late: number;
  kernelDrops: number | null;
  rejectedBy: { reason: string; count: number }[];
  watermark: number | null;
  lastBatch: BatchRunView | null;
  backlogSegments: number;
  storage: string;
  batchEngine: string;
  speedEngine: string;
  messagesPerSecond: number;
  recvBufferBytes: number;
  startedAt: number;
  /** Accepted bytes waiting in memory while the disk fails. */
  unflushedBytes: number;
  /** Why the write-ahead segments cannot be written; null while they can. */
  storageError: string | null;
  quarantinedLines: number;
}

export type ConnectionState =
  | { status: 'connecting'; lastError?: string }
  | { status: 'connected'; since: number }
  | {
      status: 'reconnecting';
      /** 1 for the first retry after a loss. */
      attempt: number;
      /** Epoch ms of the next attempt; null while an attempt is in flight. */
      nextRetryAt: number | null;
      lastError?: string;
    };

export type Unsubscribe = () => void;

/**
 * The dashboard's port to the daemon. tui/client.ts implements it over graphql-ws; tests pass a fake.
 * Subscriptions survive reconnects: the implementation re-subscribes and keeps calling `onData`.
 */
export interface DashboardClient {
  connection(): ConnectionState;
  onConnection(listener: (state: ConnectionState) => void): Unsubscribe;
  subscribeServices(onData: (rows: ServiceRow[]) => void, onError: (message: string) => void): Unsubscribe;
  subscribePipeline(onData: (p: PipelineView) => void, onError: (message: string) => void): Unsubscribe;
  /** Window [fromMs, toMs). */
  stats(fromMs: number, toMs: number, service?: string): Promise<ServiceStatsView[]>;
  series(service: string, fromMs: number, toMs: number, step: Step): Promise<BucketView[]>;
  /** Minute peaks of every service (or the named ones) over [fromMs, toMs), at most 6 hours, in one answer. */
  history(fromMs: number, toMs: number, services?: readonly string[]): Promise<ServiceHistory[]>;
  /** Newest first, at most 1000; `active` true gives FIRING only, false RESOLVED only, undefined both. */
  alerts(active?: boolean): Promise<AlertView[]>;
  /** Every alert state change (FIRING, RESOLVED) as it happens; changes missed while disconnected are not replayed. */
  subscribeAlerts(onData: (alert: AlertView) => void, onError: (message: string) => void): Unsubscribe;
  runBatch(full: boolean): Promise<BatchRunView>;
  close(): void;
}
