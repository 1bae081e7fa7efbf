/** One accepted health message, normalised: the unit every layer after ingest works with. */
export interface HealthMessage {
  service: string;
  /** Event time, UTC epoch microseconds. */
  ts: number;
  /** CPU utilisation, percent 0-100. */
  cpu: number;
  ramTotal: number;
  ramFree: number;
  diskTotal: number;
  diskFree: number;
}

/** Why a datagram was refused. Stable strings: they are counted and shown per reason. */
export type RejectReason = 'malformed_json' | 'schema' | 'range' | 'too_large' | 'future' | 'storage_unavailable';

/** `storage_unavailable`: the write-ahead segment cannot be written and the in-memory backlog is full. */
export const REJECT_REASONS: readonly RejectReason[] = ['malformed_json', 'schema', 'range', 'too_large', 'future', 'storage_unavailable'];

/** Compatibility formats, each off unless configured. */
export type CompatMode = 'seed' | 'course';

export const COMPAT_MODES: readonly CompatMode[] = ['seed', 'course'];

export const usedPct = (total: number, free: number): number => ((total - free) / total) * 100;
