/**
 * The daemon's query-side contract: what the GraphQL layer (graphql/) may ask of the core. The shapes are
 * the schema's own types (generated from graphql/sdl.ts), with times as epoch microseconds; the GraphQL
 * layer converts them to and from ISO-8601 `DateTime`.
 */
import type { Alert, BatchRun, Bucket, CompactionRun, ImportResult, Pipeline, RetentionRun, ServiceHealth, ServiceSeries, ServiceStats, Silence, Step } from '../graphql/generated/types.js';


export type {
  Alert,
  AlertState,
  BatchRun,
  Bucket,
  CompactionRun,
  Health,
  ImportRejection,
  ImportResult,
  JobStatus,
  Pipeline,
  ReasonCount,
  RejectedDatagram,
  RetentionRun,
  Resource,
  ServiceHealth,
  ServiceSeries,
  ServiceStats,
  Silence,
  Step,
} from '../graphql/generated/types.js';

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
  /** Compacts the master dataset now. */
  compact(): Promise<CompactionRun>;
  /** Applies retention now. */
  applyRetention(): Promise<RetentionRun>;
  /** Takes a service out of `services` now; false when there is none by that name. */
  forgetService(service: string): Promise<boolean>;
  /** Bulk load: wire-format messages, each decoded and validated like a datagram, then written like one. */
  importMessages(messages: string[], compat: string[]): Promise<ImportResult>;
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
