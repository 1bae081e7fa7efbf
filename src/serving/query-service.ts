import { type DuckDBConnection, LIST, listValue, VARCHAR } from '@duckdb/node-api';
import { type Bucket, type Resource, type ServiceSeries, type ServiceStats, type Step, UserError } from '../api.js';
import { ceilTo, floorTo, MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_MINUTE } from '../core/time.js';
import { type BucketRange, decompose } from './bucket-decomposition.js';
import { Absorbed } from '../core/absorbed.js';
import { roundDerived } from '../core/derived-precision.js';
import { type Database, interruptAfter, Mutex, queryTimeout, transaction } from './database.js';
import { AGG_COLUMNS, MERGE_AGGREGATES, MICRO, RESOURCES } from './view-sql.js';

/**
 * Answers over the merged views. A window [from, to) is widened to whole minutes (from rounded down,
 * to rounded up), split at the watermark W: batch views answer [from, min(to, W)) through the coarsest
 * aligned buckets, realtime views answer everything in the window they hold (ts >= W, plus late rows the
 * batch has not absorbed yet). Each answer reads W and both layers in one DuckDB snapshot.
 */

const STEP_US: Record<Step, number> = { MINUTE: MICROS_PER_MINUTE, HOUR: MICROS_PER_HOUR, DAY: MICROS_PER_DAY };
const STEP_TABLE: Record<Step, string> = { MINUTE: 'batch_minute', HOUR: 'batch_hour', DAY: 'batch_day' };

/** Most buckets one `series` call returns. */
export const MAX_SERIES_BUCKETS = 20_000;

const COLS = AGG_COLUMNS.join(', ');
const range = (slot: string) => `(bucket >= $${slot}a AND bucket < $${slot}b)`;

/** The batch part of a window as bucket-range slots: one day, two hour and two minute ranges. */
const batchParts = (key: string, filter: string, withDays: boolean) =>
  [
    withDays ? `SELECT ${key}, 1 AS b, ${COLS} FROM batch_day WHERE ${filter} AND ${range('d0')}` : '',
    `SELECT ${key}, 1 AS b, ${COLS} FROM batch_hour WHERE ${filter} AND (${range('h0')} OR ${range('h1')})`,
    `SELECT ${key}, 1 AS b, ${COLS} FROM batch_minute WHERE ${filter} AND (${range('m0')} OR ${range('m1')})`,
  ]
    .filter(Boolean)
    .join('\n  UNION ALL ');

const SERVICE_FILTER = '($svc IS NULL OR service = $svc)';

const STATS_SQL = `WITH parts AS (${batchParts('service', SERVICE_FILTER, true)}
  UNION ALL SELECT service, 0, ${COLS} FROM rt_minute WHERE ${SERVICE_FILTER} AND bucket >= $from AND bucket < $to
)
SELECT service, CAST(coalesce(sum(n) FILTER (WHERE b = 1), 0) AS BIGINT) AS batch_n, ${MERGE_AGGREGATES}
FROM parts GROUP BY service ORDER BY service`;

const seriesSql = (step: Step) => `WITH parts AS (
  SELECT bucket AS start, 1 AS b, ${COLS} FROM ${STEP_TABLE[step]}
    WHERE service = $svc AND bucket >= $from AND bucket < $to AND bucket + $step <= $w
  UNION ALL ${batchParts('$pb AS start', 'service = $svc', false)}
  UNION ALL SELECT bucket // $step * $step, 0, ${COLS} FROM rt_minute WHERE service = $svc AND bucket >= $from AND bucket < $to
)
SELECT start, CAST(coalesce(sum(n) FILTER (WHERE b = 1), 0) AS BIGINT) AS batch_n, ${MERGE_AGGREGATES}
FROM parts GROUP BY start ORDER BY start`;

const SERIES_SQL: Record<Step, string> = { MINUTE: seriesSql('MINUTE'), HOUR: seriesSql('HOUR'), DAY: seriesSql('DAY') };

/** Minute buckets of many services at once (the dashboard's sparklines); batch minutes are whole, below W. */
const HISTORY_SQL = `WITH parts AS (
  SELECT service, bucket AS start, 1 AS b, ${COLS} FROM batch_minute
    WHERE bucket >= $from AND bucket < $to AND bucket < $w AND ($all OR service IN (SELECT unnest($svcs)))
  UNION ALL SELECT service, bucket, 0, ${COLS} FROM rt_minute
    WHERE bucket >= $from AND bucket < $to AND ($all OR service IN (SELECT unnest($svcs)))
)
SELECT service, start, ${MERGE_AGGREGATES} FROM parts GROUP BY service, start ORDER BY service, start`;

/** Longest window `history` answers. */
export const MAX_HISTORY_US = 6 * MICROS_PER_HOUR;

/** Fills the slot parameters from a decomposition; unused slots get empty ranges. */
function slots(pieces: BucketRange[], withDays: boolean): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  const next: Record<string, number> = { day: 0, hour: 0, minute: 0 };
  const prefix = { day: 'd', hour: 'h', minute: 'm' } as const;
  for (const p of pieces) {
    const slot = `${prefix[p.granularity]}${next[p.granularity]++}`;
    out[`${slot}a`] = BigInt(p.from);
    out[`${slot}b`] = BigInt(p.to);
  }
  for (const s of withDays ? ['d0', 'h0', 'h1', 'm0', 'm1'] : ['h0', 'h1', 'm0', 'm1']) {
    out[`${s}a`] ??= 0n;
    out[`${s}b`] ??= 0n;
  }
  return out;
}

type Row = Record<string, unknown>;

function resource(row: Row, r: string, n: number): Resource {
  return {
    // The mean is derived: to DERIVED_DIGITS, without the noise of the division. min and max are micro-units
    // over 1e6, already the double nearest their 6-decimal value.
    mean: roundDerived(Number(row[`${r}_sum`]) / n / MICRO),
    min: Number(row[`${r}_min`]) / MICRO,
    max: Number(row[`${r}_max`]) / MICRO,
    peakAt: Number(row[`${r}_peak`]),
  };
}

const resources = (row: Row, n: number) =>
  Object.fromEntries(RESOURCES.map((r) => [r, resource(row, r, n)])) as Pick<ServiceStats, 'cpu' | 'ram' | 'disk'>;

export function alignWindow(fromUs: number, toUs: number): [number, number] {
  if (!Number.isFinite(fromUs) || !Number.isFinite(toUs)) throw new UserError('BAD_WINDOW', 'from and to must be valid times');
  const from = floorTo(fromUs, MICROS_PER_MINUTE);
  const to = ceilTo(toUs, MICROS_PER_MINUTE);
  if (to <= from) throw new UserError('BAD_WINDOW', `empty window: to (${new Date(toUs / 1000).toISOString()}) must be after from`);
  return [from, to];
}

/** How long a read may take, waiting for the connection included, unless QueryServiceOptions says otherwise. */
export const DEFAULT_QUERY_TIMEOUT_MS = 10_000;

export interface QueryServiceOptions {
  /**
   * A read not answered this long after it was asked fails with QUERY_TIMEOUT; a statement still running then
   * is interrupted, so the connection (one for all readers) is free for the next. @default 10000
   */
  timeoutMs?: number;
}

export class QueryService {
  private readonly lock = new Mutex();

  private constructor(
    private readonly conn: DuckDBConnection,
    private readonly timeoutMs: number,
  ) {}

  static async create(db: Database, opts: QueryServiceOptions = {}): Promise<QueryService> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
    if (!(timeoutMs > 0)) throw new Error(`the query timeout must be positive (got ${timeoutMs} ms)`);
    return new QueryService(await db.connect(), timeoutMs);
  }

  /**
   * Runs reads in one snapshot: W and the views it splits are always consistent. The time limit counts from
   * the call, so reads queued behind a slow one do not pile up without bound either.
   */
  snapshot<T>(fn: (conn: DuckDBConnection, watermark: number) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.timeoutMs;
    return this.lock.run(async () => {
      const left = deadline - Date.now();
      // Its time went in waiting for the connection: do not start what would be interrupted at once.
      if (left <= 0) throw queryTimeout(this.timeoutMs);
      return transaction(this.conn, () =>
        interruptAfter(this.conn, left, this.timeoutMs, async () => fn(this.conn, (await Absorbed.read(this.conn)).watermark ?? 0)),
      );
    });
  }

  async stats(fromUs: number, toUs: number, service?: string): Promise<ServiceStats[]> {
    const [from, to] = alignWindow(fromUs, toUs);
    return this.snapshot(async (conn, w) => {
      const params = { ...slots(decompose(from, Math.min(to, w)), true), from: BigInt(from), to: BigInt(to), svc: service ?? null };
      const rows = (await conn.runAndReadAll(STATS_SQL, params, { svc: VARCHAR })).getRowObjects();
      return rows.map((row) => {
        const n = Number(row.n);
        const batchCount = Number(row.batch_n);
        return { service: String(row.service), count: n, batchCount, realtimeCount: n - batchCount, ...resources(row, n) };
      });
    });
  }

  async series(service: string, fromUs: number, toUs: number, step: Step): Promise<Bucket[]> {
    const stepUs = STEP_US[step];
    const [alignedFrom, alignedTo] = alignWindow(fromUs, toUs);
    const from = floorTo(alignedFrom, stepUs);
    const to = ceilTo(alignedTo, stepUs);
    if ((to - from) / stepUs > MAX_SERIES_BUCKETS) {
      throw new UserError('WINDOW_TOO_LARGE', `${(to - from) / stepUs} buckets requested; at most ${MAX_SERIES_BUCKETS}: use a coarser step`);
    }
    return this.snapshot(async (conn, w) => {
      // The bucket holding W is answered by finer batch buckets up to W, plus the realtime rows.
      const partial = floorTo(w, stepUs);
      const pieces = partial < w && partial >= from && partial < to ? decompose(partial, w) : [];
      const params = { ...slots(pieces, false), pb: BigInt(partial), from: BigInt(from), to: BigInt(to), step: BigInt(stepUs), w: BigInt(w), svc: service };
      const rows = (await conn.runAndReadAll(SERIES_SQL[step], params)).getRowObjects();
      return rows.map((row) => {
        const n = Number(row.n);
        return { start: Number(row.start), count: n, ...resources(row, n) };
      });
    });
  }

  async history(fromUs: number, toUs: number, services?: string[]): Promise<ServiceSeries[]> {
    const [from, to] = alignWindow(fromUs, toUs);
    if (to - from > MAX_HISTORY_US) throw new UserError('WINDOW_TOO_LARGE', `history covers at most ${MAX_HISTORY_US / MICROS_PER_HOUR} hours: use series`);
    return this.snapshot(async (conn, w) => {
      const params = { from: BigInt(from), to: BigInt(to), w: BigInt(w), all: services === undefined, svcs: listValue(services ?? []) };
      const rows = (await conn.runAndReadAll(HISTORY_SQL, params, { svcs: LIST(VARCHAR) })).getRowObjects();
      const out: ServiceSeries[] = [];
      for (const row of rows) {
        const service = String(row.service);
        if (out.at(-1)?.service !== service) out.push({ service, buckets: [] });
        const n = Number(row.n);
        out.at(-1)!.buckets.push({ start: Number(row.start), count: n, ...resources(row, n) });
      }
      return out;
    });
  }

  async close(): Promise<void> {
    await this.lock.run(async () => this.conn.closeSync());
  }
}
