import { storedSummary, summarizeError } from '../core/error-code.js';
import { randomUUID } from 'node:crypto';
import { BIGINT, type DuckDBConnection, LIST, listValue } from '@duckdb/node-api';
import type { BatchRun } from '../api.js';
import { floorTo, MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_MINUTE } from '../core/time.js';
import type { Logger } from '../log.js';
import { type Quarantine, scrubMasterFiles, withScrub } from '../storage/quarantine.js';
import type { MasterFile, MasterStore } from '../storage/store.js';
import type { BatchEngine } from './engine.js';
import { Absorbed, type AbsorbedState } from '../core/absorbed.js';
import { type Database, Mutex, transaction } from '../serving/database.js';
import { type Horizons, readHorizons } from '../core/horizons.js';
import type { SpeedLayer } from '../speed/speed-layer.js';
import { AGG_COLUMN_DDL, rollup } from '../serving/view-sql.js';

/**
 * The batch layer. A run: seal and ship the write-ahead segments, fix W = floor_to_minute(seal time -
 * allowed lateness), recompute the minute views of the hour partitions that changed (or all of them),
 * then in ONE transaction swap in the minute/hour/day views, record W, and have the speed layer expire the
 * realtime rows the run absorbed. Any failure before the commit changes nothing.
 */

export interface BatchLayerDeps {
  db: Database;
  store: MasterStore;
  engine: BatchEngine;
  speed: SpeedLayer;
  /** Seals the open segment and ships every sealed one; resolves with the highest shipped segment id. */
  sealAndShip(): Promise<number>;
  /** W and the segment the views hold: this layer is the only one that advances them. */
  absorbed: Absorbed;
  allowedLatenessUs: number;
  /** Where unreadable master records go when an engine fails on them. */
  quarantine: Quarantine;
  now?: () => number;
  log: Logger;
}

export class BatchLayer {
  private conn!: DuckDBConnection;
  private running?: Promise<BatchRun>;
  private readonly lock = new Mutex();
  /** The run in progress, with the engine's progress: shown before it is recorded as finished. */
  private current?: BatchRun;

  constructor(private readonly deps: BatchLayerDeps) {}

  async start(): Promise<void> {
    this.conn = await this.deps.db.connect();
    // A run interrupted by a crash never committed: record it as failed rather than running forever.
    await this.conn.run(`UPDATE batch_runs SET status = 'FAILED', error = '${summarizeError(null, 'INTERRUPTED').text}' WHERE status = 'RUNNING'`);
  }

  get watermark(): number | null {
    return this.deps.absorbed.current().watermark;
  }

  /** Runs a batch; a call while one runs joins it instead of starting another. */
  run(opts: { full?: boolean } = {}): Promise<BatchRun> {
    this.running ??= this.lock.run(() => this.execute(opts.full === true)).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /**
   * Runs `fn` with no batch run under way, and none starting until it ends: what changes the master files an
   * engine lists and reads (compaction, retention) runs here.
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run(fn);
  }

  get isRunning(): boolean {
    return this.running !== undefined;
  }

  private async execute(forceFull: boolean): Promise<BatchRun> {
    const { engine, store, log } = this.deps;
    const now = this.deps.now ?? (() => Date.now() * 1000);
    const absorbed = this.deps.absorbed.current();
    const full = forceFull || absorbed.segment === null;
    const run: BatchRun = {
      id: randomUUID(),
      engine: engine.name,
      status: 'RUNNING',
      mode: full ? 'FULL' : 'INCREMENTAL',
      startedAt: now(),
      finishedAt: null,
      watermark: null,
      records: null,
      partitions: null,
      error: null,
      errorCode: null,
      mapProgress: null,
      reduceProgress: null,
    };
    this.current = run;
    await this.conn.run('INSERT INTO batch_runs VALUES ($id, $engine, $mode, $status, $started, NULL, NULL, NULL, NULL, NULL)', {
      id: run.id,
      engine: run.engine,
      mode: run.mode,
      status: run.status,
      started: BigInt(run.startedAt),
    });
    try {
      const shippedUpTo = await this.deps.sealAndShip();
      const sealTime = now();
      const previousW = absorbed.watermark;
      const watermark = Math.max(previousW ?? 0, floorTo(sealTime - this.deps.allowedLatenessUs, MICROS_PER_MINUTE));
      let inputs: MasterFile[] = [];
      // Hours before the raw horizon left the master dataset: their views are final (core/horizons.ts).
      const horizons = await readHorizons(this.conn);
      const compute = async () => {
        const files = (await store.list()).filter((f) => f.segment <= shippedUpTo && f.hour >= horizons.raw);
        const hours = new Set<number>();
        for (const f of files) {
          const newData = full || f.segment > (absorbed.segment ?? -1);
          // Hours that W moved across had rows held back last time: they are recomputed too.
          const crossed = previousW !== null && f.hour + MICROS_PER_HOUR > previousW && f.hour < watermark;
          if (newData || crossed) hours.add(f.hour);
        }
        await this.conn.run(`CREATE OR REPLACE TEMP TABLE stage_minute (service VARCHAR, bucket BIGINT, ${AGG_COLUMN_DDL})`);
        inputs = files.filter((f) => hours.has(f.hour));
        await engine.computeMinutes(this.conn, inputs, watermark, (map, reduce) => this.progress(map, reduce));
        return [...hours].sort((a, b) => a - b);
      };
      // One unreadable record never fails the run: it is quarantined and the engine runs again.
      const affected = await withScrub(compute, () => scrubMasterFiles(store, inputs, this.deps.quarantine), log);
      const days = [...new Set(affected.map((h) => floorTo(h, MICROS_PER_DAY)))];
      const next: AbsorbedState = { watermark, segment: shippedUpTo };
      const records = Number((await this.conn.runAndReadAll('SELECT coalesce(sum(n), 0) FROM stage_minute')).getRows()[0][0]);
      await this.deps.speed.drained(() =>
        transaction(this.conn, async () => {
          await this.swap(full, affected, days, horizons);
          await Absorbed.save(this.conn, next);
          await this.deps.speed.absorb(this.conn, next);
          Object.assign(run, { status: 'SUCCEEDED', finishedAt: now(), watermark, records, partitions: affected.length });
          await this.record(run);
        }),
      );
      this.deps.absorbed.set(next);
      log.info({ run: run.id, mode: run.mode, watermark, records, partitions: affected.length, ms: (run.finishedAt! - run.startedAt) / 1000 }, 'batch run succeeded');
    } catch (err) {
      const failure = summarizeError(err, 'ENGINE_FAILED');
      Object.assign(run, { status: 'FAILED', finishedAt: now(), error: failure.text, errorCode: failure.code });
      log.error({ err, run: run.id }, 'batch run failed; previous views and watermark stay');
      await this.record(run).catch((e) => log.error({ err: e }, 'could not record the failed batch run'));
    } finally {
      this.current = undefined;
      await this.conn.run('DROP TABLE IF EXISTS stage_minute').catch(() => undefined);
    }
    return run;
  }

  /** How far the running engine job is (MapReduce: map and reduce percent), shown in `lastRun`. */
  private progress(mapPct: number, reducePct: number): void {
    if (this.current) Object.assign(this.current, { mapProgress: mapPct, reduceProgress: reducePct });
  }

  /**
   * The new views replace the old ones for the hours recomputed (all of them from the raw horizon on, when
   * full): minutes from `stage_minute` (from the minute horizon on: older ones would go at the next retention),
   * hours rolled up from it, days from the hours.
   */
  private async swap(full: boolean, hours: number[], days: number[], horizons: Horizons): Promise<void> {
    const c = this.conn;
    const params = { hours: listValue(hours.map(BigInt)), days: listValue(days.map(BigInt)) };
    const types = { hours: LIST(BIGINT), days: LIST(BIGINT) };
    const inHours = `bucket // ${MICROS_PER_HOUR} * ${MICROS_PER_HOUR} IN (SELECT unnest($hours))`;
    const inDays = `bucket // ${MICROS_PER_DAY} * ${MICROS_PER_DAY} IN (SELECT unnest($days))`;
    const rawDay = floorTo(horizons.raw, MICROS_PER_DAY);
    if (full) {
      const from = { raw: BigInt(horizons.raw), day: BigInt(rawDay) };
      await c.run('DELETE FROM batch_minute WHERE bucket >= $raw', { raw: from.raw });
      await c.run('DELETE FROM batch_hour WHERE bucket >= $raw', { raw: from.raw });
      await c.run('DELETE FROM batch_day WHERE bucket >= $day', { day: from.day });
    } else {
      await c.run(`DELETE FROM batch_minute WHERE ${inHours}`, { hours: params.hours }, { hours: types.hours });
      await c.run(`DELETE FROM batch_hour WHERE ${inHours}`, { hours: params.hours }, { hours: types.hours });
      await c.run(`DELETE FROM batch_day WHERE ${inDays}`, { days: params.days }, { days: types.days });
    }
    // Sorted by time: DuckDB's zone maps then skip whole row groups for a window's range.
    await c.run('INSERT INTO batch_minute SELECT * FROM stage_minute WHERE bucket >= $m ORDER BY bucket, service', { m: BigInt(horizons.minute) });
    await c.run(`INSERT INTO batch_hour ${rollup('stage_minute', `service, bucket // ${MICROS_PER_HOUR} * ${MICROS_PER_HOUR} AS bucket`)} ORDER BY bucket, service`);
    if (full) {
      // Every day from the raw horizon's: its hours before the horizon are kept views, the rest were just made.
      await c.run(`INSERT INTO batch_day ${rollup('batch_hour', `service, bucket // ${MICROS_PER_DAY} * ${MICROS_PER_DAY} AS bucket`, 'bucket >= $day')} ORDER BY bucket, service`, {
        day: BigInt(rawDay),
      });
    } else {
      await c.run(
        `INSERT INTO batch_day ${rollup('batch_hour', `service, bucket // ${MICROS_PER_DAY} * ${MICROS_PER_DAY} AS bucket`, inDays)} ORDER BY bucket, service`,
        { days: params.days },
        { days: types.days },
      );
    }
  }

  private async record(run: BatchRun): Promise<void> {
    await this.conn.run(
      'UPDATE batch_runs SET status = $status, finished_at = $fin, watermark = $w, records = $rec, partitions = $parts, error = $err WHERE id = $id',
      {
        id: run.id,
        status: run.status,
        fin: run.finishedAt === null ? null : BigInt(run.finishedAt),
        w: run.watermark === null ? null : BigInt(run.watermark),
        rec: run.records === null ? null : BigInt(run.records),
        parts: run.partitions === null ? null : BigInt(run.partitions),
        err: run.error,
      },
    );
  }

  async lastRun(conn: DuckDBConnection): Promise<BatchRun | null> {
    const rows = (await conn.runAndReadAll('SELECT * FROM batch_runs ORDER BY started_at DESC LIMIT 1')).getRowObjects();
    if (!rows.length) return null;
    const r = rows[0];
    if (this.current?.id === r.id) return { ...this.current };
    const num = (v: unknown) => (v === null ? null : Number(v));
    const failure = storedSummary(r.error === null ? null : String(r.error), 'ENGINE_FAILED');
    return {
      id: String(r.id),
      engine: String(r.engine),
      mode: String(r.mode),
      status: String(r.status),
      startedAt: Number(r.started_at),
      finishedAt: num(r.finished_at),
      watermark: num(r.watermark),
      records: num(r.records),
      partitions: num(r.partitions),
      error: failure?.text ?? null,
      errorCode: failure?.code ?? null,
      mapProgress: null,
      reduceProgress: null,
    };
  }

  async close(): Promise<void> {
    // A job on a cluster could run for minutes: stop it; the run then fails and changes nothing.
    await this.deps.engine.release();
    await this.running?.catch(() => undefined);
    this.conn?.closeSync();
  }
}
