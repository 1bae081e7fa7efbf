/**
 * What the dashboard works with: the results of its GraphQL documents (types generated from the schema and
 * tui/operations.ts into tui/generated/operations.ts) with every DateTime turned into epoch milliseconds (the
 * unit of Date.now()), so components compare times without parsing. No shape is written here by hand.
 */
import type {
  AlertsQuery,
  Step,
  HistoryQuery,
  PipelineSubscription,
  RejectedSampleQuery,
  RunBatchMutation,
  SeriesQuery,
  ServicesSubscription,
  StatsQuery,
} from './generated/operations.js';

export type { AlertState, Health, Step } from './generated/operations.js';

/** A wire shape with its DateTime fields `K` as epoch ms (null stays null). */
type WithTimes<T, K extends keyof T> = Omit<T, K> & { [P in K]: null extends T[P] ? number | null : number };

/** The results as they come over the wire (DateTime as ISO-8601 text), one element each. */
export interface Wire {
  service: ServicesSubscription['services'][number];
  stats: StatsQuery['stats'][number];
  resource: StatsQuery['stats'][number]['cpu'];
  bucket: SeriesQuery['series'][number];
  history: HistoryQuery['history'][number];
  alert: AlertsQuery['alerts'][number];
  batch: RunBatchMutation['runBatch'];
  pipeline: PipelineSubscription['pipeline'];
  rejected: RejectedSampleQuery['pipeline']['rejectedSample'][number];
}

export type ServiceRow = WithTimes<Wire['service'], 'lastSeen' | 'diskFullAt' | 'ramFullAt'>;
export type ResourceStat = WithTimes<Wire['resource'], 'peakAt'>;
export type ServiceStatsView = Omit<Wire['stats'], 'cpu' | 'ram' | 'disk'> & { cpu: ResourceStat; ram: ResourceStat; disk: ResourceStat };
export type BucketView = Omit<WithTimes<Wire['bucket'], 'start'>, 'cpu' | 'ram' | 'disk'> & { cpu: ResourceStat; ram: ResourceStat; disk: ResourceStat };
/** One alert episode of one rule on one service, from firing to resolution. */
export type AlertView = WithTimes<Wire['alert'], 'startedAt' | 'endedAt'>;
export type BatchRunView = WithTimes<Wire['batch'], 'startedAt' | 'finishedAt' | 'watermark'>;
/** One rejected datagram the daemon kept: why, from where, and its first bytes as text. */
export type RejectedView = WithTimes<Wire['rejected'], 'at'>;
export type PipelineView = Omit<WithTimes<Wire['pipeline'], 'watermark' | 'startedAt'>, 'lastBatch'> & { lastBatch: BatchRunView | null };

/** The per-minute peaks of one service, as the sparklines draw them (from the `history` query). */
export interface ServiceHistory {
  service: string;
  /** Oldest first; `cpu` and `ram` are the highest value seen in the minute starting at `start`. */
  minutes: { start: number; cpu: number; ram: number }[];
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
  /** The newest rejected datagrams the daemon keeps (at most 100), newest first. */
  rejectedSample(): Promise<RejectedView[]>;
  close(): void;
}
