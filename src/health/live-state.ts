import type { DuckDBConnection } from '@duckdb/node-api';
import type { HealthMessage } from '../core/message.js';
import type { Database } from '../serving/database.js';

/**
 * The `latest` table: the newest message of every service, saved on each tick from the health evaluator
 * (which keeps it in memory, the one place on the ingest path that does), where the health service finds it
 * after a restart.
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
  private constructor(private readonly conn: DuckDBConnection) {}

  static async load(db: Database): Promise<LiveState> {
    const state = new LiveState(await db.connect());
    await state.conn.run('CREATE TEMP TABLE latest_incoming AS SELECT * FROM latest LIMIT 0');
    return state;
  }

  /** Writes the services that changed (see HealthService.takeLatest). */
  async save(changed: readonly Latest[]): Promise<void> {
    if (changed.length === 0) return;
    const appender = await this.conn.createAppender('latest_incoming');
    for (const l of changed) {
      appender.appendVarchar(l.msg.service);
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
