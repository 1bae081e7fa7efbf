import { type DuckDBConnection, LIST, listValue, VARCHAR } from '@duckdb/node-api';
import type { HealthMessage } from '../ingest/message.js';
import type { Database } from './database.js';
import { Mutex, transaction } from './database.js';
import { AGG_COLUMNS, minuteAggregate, readSegments, RESOURCES, SEGMENT_OF_FILENAME } from './view-sql.js';

/**
 * Speed layer, DuckDB engine. Accepted messages are buffered in memory (columns, no per-message objects
 * beyond the decoded one) and merged every tick into `rt_minute`, keyed by (service, minute, segment).
 * Keeping the segment id is what lets a batch run expire exactly the rows it has absorbed: rows with
 * bucket < W from segments the batch read, and nothing else (late arrivals stay until the next run).
 */

export interface SpeedLayer {
  readonly engine: string;
  push(m: HealthMessage, segment: number): void;
  /** Merges what was pushed since the last tick into the realtime views. */
  tick(): Promise<number>;
  /** Runs `fn` with every pushed message merged and no tick in between (the batch swap). */
  drained<T>(fn: () => Promise<T>): Promise<T>;
  /** Rebuilds the realtime views from segment files: rows not yet absorbed by the batch views. */
  rebuild(paths: string[], watermark: number | null, batchSegment: number | null): Promise<number>;
  close(): Promise<void>;
}

const MERGE_ON_CONFLICT = [
  'n = n + excluded.n',
  ...RESOURCES.map(
    (r) => `${r}_sum = ${r}_sum + excluded.${r}_sum, ${r}_min = least(${r}_min, excluded.${r}_min),
    ${r}_max = greatest(${r}_max, excluded.${r}_max),
    ${r}_peak = CASE WHEN excluded.${r}_max > ${r}_max OR (excluded.${r}_max = ${r}_max AND excluded.${r}_peak < ${r}_peak)
      THEN excluded.${r}_peak ELSE ${r}_peak END`,
  ),
].join(',\n    ');

const MERGE_INCOMING = `INSERT INTO rt_minute ${minuteAggregate('rt_incoming', ['seg'])}
ON CONFLICT (service, bucket, seg) DO UPDATE SET ${MERGE_ON_CONFLICT}`;

interface Columns {
  service: string[];
  ts: number[];
  seg: number[];
  cpu: number[];
  ramTotal: number[];
  ramFree: number[];
  diskTotal: number[];
  diskFree: number[];
}

const emptyColumns = (): Columns => ({ service: [], ts: [], seg: [], cpu: [], ramTotal: [], ramFree: [], diskTotal: [], diskFree: [] });

export class DuckDBSpeedLayer implements SpeedLayer {
  readonly engine = 'duckdb';
  private pending = emptyColumns();
  private readonly lock = new Mutex();

  private constructor(private readonly conn: DuckDBConnection) {}

  static async create(db: Database): Promise<DuckDBSpeedLayer> {
    return new DuckDBSpeedLayer(await db.connect());
  }

  push(m: HealthMessage, segment: number): void {
    const p = this.pending;
    p.service.push(m.service);
    p.ts.push(m.ts);
    p.seg.push(segment);
    p.cpu.push(m.cpu);
    p.ramTotal.push(m.ramTotal);
    p.ramFree.push(m.ramFree);
    p.diskTotal.push(m.diskTotal);
    p.diskFree.push(m.diskFree);
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

  private async merge(): Promise<number> {
    const p = this.pending;
    const n = p.ts.length;
    if (n === 0) return 0;
    this.pending = emptyColumns();
    try {
      const appender = await this.conn.createAppender('rt_incoming');
      for (let i = 0; i < n; i++) {
        appender.appendVarchar(p.service[i]);
        appender.appendBigInt(BigInt(p.ts[i]));
        appender.appendBigInt(BigInt(p.seg[i]));
        appender.appendDouble(p.cpu[i]);
        appender.appendDouble(p.ramTotal[i]);
        appender.appendDouble(p.ramFree[i]);
        appender.appendDouble(p.diskTotal[i]);
        appender.appendDouble(p.diskFree[i]);
        appender.endRow();
      }
      appender.closeSync();
      await transaction(this.conn, async () => {
        await this.conn.run(MERGE_INCOMING);
        await this.conn.run('DELETE FROM rt_incoming');
      });
    } catch (err) {
      // Put the rows back so the next tick retries them: the realtime views never silently miss data.
      await this.conn.run('DELETE FROM rt_incoming').catch(() => undefined);
      const next = this.pending;
      this.pending = p;
      for (const k of Object.keys(p) as (keyof Columns)[]) (p[k] as unknown[]).push(...next[k]);
      throw err;
    }
    return n;
  }

  async rebuild(paths: string[], watermark: number | null, batchSegment: number | null): Promise<number> {
    return this.lock.run(async () => {
      await transaction(this.conn, async () => {
        await this.conn.run('DELETE FROM rt_minute');
        await this.conn.run('DELETE FROM rt_incoming');
        if (paths.length === 0) return;
        const source = `(SELECT *, ${SEGMENT_OF_FILENAME} AS seg FROM ${readSegments()})`;
        const notAbsorbed = 'NOT (ts < $w AND seg <= $bseg)';
        await this.conn.run(
          `INSERT INTO rt_minute ${minuteAggregate(source, ['seg'], notAbsorbed)}`,
          { files: listValue(paths), w: BigInt(watermark ?? 0), bseg: BigInt(batchSegment ?? -1) },
          { files: LIST(VARCHAR) },
        );
      });
      const rows = (await this.conn.runAndReadAll('SELECT CAST(coalesce(sum(n), 0) AS BIGINT) FROM rt_minute')).getRows();
      return Number(rows[0][0]);
    });
  }

  async close(): Promise<void> {
    await this.lock.run(async () => this.conn.closeSync());
  }
}

export const RT_COLUMNS = ['service', 'bucket', 'seg', ...AGG_COLUMNS];
