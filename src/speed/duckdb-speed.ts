import { basename } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { segmentIdOf } from '../core/master-record.js';
import type { HealthMessage } from '../core/message.js';
import { type AbsorbedState, absorbedParams, absorbedSql, notAbsorbedFiles } from '../core/absorbed.js';
import { scrubMasterFiles, withScrub } from '../storage/quarantine.js';
import { Mutex, readMeta, transaction, writeMeta } from '../serving/database.js';
import { minuteAggregate, quantize, RESOURCES, recordSource, rollup } from '../serving/view-sql.js';
import { absorbRows, SPEED_PROGRESS, type SpeedDeps, type SpeedLayer } from './speed-layer.js';

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

/** One service's pending rows, by minute bucket (a bucket holds a row per segment it spans: almost always one). */
class ServiceRows {
  /** Where the last message went: the next one of the service almost always goes there too. */
  last: MinuteRow | undefined;
  readonly byBucket = new Map<number, MinuteRow[]>();
}

/** The rows of the minutes a tick has not merged yet, by service and minute: one lookup a message, however many. */
class Pending {
  readonly byService = new Map<string, ServiceRows>();
  rows = 0;
  messages = 0;

  add(m: HealthMessage, segment: number): void {
    const bucket = Math.floor(m.ts / MINUTE_US) * MINUTE_US;
    let service = this.byService.get(m.service);
    if (!service) {
      service = new ServiceRows();
      this.byService.set(m.service, service);
    }
    let row = service.last;
    if (!row || row.bucket !== bucket || row.seg !== segment) {
      const list = service.byBucket.get(bucket);
      row = list?.find((r) => r.seg === segment);
      if (!row) {
        row = new MinuteRow(m.service, bucket, segment);
        if (list) list.push(row);
        else service.byBucket.set(bucket, [row]);
        this.rows++;
      }
      service.last = row;
    }
    row.add(m);
    this.messages++;
  }

  *all(): Generator<MinuteRow> {
    for (const service of this.byService.values()) for (const rows of service.byBucket.values()) yield* rows;
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
  /** SPEED_PROGRESS as last written. */
  private progress = Number.NEGATIVE_INFINITY;
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
    // Every message of the segments sealed by now was pushed before this moment: it is in `rows`, or merged.
    const complete = this.sources.sealedUpTo();
    if (rows.length === 0) {
      if (complete > this.progress) await this.saveProgress(complete);
      return 0;
    }
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
        await writeMeta(this.conn, SPEED_PROGRESS, complete);
      });
      this.progress = complete;
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
   * The realtime views after a restart. They are kept in the DuckDB file with the last segment they hold in
   * full (SPEED_PROGRESS): the rows of later segments go, and those segments are read again, from the local
   * segments and the master files the batch has not absorbed: a minute or two of data, whatever the size of
   * the dataset. With `full` (or no progress saved), every row not absorbed is read again. Unreadable records
   * are quarantined and the rebuild done again. Only while nothing is pushed (at start).
   */
  async rebuild(opts: { full?: boolean } = {}): Promise<number> {
    const { store, localFiles, quarantine } = this.sources;
    const absorbed = this.sources.absorbed.current();
    const saved = opts.full ? null : await readMeta(this.conn, SPEED_PROGRESS);
    const after = saved ?? Number.NEGATIVE_INFINITY;
    const newer = (segment: number | undefined) => segment !== undefined && segment > after;
    const inputs = async () => notAbsorbedFiles(await store.list(), absorbed).filter((f) => newer(f.segment));
    return withScrub(
      async () => {
        const staged = await store.stage(await inputs());
        try {
          const local = (await localFiles()).filter((path) => newer(segmentIdOf(basename(path))));
          return await this.load([...staged.paths, ...local], absorbed, saved);
        } finally {
          await staged.release();
        }
      },
      async () => (await scrubMasterFiles(store, await inputs(), quarantine)) + (await this.sources.scrubLocalFiles()),
      quarantine.log,
    );
  }

  private load(paths: string[], absorbed: AbsorbedState, saved: number | null): Promise<number> {
    return this.lock.run(async () => {
      const complete = this.sources.sealedUpTo();
      await transaction(this.conn, async () => {
        if (saved === null) await this.conn.run('DELETE FROM rt_minute');
        else await this.conn.run('DELETE FROM rt_minute WHERE seg > $after', { after: BigInt(saved) });
        if (paths.length > 0) {
          const source = recordSource(paths);
          await this.conn.run(
            `INSERT INTO rt_minute ${minuteAggregate(source.sql, ['seg'], `NOT ${absorbedSql('ts')}`)}`,
            { ...source.params, ...absorbedParams(absorbed) },
            source.types,
          );
        }
        await writeMeta(this.conn, SPEED_PROGRESS, complete);
      });
      this.progress = complete;
      this.sources.log.info({ files: paths.length, after: saved, full: saved === null }, 'realtime views: read the segments after their saved progress');
      const rows = (await this.conn.runAndReadAll('SELECT CAST(coalesce(sum(n), 0) AS BIGINT) FROM rt_minute')).getRows();
      return Number(rows[0][0]);
    });
  }

  private async saveProgress(complete: number): Promise<void> {
    await writeMeta(this.conn, SPEED_PROGRESS, complete);
    this.progress = complete;
  }

  absorb(conn: DuckDBConnection, now: AbsorbedState): Promise<void> {
    return absorbRows(conn, now);
  }

  async close(): Promise<void> {
    await this.lock.run(async () => this.conn.closeSync());
  }
}
