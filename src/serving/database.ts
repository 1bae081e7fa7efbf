import { open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { syncDir } from '../storage/durable-file.js';
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

export type MetaKey =
  | 'watermark'
  | 'batch_segment'
  | 'quarantined_lines'
  | 'speed_segment'
  | 'raw_horizon'
  | 'minute_horizon'
  | 'hour_horizon'
  | 'day_horizon';

/** What DuckDB may use. Its own defaults (80 % of the machine's RAM, every core) suit a database server, not a monitor. */
export interface DatabaseLimits {
  /** The buffer pool's limit, bytes; beyond it large operators spill to `tempDir`. @default DuckDB's own */
  memoryBytes?: number;
  /** Worker threads; 0 or absent: one per core. */
  threads?: number;
  /** Where DuckDB spills; absent: next to the database file (`<path>.tmp`). */
  tempDir?: string;
}

function instanceOptions(limits: DatabaseLimits): Record<string, string> {
  const options: Record<string, string> = {
    // Extensions other than the bundled ones would try to download and hang on a closed network.
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
    // Large inserts and COPYs need not keep their input order: DuckDB then streams them in less memory.
    preserve_insertion_order: 'false',
  };
  if (limits.memoryBytes) options.memory_limit = `${Math.max(1, Math.floor(limits.memoryBytes / 2 ** 20))}MiB`;
  if (limits.threads) options.threads = String(limits.threads);
  if (limits.tempDir) options.temp_directory = limits.tempDir;
  return options;
}

async function createInstance(path: string, limits: DatabaseLimits): Promise<DuckDBInstance> {
  return DuckDBInstance.create(path, instanceOptions(limits)).catch((err: Error) => {
    const lock = /Conflicting lock is held in (.*?) \(PID (\d+)\)/.exec(err.message);
    if (lock) throw new ConfigError(`--data-dir: ${path} is in use by another process (${lock[1]}, PID ${lock[2]}): stop it, or give this daemon its own --data-dir`);
    throw new Error(`cannot open the serving database ${path}: ${err.message}`);
  });
}

/** Where a reclaim writes the new file before it is renamed over the old one. */
const compactedPath = (path: string) => `${path}.compact`;

/** Below this much free space a reclaim is not worth its copy (unless the caller says otherwise). */
const RECLAIM_MIN_FREE_BYTES = 64 * 2 ** 20;

/**
 * Gives the disk back what deleted rows left in the DuckDB file. DuckDB reuses the blocks of deleted rows but
 * never shrinks its file (VACUUM does not either): the realtime rows a batch run absorbs, and the views a full
 * recompute replaces, stay as free blocks. When more than half of the file (and 64 MiB) is free, the database is
 * copied into a fresh file (COPY FROM DATABASE: the tables with their constraints, and only live rows), which is
 * then renamed over the old one. For a closed database only: the daemon runs it as it stops, `hms import` when it
 * is done. A copy cut short leaves the old file in place, and the next open removes the partial one.
 */
export async function reclaimSpace(
  path: string,
  limits: DatabaseLimits = {},
  minFreeBytes = RECLAIM_MIN_FREE_BYTES,
): Promise<{ beforeBytes: number; afterBytes: number } | undefined> {
  const instance = await createInstance(path, limits);
  const conn = await instance.connect();
  const tmp = compactedPath(path);
  let beforeBytes: number;
  try {
    await conn.run('CHECKPOINT');
    const [size] = (await conn.runAndReadAll('PRAGMA database_size')).getRowObjects();
    const block = Number(size.block_size);
    const free = Number(size.free_blocks) * block;
    beforeBytes = Number(size.total_blocks) * block;
    if (free < minFreeBytes || free * 2 < beforeBytes) return undefined;
    await rm(tmp, { force: true });
    await rm(`${tmp}.wal`, { force: true });
    const name = String((await conn.runAndReadAll('SELECT current_database()')).getRows()[0][0]);
    await conn.run(`ATTACH '${tmp.replaceAll("'", "''")}' AS compacted`);
    await conn.run(`COPY FROM DATABASE "${name.replaceAll('"', '""')}" TO compacted`);
    await conn.run('DETACH compacted');
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
  await syncFile(tmp);
  await rename(tmp, path);
  await syncDir(dirname(path));
  return { beforeBytes, afterBytes: (await stat(path)).size };
}

async function syncFile(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export class Database {
  private constructor(readonly instance: DuckDBInstance) {}

  static async open(path: string, limits: DatabaseLimits = {}): Promise<Database> {
    const instance = await createInstance(path, limits);
    // A reclaim cut short (the process killed mid-copy): the old file is whole, the partial copy goes.
    await rm(compactedPath(path), { force: true });
    await rm(`${compactedPath(path)}.wal`, { force: true });
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

/** Every meta value at once (one statement: a snapshot's reads of W and the horizons cost one round trip). */
export async function readAllMeta(conn: DuckDBConnection): Promise<Map<MetaKey, number>> {
  const rows = (await conn.runAndReadAll('SELECT k, v FROM meta')).getRows();
  return new Map(rows.map(([k, v]) => [k as MetaKey, Number(v)]));
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
