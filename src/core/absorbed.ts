import type { DuckDBConnection } from '@duckdb/node-api';
import { MICROS_PER_HOUR } from './time.js';
import type { MasterFile } from '../storage/store.js';
import { type MetaKey, readAllMeta, writeMeta } from '../serving/database.js';

/**
 * What the batch views have absorbed: the watermark W and the highest segment the batch read. A row is
 * absorbed when its time (or its minute bucket: W is a whole minute) is before W and its segment is at or
 * below that one; every other row is the speed layer's. The rule is written here once, for SQL
 * (`absorbedSql`) and for files (`notAbsorbedFiles`).
 *
 * This is the one owner of W. Only the batch layer advances it, inside its swap transaction (`save`), then
 * `set` once that committed; readers in a snapshot of their own read it there (`read`, the query service),
 * everyone else asks `current`.
 */

export interface AbsorbedState {
  readonly watermark: number | null;
  /** Highest segment id the batch views have read. */
  readonly segment: number | null;
}

/** SQL: the row of `timeColumn` (ts, or a minute bucket) and `segmentColumn` is absorbed; binds $w and $bseg. */
export const absorbedSql = (timeColumn: string, segmentColumn = 'seg'): string => `(${timeColumn} < $w AND ${segmentColumn} <= $bseg)`;

/** The parameters `absorbedSql` binds. */
export const absorbedParams = (s: AbsorbedState): { w: bigint; bseg: bigint } => ({ w: BigInt(s.watermark ?? 0), bseg: BigInt(s.segment ?? -1) });

/** Master files holding rows not absorbed: a segment newer than the batch's, or an hour that reaches W. */
export function notAbsorbedFiles(files: MasterFile[], s: AbsorbedState): MasterFile[] {
  return files.filter((f) => f.segment > (s.segment ?? -1) || f.hour + MICROS_PER_HOUR > (s.watermark ?? 0));
}

export class Absorbed {
  private constructor(private state: AbsorbedState) {
    Object.freeze(state);
  }

  static async load(conn: DuckDBConnection): Promise<Absorbed> {
    return new Absorbed(await Absorbed.read(conn));
  }

  /** As of `conn`'s snapshot. */
  static async read(conn: DuckDBConnection): Promise<AbsorbedState> {
    return Absorbed.of(await readAllMeta(conn));
  }

  /** From the meta values (readAllMeta). */
  static of(meta: Map<MetaKey, number>): AbsorbedState {
    return { watermark: meta.get('watermark') ?? null, segment: meta.get('batch_segment') ?? null };
  }

  /** Never changes once handed out (`set` replaces it): the ingest path reads W per message, without a copy. */
  current(): AbsorbedState {
    return this.state;
  }

  /** Records `next` on `conn`, inside the caller's transaction; `set` it once that commits. */
  static async save(conn: DuckDBConnection, next: AbsorbedState): Promise<void> {
    if (next.watermark !== null) await writeMeta(conn, 'watermark', next.watermark);
    if (next.segment !== null) await writeMeta(conn, 'batch_segment', next.segment);
  }

  set(next: AbsorbedState): void {
    this.state = Object.freeze({ ...next });
  }
}
