import type { HealthMessage } from '../core/message.js';
import type { DuckDBConnection } from '@duckdb/node-api';
import { type Absorbed, type AbsorbedState, absorbedParams, absorbedSql } from '../core/absorbed.js';
import type { Logger } from '../log.js';
import type { Database, MetaKey } from '../serving/database.js';
import type { Quarantine } from '../storage/quarantine.js';
import type { MasterStore } from '../storage/store.js';

/**
 * The speed layer's port: what an engine (duckdb-speed.ts, spark-speed.ts) must do to plug in.
 *
 * Contract:
 * - It owns `rt_minute`: realtime minute views keyed by (service, minute bucket, segment), with the columns
 *   and merge rules of serving/view-sql.ts, holding every accepted message the batch views have not
 *   absorbed (core/absorbed.ts), and nothing else.
 * - Keeping the segment id is what lets a batch run expire exactly the rows it has absorbed: rows with
 *   bucket < W from segments the batch read, and nothing else (late arrivals stay until the next run).
 *   The batch layer calls `absorb` inside its swap transaction, within `drained`, so a reader sees each
 *   row in exactly one layer.
 * - `push` is called once per accepted message and is synchronous; what it keeps in memory is reported by
 *   `pendingBytes`, and `accepts` tells the ingest path when that must stop growing.
 * - A failed tick changes nothing and is retried by the next one. Engines that read the master dataset do
 *   so through the store and scrub unreadable records into the quarantine (storage/quarantine.ts).
 */
export interface SpeedLayer {
  readonly engine: string;
  /** One accepted message and the segment it went to. Synchronous, and cheap: it runs once per message. */
  push(msg: HealthMessage, segment: number): void;
  /** Text pushed and not yet in the realtime views (it waits in memory while ticks fail). */
  readonly pendingBytes: number;
  /** False while ticks fail and more than `maxBytes` waits: the caller then refuses new messages. */
  accepts(maxBytes: number): boolean;
  /** Merges what was pushed since the last tick into the realtime views. */
  tick(): Promise<number>;
  /** Runs `fn` with every pushed message merged and no tick in between (the batch swap). */
  drained<T>(fn: () => Promise<T>): Promise<T>;
  /** Forgets the rows the batch views now hold (`absorbedSql`), on `conn`, inside the batch's transaction. */
  absorb(conn: DuckDBConnection, now: AbsorbedState): Promise<void>;
  /**
   * At start: makes the realtime views hold every row the batch views (W, segment) have not absorbed, reading
   * as little as the engine can (`full`: everything, as if nothing were kept). Resolves with their messages.
   */
  rebuild(opts?: { full?: boolean }): Promise<number>;
  close(): Promise<void>;
}

/** What a speed layer is built from (either engine): the pipeline builder (src/daemon/pipeline.ts) passes it. */
export interface SpeedDeps {
  db: Database;
  store: MasterStore;
  absorbed: Absorbed;
  quarantine: Quarantine;
  /** Seals the open segment and ships every sealed one; resolves with the highest shipped segment id. */
  sealAndShip(): Promise<number>;
  /** Every local write-ahead segment file (sealed and open). */
  localFiles(): Promise<string[]>;
  /** Highest segment id sealed and durable, with every lower one (SegmentLog.sealedUpTo). */
  sealedUpTo(): number;
  /** Moves unreadable lines of the sealed local segments to the quarantine (after a read failed); how many. */
  scrubLocalFiles(): Promise<number>;
  /** A local directory of its own, emptied at start. */
  dir: string;
  log: Logger;
}

/**
 * The realtime views' own progress, kept in the DuckDB file with `rt_minute` (both written in one transaction):
 * every message of segments up to this id is in `rt_minute`. A start-up then reads only the segments after it
 * (the DuckDB engine), instead of every row the batch has not absorbed. An engine that rebuilds `rt_minute`
 * another way clears it (`forgetSpeedProgress`).
 */
export const SPEED_PROGRESS: MetaKey = 'speed_segment';

export async function forgetSpeedProgress(conn: DuckDBConnection): Promise<void> {
  await conn.run('DELETE FROM meta WHERE k = $k', { k: SPEED_PROGRESS });
}

/** The realtime rows the batch views hold now go (both engines keep the same `rt_minute`). */
export async function absorbRows(conn: DuckDBConnection, now: AbsorbedState): Promise<void> {
  await conn.run(`DELETE FROM rt_minute WHERE ${absorbedSql('bucket')}`, absorbedParams(now));
}
