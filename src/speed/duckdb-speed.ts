import { type DuckDBConnection, LIST, listValue, VARCHAR } from '@duckdb/node-api';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { segmentName } from '../core/master-record.js';
import { type AbsorbedState, absorbedParams, absorbedSql, notAbsorbedFiles } from '../core/absorbed.js';
import { scrubMasterFiles, withScrub } from '../storage/quarantine.js';
import { Mutex, transaction } from '../serving/database.js';
import { minuteAggregate, readSegments, RESOURCES, SEGMENT_OF_FILENAME } from '../serving/view-sql.js';
import { absorbRows, type SpeedDeps, type SpeedLayer } from './speed-layer.js';

/**
 * Speed layer, DuckDB engine: accepted messages are buffered in memory as their segment lines and merged
 * every tick into `rt_minute` (see speed-layer.ts for the contract).
 */

const MERGE_ON_CONFLICT = [
  'n = n + excluded.n',
  ...RESOURCES.map(
    (r) => `${r}_sum = ${r}_sum + excluded.${r}_sum, ${r}_min = least(${r}_min, excluded.${r}_min),
    ${r}_max = greatest(${r}_max, excluded.${r}_max),
    ${r}_peak = CASE WHEN excluded.${r}_max > ${r}_max OR (excluded.${r}_max = ${r}_max AND excluded.${r}_peak < ${r}_peak)
      THEN excluded.${r}_peak ELSE ${r}_peak END`,
  ),
].join(',\n    ');

/** Segment lines from files whose names carry the segment id, with that id as a column. */
const SEGMENT_ROWS = `(SELECT *, ${SEGMENT_OF_FILENAME} AS seg FROM ${readSegments()})`;

// The tick files hold lines encoded from decoded messages a moment ago: no need to check them again.
const MERGE_FILES = `INSERT INTO rt_minute ${minuteAggregate(SEGMENT_ROWS, ['seg'], 'TRUE', false)}
ON CONFLICT (service, bucket, seg) DO UPDATE SET ${MERGE_ON_CONFLICT}`;

export class DuckDBSpeedLayer implements SpeedLayer {
  readonly engine = 'duckdb';
  /** Segment lines not merged yet, and how many messages they are, by segment id. */
  private pending = new Map<number, { lines: string[]; messages: number }>();
  private pendingChars = 0;
  /** The last merge failed (a full disk, the database refusing writes). */
  private failing = false;
  private readonly lock = new Mutex();
  private batchNo = 0;

  private constructor(
    private readonly conn: DuckDBConnection,
    private readonly sources: SpeedDeps,
  ) {}

  /** `deps.dir` holds the short-lived micro-batch files DuckDB reads on each tick. */
  static async create(deps: SpeedDeps): Promise<DuckDBSpeedLayer> {
    await rm(deps.dir, { recursive: true, force: true });
    await mkdir(deps.dir, { recursive: true });
    return new DuckDBSpeedLayer(await deps.db.connect(), deps);
  }

  push(lines: string, segment: number, count: number): void {
    const p = this.pending.get(segment);
    if (p) {
      p.lines.push(lines);
      p.messages += count;
    } else this.pending.set(segment, { lines: [lines], messages: count });
    this.pendingChars += lines.length;
  }

  get pendingBytes(): number {
    return this.pendingChars;
  }

  /** Between working ticks what waits is one tick's worth, whatever the rate: only a failing tick bounds it. */
  accepts(maxBytes: number): boolean {
    return !this.failing || this.pendingChars <= maxBytes;
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

  /**
   * Hands the micro-batch to DuckDB as one JSON-lines file per segment: a single write from JS, and the
   * parsing and aggregation run on DuckDB's threads, not on the event loop that receives datagrams.
   */
  private async merge(): Promise<number> {
    if (this.pending.size === 0) return 0;
    const batch = this.pending;
    this.pending = new Map();
    const files: string[] = [];
    let n = 0;
    let chars = 0;
    try {
      for (const [seg, { lines, messages }] of batch) {
        const path = join(this.sources.dir, `tick-${++this.batchNo}-${segmentName(seg, 'jsonl')}`);
        // Listed before it is written: a write cut short by a full disk leaves no file behind either.
        files.push(path);
        const text = lines.join('');
        await writeFile(path, text);
        n += messages;
        chars += text.length;
      }
      await this.conn.run(MERGE_FILES, { files: listValue(files) }, { files: LIST(VARCHAR) });
      this.pendingChars -= chars;
      this.failing = false;
    } catch (err) {
      this.failing = true;
      // Put the lines back so the next tick retries them: the realtime views never silently miss data.
      for (const [seg, p] of batch) {
        const later = this.pending.get(seg);
        this.pending.set(seg, later ? { lines: p.lines.concat(later.lines), messages: p.messages + later.messages } : p);
      }
      throw err;
    } finally {
      await Promise.all(files.map((f) => rm(f, { force: true })));
    }
    return n;
  }

  /**
   * From the master files not absorbed (staged locally by the store) and every local segment. Unreadable
   * records in either are quarantined and the rebuild done again.
   */
  async rebuild(): Promise<number> {
    const { store, localFiles, quarantine } = this.sources;
    const absorbed = this.sources.absorbed.current();
    const inputs = async () => notAbsorbedFiles(await store.list(), absorbed);
    return withScrub(
      async () => {
        const staged = await store.stage(await inputs());
        try {
          return await this.load([...staged.paths, ...(await localFiles())], absorbed);
        } finally {
          await staged.release();
        }
      },
      async () => (await scrubMasterFiles(store, await inputs(), quarantine)) + (await this.sources.scrubLocalFiles()),
      quarantine.log,
    );
  }

  private load(paths: string[], absorbed: AbsorbedState): Promise<number> {
    return this.lock.run(async () => {
      await transaction(this.conn, async () => {
        await this.conn.run('DELETE FROM rt_minute');
        if (paths.length === 0) return;
        await this.conn.run(
          `INSERT INTO rt_minute ${minuteAggregate(SEGMENT_ROWS, ['seg'], `NOT ${absorbedSql('ts')}`)}`,
          { files: listValue(paths), ...absorbedParams(absorbed) },
          { files: LIST(VARCHAR) },
        );
      });
      const rows = (await this.conn.runAndReadAll('SELECT CAST(coalesce(sum(n), 0) AS BIGINT) FROM rt_minute')).getRows();
      return Number(rows[0][0]);
    });
  }

  absorb(conn: DuckDBConnection, now: AbsorbedState): Promise<void> {
    return absorbRows(conn, now);
  }

  async close(): Promise<void> {
    await this.lock.run(async () => this.conn.closeSync());
  }
}
