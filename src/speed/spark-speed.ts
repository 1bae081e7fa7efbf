import type { HealthMessage } from '../core/message.js';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type DuckDBConnection, LIST, listValue, VARCHAR } from '@duckdb/node-api';
import { encodeLine, segmentName } from '../core/master-record.js';
import { scrubMasterFiles, withScrub } from '../storage/quarantine.js';
import { fetchParts } from '../storage/store.js';
import { type AbsorbedState, notAbsorbedFiles } from '../core/absorbed.js';
import { Mutex, transaction } from '../serving/database.js';
import { isLocal, type SparkDriver } from './spark-driver.js';
import { FILE_COLUMN, realtimeMinutesSql, SEGMENTS_VIEW, sparkRawSchema } from './spark-sql.js';
import { absorbRows, forgetSpeedProgress, type SpeedDeps, type SpeedLayer } from './speed-layer.js';
import { AGG_COLUMNS } from '../serving/view-sql.js';

/**
 * Speed layer, Spark engine. The realtime views are recomputed on every tick by a Spark job over the master
 * files the batch views have not absorbed yet, and the job's Parquet output replaces `rt_minute` in one
 * DuckDB transaction. Nothing is kept in memory: the write-ahead segments already hold every message, so a
 * tick first has the daemon seal and ship the open segment, which makes the newest data readable by Spark.
 *
 * A long-lived driver (jobs/spark/HmsSparkDriver.java, launched once through SparkSubmit) takes one job per
 * tick on stdin, so a tick pays neither JVM nor Spark start-up. A failed tick leaves the previous realtime
 * views in place, is recorded and logged, rejects (so the scheduler records it too), and the next tick simply
 * tries again: every tick recomputes from the master dataset, there is nothing to catch up. The embedded
 * engine is never substituted.
 */

export interface SparkSpeedLayerDeps extends SpeedDeps {
  driver: SparkDriver;
  /** Stop the driver on close (false when the caller shares it, as the tests do). @default true */
  ownsDriver?: boolean;
  /**
   * Run one job over a tiny local file at start, so the first tick does not pay for class loading and code
   * generation (about ten seconds). Only meaningful where executors can read the daemon's files.
   * @default true for a local master
   */
  warmUp?: boolean;
}

/** Where one tick's time went, in ms. */
export interface SparkTickTiming {
  startedAt: number;
  sealAndShipMs: number;
  listMs: number;
  /** Round trip of the job, driver time included. */
  jobMs: number;
  /** Time the driver reported for the job. */
  sparkMs: number;
  fetchMs: number;
  loadMs: number;
  totalMs: number;
  files: number;
  /** Rows of rt_minute after the tick. */
  rows: number;
  /** Messages in the realtime views after the tick. */
  messages: number;
  /** Nothing changed since the last tick (same files, same watermark): no job ran. */
  skipped: boolean;
}

export interface SparkSpeedStatus {
  engine: 'spark';
  master: string;
  driverStartMs: number | null;
  driverStarts: number;
  ticks: number;
  failures: number;
  consecutiveFailures: number;
  lastError: string | null;
  /** Epoch ms. */
  lastErrorAt: number | null;
  lastTick: SparkTickTiming | null;
  /** Messages pushed since the daemon started (they reach Spark through the segments). */
  pushed: number;
}

const NO_TIME = { sealAndShipMs: 0, listMs: 0, jobMs: 0, sparkMs: 0, fetchMs: 0, loadMs: 0, totalMs: 0 };

/** Milliseconds since the previous call (or the start), to 0.1 ms; `total()` since the start. */
function stopwatch(): { (): number; total(): number } {
  const start = performance.now();
  let last = start;
  const round = (ms: number) => Math.round(ms * 10) / 10;
  return Object.assign(
    () => {
      const now = performance.now();
      const ms = now - last;
      last = now;
      return round(ms);
    },
    { total: () => round(performance.now() - start) },
  );
}

const COLS = ['service', 'bucket', 'seg', ...AGG_COLUMNS].join(', ');
/** The store's scratch area the jobs write to, and the Parquet part files of an output. */
const SCRATCH_AREA = 'speed-spark';
const PART = /^part-.*\.parquet$/;
const LOAD = `INSERT INTO rt_minute (${COLS}) SELECT ${COLS} FROM read_parquet($files)`;

export class SparkSpeedLayer implements SpeedLayer {
  readonly engine = 'spark';
  private readonly lock = new Mutex();
  private jobNo = 0;
  private pushed = 0;
  /** Inputs and watermark of what rt_minute holds now; a tick with the same ones has nothing to do. */
  private loadedKey?: string;
  private readonly state: Omit<SparkSpeedStatus, 'engine' | 'master' | 'driverStartMs' | 'driverStarts' | 'pushed'> = {
    ticks: 0,
    failures: 0,
    consecutiveFailures: 0,
    lastError: null,
    lastErrorAt: null,
    lastTick: null,
  };

  private constructor(
    private readonly deps: SparkSpeedLayerDeps,
    private readonly conn: DuckDBConnection,
  ) {}

  /** Starts the driver (and warms it up): a daemon configured for Spark fails here rather than run without it. */
  static async create(deps: SparkSpeedLayerDeps): Promise<SparkSpeedLayer> {
    await rm(deps.dir, { recursive: true, force: true });
    await mkdir(deps.dir, { recursive: true });
    // Outputs of an earlier process; if the store is unreachable now, the next successful tick's own output
    // is still fresh, so this is not worth failing start-up for.
    await deps.store.scratch(SCRATCH_AREA).clear().catch((err) => deps.log.warn({ err }, 'could not remove earlier Spark job outputs'));
    await deps.driver.start();
    if (deps.warmUp ?? isLocal(deps.driver.master)) await warmUp(deps.driver, deps.dir);
    return new SparkSpeedLayer(deps, await deps.db.connect());
  }

  /** The message is already in the write-ahead segment; Spark reads it from there once shipped. */
  push(_msg: HealthMessage, _segment: number): void {
    this.pushed++;
  }

  /** Nothing waits in memory: every tick reads the master dataset. */
  readonly pendingBytes = 0;

  accepts(): boolean {
    return true;
  }

  tick(): Promise<number> {
    return this.lock.run(() => this.refresh());
  }

  /**
   * No tick runs while `fn` does (the batch swap). Unlike the DuckDB engine there is nothing to merge first:
   * rt_minute is always a function of shipped master files, and the swap expires exactly the rows it absorbs.
   */
  drained<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run(fn);
  }

  /** A tick: the engine reads the master dataset (after sealing and shipping the local segments). */
  rebuild(): Promise<number> {
    return this.tick();
  }

  absorb(conn: DuckDBConnection, now: AbsorbedState): Promise<void> {
    return absorbRows(conn, now);
  }

  status(): SparkSpeedStatus {
    return {
      engine: 'spark',
      master: this.deps.driver.master,
      driverStartMs: this.deps.driver.lastStartMs,
      driverStarts: this.deps.driver.starts,
      pushed: this.pushed,
      ...this.state,
    };
  }

  private async refresh(): Promise<number> {
    const { store, log } = this.deps;
    const io = store.scratch(SCRATCH_AREA);
    const lap = stopwatch();
    const name = `job-${Date.now()}-${++this.jobNo}`;
    const timing: SparkTickTiming = { startedAt: Date.now(), ...NO_TIME, files: 0, rows: 0, messages: 0, skipped: false };
    let ran = false;
    try {
      await this.deps.sealAndShip();
      timing.sealAndShipMs = lap();
      const absorbed = this.deps.absorbed.current();
      const files = notAbsorbedFiles(await this.deps.store.list(), absorbed).sort((a, b) => a.segment - b.segment || a.hour - b.hour);
      const key = JSON.stringify([absorbed, files.map((f) => [f.partition, f.name, f.bytes])]);
      timing.files = files.length;
      timing.listMs = lap();
      timing.skipped = key === this.loadedKey;
      if (!timing.skipped) {
        let rows = 0;
        if (files.length > 0) {
          ran = true;
          const job = {
            inputs: files.map((f) => store.uri(f)),
            schema: sparkRawSchema(),
            view: SEGMENTS_VIEW,
            fileColumn: FILE_COLUMN,
            sql: realtimeMinutesSql(absorbed),
            output: io.uri(name),
          };
          // A job that failed on an unreadable record runs again once it is quarantined (same names, and
          // the output directory of a failed job is removed first).
          ({ rows, ms: timing.sparkMs } = await withScrub(
            () => this.deps.driver.run(job),
            async () => {
              const moved = await scrubMasterFiles(this.deps.store, files, this.deps.quarantine);
              if (moved > 0) await io.remove(name);
              return moved;
            },
            log,
          ));
        }
        timing.jobMs = lap();
        const parts = rows > 0 ? await fetchParts(io, name, (f) => PART.test(f.name), this.deps.dir) : [];
        timing.fetchMs = lap();
        // One transaction: readers see the old realtime views or the new ones, never neither.
        await transaction(this.conn, async () => {
          await this.conn.run('DELETE FROM rt_minute');
          await forgetSpeedProgress(this.conn);
          if (parts.length > 0) await this.conn.run(LOAD, { files: listValue(parts) }, { files: LIST(VARCHAR) });
        });
        this.loadedKey = key;
        timing.loadMs = lap();
      }
      const [row] = (await this.conn.runAndReadAll('SELECT count(*), CAST(coalesce(sum(n), 0) AS BIGINT) FROM rt_minute')).getRows();
      timing.rows = Number(row[0]);
      timing.messages = Number(row[1]);
      timing.totalMs = lap.total();
      this.state.ticks++;
      this.state.consecutiveFailures = 0;
      this.state.lastTick = timing;
      log.debug(timing, 'Spark speed tick');
      return timing.messages;
    } catch (err) {
      this.state.failures++;
      this.state.consecutiveFailures++;
      this.state.lastError = (err as Error).message;
      this.state.lastErrorAt = Date.now();
      log.error({ err, failures: this.state.failures }, 'Spark speed tick failed; the previous realtime views stay');
      throw err;
    } finally {
      if (ran) {
        await io.remove(name).catch((err) => log.warn({ err, job: name }, 'could not remove a Spark job output'));
        await rm(join(this.deps.dir, name), { recursive: true, force: true });
      }
    }
  }

  async close(): Promise<void> {
    await this.lock.run(async () => this.conn.closeSync());
    if (this.deps.ownsDriver ?? true) await this.deps.driver.stop();
  }
}

/** The realtime job over one local line, so that Spark loads and compiles what every tick needs. */
async function warmUp(driver: SparkDriver, dir: string): Promise<void> {
  const input = join(dir, 'warm-up', segmentName(0, 'jsonl'));
  await mkdir(dirname(input), { recursive: true });
  const line = encodeLine({ service: 'warm-up', ts: 0, cpu: 1, ramTotal: 1, ramFree: 1, diskTotal: 1, diskFree: 1 }, 0);
  await writeFile(input, line);
  const output = join(dir, 'warm-up-out');
  await driver.run({
    inputs: [pathToFileURL(input).href],
    schema: sparkRawSchema(),
    view: SEGMENTS_VIEW,
    fileColumn: FILE_COLUMN,
    sql: realtimeMinutesSql({ watermark: null, segment: null }),
    output: pathToFileURL(output).href,
  });
  await rm(join(dir, 'warm-up'), { recursive: true, force: true });
  await rm(output, { recursive: true, force: true });
}
