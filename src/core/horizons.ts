import type { DuckDBConnection } from '@duckdb/node-api';
import { type MetaKey, readAllMeta, writeMeta } from '../serving/database.js';

/**
 * Where each tier of data begins: retention (lifecycle/retention.ts) deletes what is older, and raises these in
 * the same transaction; readers take them from their own snapshot. Epoch µs; 0: nothing was deleted yet.
 * - `raw`: the master dataset (hour-aligned). Batch views of older hours are final: the files they came from are
 *   gone, so no batch run recomputes them.
 * - `minute`, `hour`, `day`: the batch views of each step (minute: hour-aligned; hour and day: day-aligned). A
 *   window reaching further back is answered from the next coarser step, and says so (serving/coverage.ts).
 */
export interface Horizons {
  readonly raw: number;
  readonly minute: number;
  readonly hour: number;
  readonly day: number;
}

const KEYS = { raw: 'raw_horizon', minute: 'minute_horizon', hour: 'hour_horizon', day: 'day_horizon' } as const;

export async function readHorizons(conn: DuckDBConnection): Promise<Horizons> {
  return horizonsOf(await readAllMeta(conn));
}

/** From the meta values (readAllMeta). */
export function horizonsOf(meta: Map<MetaKey, number>): Horizons {
  return { raw: meta.get(KEYS.raw) ?? 0, minute: meta.get(KEYS.minute) ?? 0, hour: meta.get(KEYS.hour) ?? 0, day: meta.get(KEYS.day) ?? 0 };
}

/** Records `next` on `conn` (inside the caller's transaction). */
export async function saveHorizons(conn: DuckDBConnection, next: Horizons): Promise<void> {
  for (const [tier, key] of Object.entries(KEYS) as [keyof Horizons, (typeof KEYS)[keyof Horizons]][]) await writeMeta(conn, key, next[tier]);
}
