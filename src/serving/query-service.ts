import { type DuckDBConnection, type DuckDBPreparedStatement, type DuckDBType, type DuckDBValue, LIST, listValue, VARCHAR } from '@duckdb/node-api';
import { type Bucket, type Resource, type ServiceSeries, type ServiceStats, type Step, UserError } from '../api.js';
import { ceilTo, floorTo, MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_MINUTE } from '../core/time.js';
import { type BucketRange, decompose } from './bucket-decomposition.js';
import { Absorbed } from '../core/absorbed.js';
import { type Horizons, horizonsOf } from '../core/horizons.js';
import { coverWindow, resolutionAt, STEP_US } from './coverage.js';
import { roundDerived } from '../core/derived-precision.js';
import { type Database, interruptAfter, Mutex, queryTimeout, readAllMeta, transaction } from './database.js';
import { AGG_COLUMNS, MERGE_AGGREGATES, MICRO, RESOURCES } from './view-sql.js';

/**
 * Answers over the merged views. A window [from, to) is widened to whole minutes (from rounded down,
 * to rounded up), split at the watermark W: batch views answer [from, min(to, W)) through the coarsest
 * aligned buckets, realtime views answer everything in the window they hold (ts >= W, plus late rows the
 * batch has not absorbed yet). Each answer reads W and both layers in one DuckDB snapshot.
 */

const STEP_OF_US = new Map<number, Step>(Object.entries(STEP_US).map(([step, us]) => [us, step as Step]));
const STEP_TABLE: Record<Step, string> = { MINUTE: 'batch_minute', HOUR: 'batch_hour', DAY: 'batch_day' };

/** Most buckets one `series` call returns. */
export const MAX_SERIES_BUCKETS = 20_000;

const COLS = AGG_COLUMNS.join(', ');
const range = (slot: string) => `bucket >= $${slot}a AND bucket < $${slot}b`;

/**
 * The batch part of a window as bucket-range slots: one day, two hour and two minute ranges, one arm each. A
 * plain range per arm is pushed into the table scan, where the zone maps skip every row group outside it (the
 * views are written in time order); an OR of two ranges is not, and scanned the whole minute view.
 */
const batchParts = (key: string, filter: string, withDays: boolean) =>
  [
    ...(withDays ? [['batch_day', 'd0']] : []),
    ['batch_hour', 'h0'],
    ['batch_hour', 'h1'],
    ['batch_minute', 'm0'],
    ['batch_minute', 'm1'],
  ]
    .map(([table, slot]) => `SELECT ${key}, 1 AS b, ${COLS} FROM ${table} WHERE ${filter}${range(slot)}`)
    .join('\n  UNION ALL ');

/** All services, or the one named $svc: two statements, so that the service filter is pushed down too. */
const statsSql = (filter: string) => `WITH parts AS (${batchParts('service', filter, true)}
  UNION ALL SELECT service, 0, ${COLS} FROM rt_minute WHERE ${filter}bucket >= $from AND bucket < $to
)
SELECT service, CAST(coalesce(sum(n) FILTER (WHERE b = 1), 0) AS BIGINT) AS batch_n, ${MERGE_AGGREGATES}
FROM parts GROUP BY service ORDER BY service`;

const STATS_ALL = statsSql('');
const STATS_ONE = statsSql('service = $svc AND ');

/**
 * Series: whole buckets below W from the view of the step, or, where retention has thinned it, from the next
 * coarser view held (hour rows below the minute horizon $mh, day rows below the hour horizon $hh); the bucket
 * holding W from finer batch pieces up to W; the realtime rows. Each row lands in the bucket of its resolution
 * at its time (the step, or coarser below a horizon), so both layers always aggregate the same span.
 */
const seriesSql = (step: Step) => {
  const parts = [
    `SELECT bucket, 1 AS b, ${COLS} FROM ${STEP_TABLE[step]}
    WHERE service = $svc AND bucket >= greatest($from, $${step === 'MINUTE' ? 'mh' : step === 'HOUR' ? 'hh' : 'dh'}) AND bucket < $to AND bucket + $step <= $w`,
  ];
  if (step === 'MINUTE') parts.push(`SELECT bucket, 1, ${COLS} FROM batch_hour WHERE service = $svc AND bucket >= greatest($fromh, $hh) AND bucket < least($to, $mh)`);
  if (step !== 'DAY') parts.push(`SELECT bucket, 1, ${COLS} FROM batch_day WHERE service = $svc AND bucket >= greatest($fromd, $dh) AND bucket < least($to, $hh)`);
  parts.push(batchParts('bucket', 'service = $svc AND ', false));
  parts.push(`SELECT bucket, 0, ${COLS} FROM rt_minute WHERE service = $svc AND bucket >= $rfrom AND bucket < $rto`);
  const res = `greatest($step, CASE WHEN bucket < $hh THEN ${MICROS_PER_DAY} WHEN bucket < $mh THEN ${MICROS_PER_HOUR} ELSE ${MICROS_PER_MINUTE} END)`;
  return `WITH parts AS (
  ${parts.join('\n  UNION ALL ')}
)
SELECT start, res, CAST(coalesce(sum(n) FILTER (WHERE b = 1), 0) AS BIGINT) AS batch_n, ${MERGE_AGGREGATES}
FROM (SELECT bucket // ${res} * ${res} AS start, ${res} AS res, * EXCLUDE (bucket) FROM parts)
GROUP BY start, res ORDER BY start`;
};

/** Each step's statement, and the parameters it names (DuckDB refuses a parameter its statement does not name). */
const SERIES: Record<Step, { sql: string; names: Set<string> }> = Object.fromEntries(
  (['MINUTE', 'HOUR', 'DAY'] as const).map((step) => {
    const sql = seriesSql(step);
    return [step, { sql, names: new Set([...sql.matchAll(/\$(\w+)/g)].map((m) => m[1])) }];
  }),
) as Record<Step, { sql: string; names: Set<string> }>;

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
  private readonly prepared = new Map<string, DuckDBPreparedStatement>();

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
  snapshot<T>(fn: (view: { conn: DuckDBConnection; watermark: number; horizons: Horizons }) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.timeoutMs;
    return this.lock.run(async () => {
      const left = deadline - Date.now();
      // Its time went in waiting for the connection: do not start what would be interrupted at once.
      if (left <= 0) throw queryTimeout(this.timeoutMs);
      return transaction(this.conn, () =>
        interruptAfter(this.conn, left, this.timeoutMs, async () => {
          const meta = await readAllMeta(this.conn);
          return fn({ conn: this.conn, watermark: Absorbed.of(meta).watermark ?? 0, horizons: horizonsOf(meta) });
        }),
      );
    });
  }

  async stats(fromUs: number, toUs: number, service?: string): Promise<ServiceStats[]> {
    const [alignedFrom, alignedTo] = alignWindow(fromUs, toUs);
    return this.snapshot(async ({ watermark: w, horizons }) => {
      const { from, to, resolution } = coverWindow(alignedFrom, alignedTo, w, horizons);
      const params = { ...slots(decompose(from, Math.min(to, w)), true), from: BigInt(from), to: BigInt(to) };
      const rows = service === undefined ? await this.read(STATS_ALL, params) : await this.read(STATS_ONE, { ...params, svc: service }, { svc: VARCHAR });
      return rows.map((row) => {
        const n = Number(row.n);
        const batchCount = Number(row.batch_n);
        return { service: String(row.service), count: n, batchCount, realtimeCount: n - batchCount, ...resources(row, n), coveredFrom: from, coveredTo: to, resolution };
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
    return this.snapshot(async ({ watermark: w, horizons: h }) => {
      // The bucket holding W is answered by finer batch buckets up to W, plus the realtime rows.
      const partial = floorTo(w, stepUs);
      const pieces = partial < w && partial >= from && partial < to ? decompose(partial, w) : [];
      // The realtime rows of the buckets the batch rows answer: whole buckets of their resolution at each end.
      const spanAt = (t: number) => Math.max(stepUs, STEP_US[resolutionAt(t, h)]);
      const params = {
        ...slots(pieces, false),
        from: BigInt(from),
        to: BigInt(to),
        fromh: BigInt(floorTo(from, MICROS_PER_HOUR)),
        fromd: BigInt(floorTo(from, MICROS_PER_DAY)),
        rfrom: BigInt(floorTo(from, spanAt(from))),
        rto: BigInt(ceilTo(to, spanAt(to - 1))),
        mh: BigInt(h.minute),
        hh: BigInt(h.hour),
        dh: BigInt(h.day),
        step: BigInt(stepUs),
        w: BigInt(w),
        svc: service,
      };
      const { sql, names } = SERIES[step];
      const rows = await this.read(sql, Object.fromEntries(Object.entries(params).filter(([k]) => names.has(k))));
      return rows.map((row) => {
        const n = Number(row.n);
        return { start: Number(row.start), count: n, resolution: STEP_OF_US.get(Number(row.res))!, ...resources(row, n) };
      });
    });
  }

  async history(fromUs: number, toUs: number, services?: string[]): Promise<ServiceSeries[]> {
    const [from, to] = alignWindow(fromUs, toUs);
    if (to - from > MAX_HISTORY_US) throw new UserError('WINDOW_TOO_LARGE', `history covers at most ${MAX_HISTORY_US / MICROS_PER_HOUR} hours: use series`);
    return this.snapshot(async ({ watermark: w }) => {
      const params = { from: BigInt(from), to: BigInt(to), w: BigInt(w), all: services === undefined, svcs: listValue(services ?? []) };
      const rows = await this.read(HISTORY_SQL, params, { svcs: LIST(VARCHAR) });
      const out: ServiceSeries[] = [];
      for (const row of rows) {
        const service = String(row.service);
        if (out.at(-1)?.service !== service) out.push({ service, buckets: [] });
        const n = Number(row.n);
        out.at(-1)!.buckets.push({ start: Number(row.start), resolution: 'MINUTE', count: n, ...resources(row, n) });
      }
      return out;
    });
  }

  /**
   * Runs one of this service's statements, prepared once on the connection: DuckDB then parses, binds and plans
   * the long UNION of the views once, not on every call (about half of a `stats` call's time before).
   */
  private async read(sql: string, params: Record<string, DuckDBValue>, types?: Record<string, DuckDBType>): Promise<Row[]> {
    let statement = this.prepared.get(sql);
    if (!statement) {
      statement = await this.conn.prepare(sql);
      this.prepared.set(sql, statement);
    }
    statement.bind(params, types);
    return (await statement.runAndReadAll()).getRowObjects();
  }

  async close(): Promise<void> {
    await this.lock.run(async () => {
      for (const statement of this.prepared.values()) statement.destroySync();
      this.conn.closeSync();
    });
  }
}
