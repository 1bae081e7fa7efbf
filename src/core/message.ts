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

/** One reading in the wire contract's shape, without the Timestamp (the sender adds it). */
export interface Reading {
  serviceName: string;
  CPU: number;
  RAM: { Total: number; Free: number };
  Disk: { Total: number; Free: number };
}

/**
 * The datagram text, as every sender here writes it (the mock fleet, the agent). Built by hand: it is the mock's
 * hot path, and JSON.stringify of a nested object costs more.
 */
export function formatMessage(r: Reading, epochUs: number): string {
  return `{"serviceName":${JSON.stringify(r.serviceName)},"Timestamp":${formatEpochSeconds(epochUs)},"CPU":${r.CPU},"RAM":{"Total":${r.RAM.Total},"Free":${r.RAM.Free}},"Disk":{"Total":${r.Disk.Total},"Free":${r.Disk.Free}}}`;
}

/** Exact decimal seconds from integer microseconds; float division would print artefacts like .2530000001. */
function formatEpochSeconds(us: number): string {
  const s = Math.floor(us / 1e6);
  return `${s}.${String(us - s * 1e6).padStart(6, '0')}`;
}

/**
 * Why a signed datagram, or an unsigned one under --auth-mode required, was refused (ingest/datagram-auth.ts):
 * `stale` is a time outside --auth-window, `replayed` a nonce already seen within it.
 */
export type AuthRejectReason = 'unsigned' | 'unknown_key' | 'bad_signature' | 'stale' | 'replayed' | 'service_not_allowed';

export const AUTH_REJECT_REASONS: readonly AuthRejectReason[] = ['unsigned', 'unknown_key', 'bad_signature', 'stale', 'replayed', 'service_not_allowed'];

/** Why a datagram was refused. Stable strings: they are counted and shown per reason. */
export type RejectReason = 'malformed_json' | 'schema' | 'range' | 'too_large' | 'future' | 'expired' | 'storage_unavailable' | AuthRejectReason;

/** `storage_unavailable`: the write-ahead segment cannot be written and the in-memory backlog is full. */
export const REJECT_REASONS: readonly RejectReason[] = ['malformed_json', 'schema', 'range', 'too_large', 'future', 'expired', 'storage_unavailable', ...AUTH_REJECT_REASONS];

/** Compatibility formats, each off unless configured. */
export type CompatMode = 'seed' | 'course';

export const COMPAT_MODES: readonly CompatMode[] = ['seed', 'course'];

export const usedPct = (total: number, free: number): number => ((total - free) / total) * 100;
