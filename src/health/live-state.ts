import type { DuckDBConnection } from '@duckdb/node-api';
import type { HealthMessage } from '../core/message.js';
import type { Database } from '../serving/database.js';

/**
 * The newest message of every service, kept in memory on every accepted message (an O(1) map write on
 * the hot path) and saved to the `latest` table on each tick, where the health service finds it after a restart.
 */

export interface Latest {
  msg: HealthMessage;
  /** Receive time, epoch µs. */
  recv: number;
}

/** The newest message of every service as last saved: what a restart starts from. */
export async function readLatest(conn: DuckDBConnection): Promise<Latest[]> {
  const rows = (await conn.runAndReadAll('SELECT service, ts, recv, cpu, ram_total, ram_free, disk_total, disk_free FROM latest')).getRowObjects();
  return rows.map((r) => ({
    msg: {
      service: String(r.service),
      ts: Number(r.ts),
      cpu: Number(r.cpu),
      ramTotal: Number(r.ram_total),
      ramFree: Number(r.ram_free),
      diskTotal: Number(r.disk_total),
      diskFree: Number(r.disk_free),
    },
    recv: Number(r.recv),
  }));
}

export class LiveState {
  private readonly latest = new Map<string, Latest>();
  private readonly dirty = new Set<string>();

  private constructor(private readonly conn: DuckDBConnection) {}

  static async load(db: Database): Promise<LiveState> {
    const state = new LiveState(await db.connect());
    await state.conn.run('CREATE TEMP TABLE latest_incoming AS SELECT * FROM latest LIMIT 0');
    for (const l of await readLatest(state.conn)) state.latest.set(l.msg.service, l);
    return state;
  }

  /** One accepted message (a pipeline observer). */
  observe(msg: HealthMessage, recv: number): void {
    const prev = this.latest.get(msg.service);
    // Values come from the newest event; "last seen" is the newest arrival (a late message still proves life).
    if (!prev || msg.ts >= prev.msg.ts) this.latest.set(msg.service, { msg, recv });
    else prev.recv = recv;
    this.dirty.add(msg.service);
  }

  /** Writes changed services to DuckDB. */
  async save(): Promise<void> {
    if (this.dirty.size === 0) return;
    const names = [...this.dirty];
    this.dirty.clear();
    const appender = await this.conn.createAppender('latest_incoming');
    for (const name of names) {
      const l = this.latest.get(name)!;
      appender.appendVarchar(name);
      appender.appendBigInt(BigInt(l.msg.ts));
      appender.appendBigInt(BigInt(l.recv));
      appender.appendDouble(l.msg.cpu);
      appender.appendDouble(l.msg.ramTotal);
      appender.appendDouble(l.msg.ramFree);
      appender.appendDouble(l.msg.diskTotal);
      appender.appendDouble(l.msg.diskFree);
      appender.endRow();
    }
    appender.closeSync();
    await this.conn.run('INSERT OR REPLACE INTO latest SELECT * FROM latest_incoming');
    await this.conn.run('DELETE FROM latest_incoming');
  }

  close(): void {
    this.conn.closeSync();
  }
}
