import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { UserError } from '../api.js';
import { ConfigError } from '../config/settings.js';
import { AGG_COLUMN_DDL } from './view-sql.js';

/**
 * The serving store: one DuckDB file holding the batch views, the realtime views, the watermark and the
 * record of batch runs. Each layer gets its own connection; DuckDB's MVCC gives every reader a snapshot.
 */

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (k VARCHAR PRIMARY KEY, v BIGINT);
CREATE TABLE IF NOT EXISTS batch_minute (service VARCHAR, bucket BIGINT, ${AGG_COLUMN_DDL});
CREATE TABLE IF NOT EXISTS batch_hour (service VARCHAR, bucket BIGINT, ${AGG_COLUMN_DDL});
CREATE TABLE IF NOT EXISTS batch_day (service VARCHAR, bucket BIGINT, ${AGG_COLUMN_DDL});
CREATE TABLE IF NOT EXISTS rt_minute (service VARCHAR, bucket BIGINT, seg BIGINT, ${AGG_COLUMN_DDL}, PRIMARY KEY (service, bucket, seg));
CREATE TABLE IF NOT EXISTS latest (service VARCHAR PRIMARY KEY, ts BIGINT, recv BIGINT, cpu DOUBLE, ram_total DOUBLE, ram_free DOUBLE, disk_total DOUBLE, disk_free DOUBLE);
CREATE TABLE IF NOT EXISTS batch_runs (id VARCHAR PRIMARY KEY, engine VARCHAR, mode VARCHAR, status VARCHAR, started_at BIGINT,
  finished_at BIGINT, watermark BIGINT, records BIGINT, partitions BIGINT, error VARCHAR);
`;

export type MetaKey = 'watermark' | 'batch_segment' | 'quarantined_lines';

export class Database {
  private constructor(readonly instance: DuckDBInstance) {}

  static async open(path: string): Promise<Database> {
    // Extensions other than the bundled ones would try to download and hang on a closed network.
    const instance = await DuckDBInstance.create(path, { autoinstall_known_extensions: 'false', autoload_known_extensions: 'false' }).catch((err: Error) => {
      const lock = /Conflicting lock is held in (.*?) \(PID (\d+)\)/.exec(err.message);
      if (lock) throw new ConfigError(`--data-dir: ${path} is in use by another process (${lock[1]}, PID ${lock[2]}): stop it, or give this daemon its own --data-dir`);
      throw new Error(`cannot open the serving database ${path}: ${err.message}`);
    });
    const db = new Database(instance);
    const conn = await db.connect();
    try {
      await conn.run(SCHEMA);
    } finally {
      conn.closeSync();
    }
    return db;
  }

  connect(): Promise<DuckDBConnection> {
    return this.instance.connect();
  }

  close(): void {
    this.instance.closeSync();
  }
}

export async function readMeta(conn: DuckDBConnection, key: MetaKey): Promise<number | null> {
  const rows = (await conn.runAndReadAll('SELECT v FROM meta WHERE k = $k', { k: key })).getRows();
  return rows.length ? Number(rows[0][0]) : null;
}

export async function writeMeta(conn: DuckDBConnection, key: MetaKey, value: number): Promise<void> {
  await conn.run('INSERT OR REPLACE INTO meta VALUES ($k, $v)', { k: key, v: BigInt(value) });
}

/** Runs `fn` inside a transaction on `conn`; rolls back and rethrows on any error. */
export async function transaction<T>(conn: DuckDBConnection, fn: () => Promise<T>): Promise<T> {
  await conn.run('BEGIN TRANSACTION');
  try {
    const out = await fn();
    await conn.run('COMMIT');
    return out;
  } catch (err) {
    await conn.run('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** A FIFO async lock: the speed tick and the batch swap must not interleave. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const out = this.tail.then(fn);
    this.tail = out.catch(() => undefined);
    return out;
  }
}

/**
 * Runs `work` on `conn` and, once `ms` have passed, interrupts whatever statement it is running: DuckDB stops
 * it and the statement rejects, which becomes a QUERY_TIMEOUT UserError. An interrupt only reaches the
 * statement running at that moment (DuckDB does not carry it over to the next one), so it is repeated until
 * `work` settles: a statement `work` starts later is stopped too. Nothing else may use `conn` meanwhile (the
 * caller holds its Mutex); put this inside `transaction`, whose ROLLBACK then runs uninterrupted.
 */
export async function interruptAfter<T>(conn: DuckDBConnection, ms: number, limitMs: number, work: () => Promise<T>): Promise<T> {
  let interrupted = false;
  let again: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    interrupted = true;
    conn.interrupt();
    again = setInterval(() => conn.interrupt(), 20);
  }, Math.max(0, ms));
  try {
    return await work();
  } catch (err) {
    throw interrupted ? queryTimeout(limitMs) : err;
  } finally {
    clearTimeout(timer);
    clearInterval(again);
  }
}

export const queryTimeout = (limitMs: number): UserError =>
  new UserError('QUERY_TIMEOUT', `The query ran longer than ${limitMs / 1000} s and was stopped: ask for a shorter window or fewer services.`);
