import type { DuckDBConnection } from '@duckdb/node-api';
import type { Health, ServiceHealth } from '../api.js';
import { type HealthMessage, usedPct } from '../ingest/message.js';
import type { Database } from './database.js';

/**
 * The newest message of every service, for live health. Updated in memory on every accepted message
 * (an O(1) map write on the hot path) and saved to the `latest` table on each tick so a restart resumes.
 */

interface Latest {
  msg: HealthMessage;
  recv: number;
}

export interface HealthThresholds {
  warnPct: number;
  critPct: number;
  silentAfterUs: number;
}

export const DEFAULT_THRESHOLDS: HealthThresholds = { warnPct: 85, critPct: 95, silentAfterUs: 30_000_000 };

export class LiveState {
  private readonly latest = new Map<string, Latest>();
  private readonly dirty = new Set<string>();

  private constructor(private readonly conn: DuckDBConnection) {}

  static async load(db: Database): Promise<LiveState> {
    const state = new LiveState(await db.connect());
    await state.conn.run('CREATE TEMP TABLE latest_incoming AS SELECT * FROM latest LIMIT 0');
    for (const r of (await state.conn.runAndReadAll('SELECT * FROM latest')).getRowObjects()) {
      const msg: HealthMessage = {
        service: String(r.service),
        ts: Number(r.ts),
        cpu: Number(r.cpu),
        ramTotal: Number(r.ram_total),
        ramFree: Number(r.ram_free),
        diskTotal: Number(r.disk_total),
        diskFree: Number(r.disk_free),
      };
      state.latest.set(msg.service, { msg, recv: Number(r.recv) });
    }
    return state;
  }

  update(msg: HealthMessage, recv: number): void {
    const prev = this.latest.get(msg.service);
    // Values come from the newest event; "last seen" is the newest arrival (a late message still proves life).
    if (!prev || msg.ts >= prev.msg.ts) this.latest.set(msg.service, { msg, recv });
    else prev.recv = recv;
    this.dirty.add(msg.service);
  }

  get size(): number {
    return this.latest.size;
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

  services(nowUs: number, t: HealthThresholds = DEFAULT_THRESHOLDS): ServiceHealth[] {
    const out: ServiceHealth[] = [];
    for (const [service, { msg, recv }] of this.latest) {
      const ramUsed = usedPct(msg.ramTotal, msg.ramFree);
      const diskUsed = usedPct(msg.diskTotal, msg.diskFree);
      const { health, reasons } = assess({ cpu: msg.cpu, ram: ramUsed, disk: diskUsed }, nowUs - recv, t);
      out.push({ service, health, reasons, lastSeen: recv, cpu: msg.cpu, ramUsed, diskUsed, ramFreeGb: msg.ramFree, diskFreeGb: msg.diskFree });
    }
    return out.sort((a, b) => a.service.localeCompare(b.service));
  }

  close(): void {
    this.conn.closeSync();
  }
}

const RANK: Record<Health, number> = { OK: 0, WARN: 1, CRIT: 2, SILENT: 3 };

/** Plain thresholds on the latest values, and silence. */
export function assess(values: Record<'cpu' | 'ram' | 'disk', number>, silentForUs: number, t: HealthThresholds): { health: Health; reasons: string[] } {
  let health: Health = 'OK';
  const reasons: string[] = [];
  const raise = (h: Health, why: string) => {
    if (RANK[h] > RANK[health]) health = h;
    reasons.push(why);
  };
  if (silentForUs > t.silentAfterUs) raise('SILENT', `no message for ${Math.round(silentForUs / 1e6)}s`);
  for (const [name, v] of Object.entries(values)) {
    if (v >= t.critPct) raise('CRIT', `${name} ${v.toFixed(1)}% >= ${t.critPct}%`);
    else if (v >= t.warnPct) raise('WARN', `${name} ${v.toFixed(1)}% >= ${t.warnPct}%`);
  }
  return { health, reasons };
}
