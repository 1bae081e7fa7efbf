import type { DuckDBConnection } from '@duckdb/node-api';
import type { AbsorbedState } from '../core/absorbed.js';
import { type Horizons, readHorizons, saveHorizons } from '../core/horizons.js';
import { floorTo, MICROS_PER_DAY, MICROS_PER_HOUR } from '../core/time.js';
import type { Logger } from '../log.js';
import { transaction } from '../serving/database.js';
import { byPartition, type MasterFile, type MasterStore } from '../storage/store.js';

/**
 * Retention, tier by tier (Netdata's tiers, Prometheus's `retention.time` and `.size`): the master dataset keeps
 * `raw` of history (and at most `sizeBytes`, oldest partitions first), the minute views `minute`, the hour views
 * `hour`, the day views `day` (0: kept). A partition goes only once the batch views hold it (below W, every file
 * of a segment the batch has read), so what leaves the master dataset is still answered by the views. The view
 * rows go with the tiers' new horizons in one transaction (core/horizons.ts); a tier never drops the step that
 * holds W, which answers the part of a window just before it.
 */

export interface RetentionOptions {
  rawUs: number;
  minuteUs: number;
  hourUs: number;
  /** 0: day views are kept. */
  dayUs: number;
  /** 0: no bound on the master dataset's size. */
  sizeBytes: number;
}

export interface RetentionResult {
  /** Partitions that left the master dataset, oldest first (`date=.../hour=..`). */
  partitions: string[];
  files: number;
  bytes: number;
  minuteRows: number;
  hourRows: number;
  dayRows: number;
  /** Where each tier begins now. */
  horizons: Horizons;
}

export interface RetentionDeps {
  conn: DuckDBConnection;
  store: MasterStore;
  absorbed: AbsorbedState;
  options: RetentionOptions;
  /** Epoch µs. */
  now: number;
  log: Logger;
}

/** Partitions the batch views hold entirely, by partition, oldest first. */
function absorbedPartitions(files: MasterFile[], absorbed: AbsorbedState): MasterFile[][] {
  const w = absorbed.watermark ?? Number.NEGATIVE_INFINITY;
  const read = absorbed.segment ?? -1;
  return byPartition(files).filter((fs) => fs[0].hour + MICROS_PER_HOUR <= w && fs.every((f) => f.segment <= read));
}

const sum = (files: MasterFile[]) => files.reduce((n, f) => n + f.bytes, 0);

export async function applyRetention(deps: RetentionDeps): Promise<RetentionResult> {
  const { store, conn, options: o, now, log } = deps;
  const before = await readHorizons(conn);
  const files = await store.list();
  const candidates = absorbedPartitions(files, deps.absorbed);
  const rawCut = floorTo(now - o.rawUs, MICROS_PER_HOUR);
  const doomed = candidates.filter((p) => p[0].hour + MICROS_PER_HOUR <= rawCut);
  if (o.sizeBytes > 0) {
    let total = sum(files) - doomed.reduce((n, p) => n + sum(p), 0);
    for (const p of candidates.slice(doomed.length)) {
      if (total <= o.sizeBytes) break;
      doomed.push(p);
      total -= sum(p);
    }
    if (total > o.sizeBytes) log.warn({ bytes: total, limit: o.sizeBytes }, 'retention: the master dataset is over --retention-size, but what is left is not in the batch views yet');
  }
  const waiting = files.filter((f) => f.hour + MICROS_PER_HOUR <= rawCut).length - doomed.reduce((n, p) => n + p.length, 0);
  if (waiting > 0) log.warn({ files: waiting }, 'retention: files past --retention-raw wait until a batch run holds them in its views');

  const w = deps.absorbed.watermark ?? 0;
  const cut = Math.max(rawCut, (doomed.at(-1)?.[0].hour ?? Number.NEGATIVE_INFINITY) + MICROS_PER_HOUR);
  // Not past a partition that stays (one the batch has yet to absorb): its hours must still be recomputed.
  const gone = new Set(doomed.map((p) => p[0].partition));
  const oldestLeft = files.reduce((min, f) => (gone.has(f.partition) ? min : Math.min(min, f.hour)), Number.POSITIVE_INFINITY);
  const horizons: Horizons = {
    raw: Math.max(before.raw, Math.min(cut, oldestLeft)),
    minute: Math.max(before.minute, Math.min(floorTo(now - o.minuteUs, MICROS_PER_HOUR), floorTo(w, MICROS_PER_HOUR))),
    hour: o.hourUs > 0 ? Math.max(before.hour, Math.min(floorTo(now - o.hourUs, MICROS_PER_DAY), floorTo(w, MICROS_PER_DAY))) : before.hour,
    day: o.dayUs > 0 ? Math.max(before.day, Math.min(floorTo(now - o.dayUs, MICROS_PER_DAY), floorTo(w, MICROS_PER_DAY))) : before.day,
  };
  const result: RetentionResult = { partitions: [], files: 0, bytes: 0, minuteRows: 0, hourRows: 0, dayRows: 0, horizons };
  // The horizons first: from then on no batch run recomputes those hours, so their views stand for the files.
  await transaction(conn, async () => {
    const del = async (table: string, below: number) =>
      Number((await conn.runAndReadAll(`DELETE FROM ${table} WHERE bucket < $below`, { below: BigInt(below) })).getRows()[0]?.[0] ?? 0);
    result.minuteRows = await del('batch_minute', horizons.minute);
    result.hourRows = await del('batch_hour', horizons.hour);
    result.dayRows = await del('batch_day', horizons.day);
    await saveHorizons(conn, horizons);
  });
  for (const p of doomed) {
    await store.remove(p);
    result.partitions.push(p[0].partition);
    result.files += p.length;
    result.bytes += sum(p);
    log.info({ partition: p[0].partition, files: p.length, bytes: sum(p) }, 'retention: partition removed from the master dataset');
  }
  if (result.minuteRows + result.hourRows + result.dayRows > 0) {
    log.info({ minuteRows: result.minuteRows, hourRows: result.hourRows, dayRows: result.dayRows, horizons }, 'retention: view rows removed');
  }
  return result;
}
