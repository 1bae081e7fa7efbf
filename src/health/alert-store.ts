/**
 * Alert history and silences in the serving DuckDB file, so both survive a restart. One connection of its own,
 * every statement parameterised, and a lock so a tick's writes and a query's reads never interleave on it.
 */
import { randomUUID } from 'node:crypto';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { AlertFilter, AlertState, Health, Silence } from '../api.js';
import { type Latest, readLatest } from './live-state.js';
import { type Database, Mutex, transaction } from '../serving/database.js';
import type { AlertRecord } from './evaluator.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS alerts (id VARCHAR PRIMARY KEY, service VARCHAR NOT NULL, rule VARCHAR NOT NULL,
  severity VARCHAR NOT NULL, state VARCHAR NOT NULL, started_at BIGINT NOT NULL, ended_at BIGINT, value DOUBLE,
  message VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS silences (id VARCHAR PRIMARY KEY, service VARCHAR NOT NULL, rule VARCHAR,
  until BIGINT NOT NULL, reason VARCHAR, created_at BIGINT NOT NULL);
`;

// The contract has no paging, so history answers stop at the newest this many; active alerts are bounded anyway.
const HISTORY_LIMIT = 1000;

const ALERT_COLUMNS = 'id, service, rule, severity, state, started_at, ended_at, value, message';

type Row = Record<string, unknown>;

const toAlert = (r: Row): AlertRecord => ({
  id: String(r.id),
  service: String(r.service),
  rule: String(r.rule),
  severity: String(r.severity) as Health,
  state: String(r.state) as AlertState,
  startedAt: Number(r.started_at),
  endedAt: r.ended_at == null ? null : Number(r.ended_at),
  value: r.value == null ? null : Number(r.value),
  message: String(r.message),
});

const toSilence = (r: Row): Silence => ({
  id: String(r.id),
  service: String(r.service),
  rule: r.rule == null ? null : String(r.rule),
  until: Number(r.until),
  reason: r.reason == null ? null : String(r.reason),
});

export class AlertStore {
  private readonly lock = new Mutex();

  private constructor(private readonly conn: DuckDBConnection) {}

  static async open(db: Database): Promise<AlertStore> {
    const conn = await db.connect();
    try {
      await conn.run(SCHEMA);
    } catch (err) {
      conn.closeSync();
      throw err;
    }
    return new AlertStore(conn);
  }

  /** Writes alerts as they now are (new ones inserted, resolved ones updated), all or nothing. */
  save(alerts: AlertRecord[]): Promise<void> {
    if (alerts.length === 0) return Promise.resolve();
    return this.lock.run(() =>
      transaction(this.conn, async () => {
        for (const a of alerts) {
          await this.conn.run(
            `INSERT INTO alerts (${ALERT_COLUMNS}) VALUES ($id, $service, $rule, $severity, $state, $started, $ended, $value, $message)
             ON CONFLICT (id) DO UPDATE SET state = excluded.state, ended_at = excluded.ended_at`,
            {
              id: a.id,
              service: a.service,
              rule: a.rule,
              severity: a.severity,
              state: a.state,
              started: BigInt(Math.round(a.startedAt)),
              ended: a.endedAt === null ? null : BigInt(Math.round(a.endedAt)),
              value: a.value,
              message: a.message,
            },
          );
        }
      }),
    );
  }

  /** Newest first, at most HISTORY_LIMIT. */
  list(filter: AlertFilter = {}): Promise<AlertRecord[]> {
    // Only fixed fragments are chosen here; every value goes in as a parameter.
    const where: string[] = [];
    const params: Record<string, string | bigint> = { limit: BigInt(HISTORY_LIMIT) };
    if (filter.active !== undefined) {
      where.push('state = $state');
      params.state = filter.active ? 'FIRING' : 'RESOLVED';
    }
    if (filter.service !== undefined) {
      where.push('service = $service');
      params.service = filter.service;
    }
    const sql = `SELECT ${ALERT_COLUMNS} FROM alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY started_at DESC, id LIMIT $limit`;
    return this.lock.run(async () => (await this.conn.runAndReadAll(sql, params)).getRowObjects().map(toAlert));
  }

  /** Every FIRING alert, however many: what a restart must pick up again. */
  active(): Promise<AlertRecord[]> {
    return this.lock.run(async () =>
      (await this.conn.runAndReadAll(`SELECT ${ALERT_COLUMNS} FROM alerts WHERE state = 'FIRING' ORDER BY started_at, id`)).getRowObjects().map(toAlert),
    );
  }

  /** Removes resolved alerts that ended before `beforeUs`; returns how many. */
  prune(beforeUs: number): Promise<number> {
    return this.lock.run(async () => {
      const r = await this.conn.run("DELETE FROM alerts WHERE state = 'RESOLVED' AND ended_at < $before", { before: BigInt(Math.round(beforeUs)) });
      return Number(r.rowsChanged);
    });
  }

  addSilence(s: Omit<Silence, 'id'>, nowUs: number): Promise<Silence> {
    const silence: Silence = { id: randomUUID(), ...s };
    return this.lock.run(async () => {
      await this.conn.run('INSERT INTO silences VALUES ($id, $service, $rule, $until, $reason, $created)', {
        id: silence.id,
        service: silence.service,
        rule: silence.rule,
        until: BigInt(Math.round(silence.until)),
        reason: silence.reason,
        created: BigInt(Math.round(nowUs)),
      });
      return silence;
    });
  }

  /** Ends a silence in force by moving its `until` to now (kept for the record); false when none matched. */
  endSilence(id: string, nowUs: number): Promise<boolean> {
    return this.lock.run(async () => {
      const r = await this.conn.run('UPDATE silences SET until = $now WHERE id = $id AND until > $now', { id, now: BigInt(Math.round(nowUs)) });
      return Number(r.rowsChanged) > 0;
    });
  }

  /** Silences still in force at `nowUs`, soonest to end first. */
  silences(nowUs: number): Promise<Silence[]> {
    return this.lock.run(async () =>
      (await this.conn.runAndReadAll('SELECT id, service, rule, until, reason FROM silences WHERE until > $now ORDER BY until, id', { now: BigInt(Math.round(nowUs)) }))
        .getRowObjects()
        .map(toSilence),
    );
  }

  /**
   * The newest message of each service as the live view saved it (the `latest` table of database.ts), so health
   * after a restart starts from what was last known instead of from nothing.
   */
  lastKnown(): Promise<Latest[]> {
    return this.lock.run(() => readLatest(this.conn));
  }

  /** A forgotten service's newest message goes, so that a restart does not bring the service back. */
  forgetLatest(service: string): Promise<void> {
    return this.lock.run(async () => {
      await this.conn.run('DELETE FROM latest WHERE service = $service', { service });
    });
  }

  close(): Promise<void> {
    return this.lock.run(async () => this.conn.closeSync());
  }
}
