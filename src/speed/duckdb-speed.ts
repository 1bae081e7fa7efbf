import { type DuckDBConnection, LIST, listValue, VARCHAR } from '@duckdb/node-api';
import type { HealthMessage } from '../core/message.js';
import { type AbsorbedState, absorbedParams, absorbedSql, notAbsorbedFiles } from '../core/absorbed.js';
import { scrubMasterFiles, withScrub } from '../storage/quarantine.js';
import { Mutex, transaction } from '../serving/database.js';
import { minuteAggregate, quantize, readSegments, RESOURCES, rollup, SEGMENT_OF_FILENAME } from '../serving/view-sql.js';
import { absorbRows, type SpeedDeps, type SpeedLayer } from './speed-layer.js';

/**
 * Speed layer, DuckDB engine: accepted messages are folded, as they arrive, into minute aggregates in memory
 * (one row per service, minute and segment: the count, and the sum, min, max and peak time of each resource
 * in micro-units, computed as the SQL of the batch views computes them), and every tick merges those rows
 * into `rt_minute` (see speed-layer.ts for the contract). A message costs a map lookup and a few additions;
 * DuckDB sees a few rows per service a tick instead of parsing every line again.
 */

const MERGE_ON_CONFLICT = [
  'n = n + excluded.n',
  ...RESOURCES.map(
    (r) => `${r}_sum = ${r}_sum + excluded.${r}_sum, ${r}_min = least(${r}_min, excluded.${r}_min),
    ${r}_max = greatest(${r}_max, excluded.${r}_max),
    ${r}_peak = CASE WHEN excluded.${r}_max > ${r}_max OR (excluded.${r}_max = ${r}_max AND excluded.${r}_peak < ${r}_peak)
      THEN excluded.${r}_peak ELSE ${r}_peak END`,
  ),
].join(',\n    ');

/** Segment lines from files whose names carry the segment id, with that id as a column. */
const SEGMENT_ROWS = `(SELECT *, ${SEGMENT_OF_FILENAME} AS seg FROM ${readSegments()})`;

// Rows of a failed tick are appended again with the next one's, so one key may come twice: merged first.
const MERGE_INCOMING = `INSERT INTO rt_minute ${rollup('rt_incoming', 'service, bucket, seg')}
ON CONFLICT (service, bucket, seg) DO UPDATE SET ${MERGE_ON_CONFLICT}`;

const MINUTE_US = 60_000_000;
/** What a pending row is taken to cost in memory, for `pendingBytes`. */
const ROW_BYTES = 200;

/** One service's minute in one segment, as `minuteAggregate` computes it (the unit tests hold the two together). */
export class MinuteRow {
  n = 0;
  cpuSum = 0;
  cpuMin = Number.POSITIVE_INFINITY;
  cpuMax = Number.NEGATIVE_INFINITY;
  cpuPeak = 0;
  ramSum = 0;
  ramMin = Number.POSITIVE_INFINITY;
  ramMax = Number.NEGATIVE_INFINITY;
  ramPeak = 0;
  diskSum = 0;
  diskMin = Number.POSITIVE_INFINITY;
  diskMax = Number.NEGATIVE_INFINITY;
  diskPeak = 0;

  constructor(
    readonly service: string,
    readonly bucket: number,
    readonly seg: number,
  ) {}

  add(m: HealthMessage): void {
    const ts = m.ts;
    const cpu = quantize(m.cpu);
    const ram = quantize(((m.ramTotal - m.ramFree) / m.ramTotal) * 100);
    const disk = quantize(((m.diskTotal - m.diskFree) / m.diskTotal) * 100);
    this.n++;
    this.cpuSum += cpu;
    this.ramSum += ram;
    this.diskSum += disk;
    if (cpu < this.cpuMin) this.cpuMin = cpu;
    if (ram < this.ramMin) this.ramMin = ram;
    if (disk < this.diskMin) this.diskMin = disk;
    // Peak: the earliest time the maximum was reached.
    if (cpu > this.cpuMax || (cpu === this.cpuMax && ts < this.cpuPeak)) {
      this.cpuMax = cpu;
      this.cpuPeak = ts;
    }
    if (ram > this.ramMax || (ram === this.ramMax && ts < this.ramPeak)) {
      this.ramMax = ram;
      this.ramPeak = ts;
    }
    if (disk > this.diskMax || (disk === this.diskMax && ts < this.diskPeak)) {
      this.diskMax = disk;
      this.diskPeak = ts;
    }
  }

  /** The row's columns in `rt_minute` order. */
  columns(): [string, ...number[]] {
    return [
      this.service,
      this.bucket,
      this.seg,
      this.n,
      this.cpuSum,
      this.cpuMin,
      this.cpuMax,
      this.cpuPeak,
      this.ramSum,
      this.ramMin,
      this.ramMax,
      this.ramPeak,
      this.diskSum,
      this.diskMin,
      this.diskMax,
      this.diskPeak,
    ];
  }
}

/** The rows of the minutes a tick has not merged yet, by service; the newest used first (most messages go there). */
class Pending {
  readonly byService = new Map<string, MinuteRow[]>();
  rows = 0;
  messages = 0;

  add(m: HealthMessage, segment: number): void {
    const bucket = Math.floor(m.ts / MINUTE_US) * MINUTE_US;
    let list = this.byService.get(m.service);
    if (!list) {
      list = [];
      this.byService.set(m.service, list);
    }
    let row = list[list.length - 1];
    if (!row || row.bucket !== bucket || row.seg !== segment) {
      row = list.find((r) => r.bucket === bucket && r.seg === segment) ?? this.newRow(list, m.service, bucket, segment);
    }
    row.add(m);
    this.messages++;
  }

  private newRow(list: MinuteRow[], service: string, bucket: number, seg: number): MinuteRow {
    const row = new MinuteRow(service, bucket, seg);
    list.push(row);
    this.rows++;
    return row;
  }

  *all(): Generator<MinuteRow> {
    for (const rows of this.byService.values()) yield* rows;
  }
}

export class DuckDBSpeedLayer implements SpeedLayer {
  readonly engine = 'duckdb';
  private pending = new Pending();
  /** Rows of failed ticks, and their messages: appended again with the next tick's. */
  private unmerged: MinuteRow[] = [];
  private unmergedMessages = 0;
  /** The last merge failed (a full disk, the database refusing writes). */
  private failing = false;
  private readonly lock = new Mutex();

  private constructor(
    private readonly conn: DuckDBConnection,
    private readonly sources: SpeedDeps,
  ) {}

  static async create(deps: SpeedDeps): Promise<DuckDBSpeedLayer> {
    const conn = await deps.db.connect();
    await conn.run('CREATE TEMP TABLE rt_incoming AS SELECT * FROM rt_minute LIMIT 0');
    return new DuckDBSpeedLayer(conn, deps);
  }

  push(msg: HealthMessage, segment: number): void {
    this.pending.add(msg, segment);
  }

  get pendingBytes(): number {
    return (this.pending.rows + this.unmerged.length) * ROW_BYTES;
  }

  /** Between working ticks what waits is a few rows per service; only a failing tick makes it grow. */
  accepts(maxBytes: number): boolean {
    return !this.failing || this.pendingBytes <= maxBytes;
  }

  tick(): Promise<number> {
    return this.lock.run(() => this.merge());
  }

  drained<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run(async () => {
      await this.merge();
      return fn();
    });
  }

  /** Appends the pending rows to a temporary table and merges them into `rt_minute` in one statement. */
  private async merge(): Promise<number> {
    const rows = [...this.unmerged, ...this.pending.all()];
    if (rows.length === 0) return 0;
    const messages = this.unmergedMessages + this.pending.messages;
    this.pending = new Pending();
    try {
      const appender = await this.conn.createAppender('rt_incoming');
      for (const row of rows) {
        const [service, ...numbers] = row.columns();
        appender.appendVarchar(service);
        for (const v of numbers) appender.appendBigInt(BigInt(v));
        appender.endRow();
      }
      appender.closeSync();
      await transaction(this.conn, async () => {
        await this.conn.run(MERGE_INCOMING);
        await this.conn.run('DELETE FROM rt_incoming');
      });
      this.failing = false;
      this.unmerged = [];
      this.unmergedMessages = 0;
    } catch (err) {
      this.failing = true;
      await this.conn.run('DELETE FROM rt_incoming').catch(() => undefined);
      // Kept for the next tick: the realtime views never silently miss data.
      this.unmerged = rows;
      this.unmergedMessages = messages;
      throw err;
    }
    return messages;
  }

  /**
   * From the master files not absorbed (staged locally by the store) and every local segment. Unreadable
   * records in either are quarantined and the rebuild done again.
   */
  async rebuild(): Promise<number> {
    const { store, localFiles, quarantine } = this.sources;
    const absorbed = this.sources.absorbed.current();
    const inputs = async () => notAbsorbedFiles(await store.list(), absorbed);
    return withScrub(
      async () => {
        const staged = await store.stage(await inputs());
        try {
          return await this.load([...staged.paths, ...(await localFiles())], absorbed);
        } finally {
          await staged.release();
        }
      },
      async () => (await scrubMasterFiles(store, await inputs(), quarantine)) + (await this.sources.scrubLocalFiles()),
      quarantine.log,
    );
  }

  private load(paths: string[], absorbed: AbsorbedState): Promise<number> {
    return this.lock.run(async () => {
      await transaction(this.conn, async () => {
        await this.conn.run('DELETE FROM rt_minute');
        if (paths.length === 0) return;
        await this.conn.run(
          `INSERT INTO rt_minute ${minuteAggregate(SEGMENT_ROWS, ['seg'], `NOT ${absorbedSql('ts')}`)}`,
          { files: listValue(paths), ...absorbedParams(absorbed) },
          { files: LIST(VARCHAR) },
        );
      });
      const rows = (await this.conn.runAndReadAll('SELECT CAST(coalesce(sum(n), 0) AS BIGINT) FROM rt_minute')).getRows();
      return Number(rows[0][0]);
    });
  }

  absorb(conn: DuckDBConnection, now: AbsorbedState): Promise<void> {
    return absorbRows(conn, now);
  }

  async close(): Promise<void> {
    await this.lock.run(async () => this.conn.closeSync());
  }
}
