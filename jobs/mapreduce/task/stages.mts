/**
 * The three stages of the job as pure line handlers (no I/O), so tests can drive them directly and the
 * entry scripts only wire them to stdin/stdout.
 */
import { excerpt, JobInputError, MapAggregate, MergeAggregate, minuteOf, parseRow, quantize } from './aggregate.mjs';
import { INVALID_RECORD, isBlank, type MasterRecord, parseRecord } from './record.mjs';

export interface MapperOptions {
  /** Records with `ts >= watermark` are held back (the batch views cover ts < W only). */
  watermark: number;
  /** A line containing this text fails the task (for testing failure handling end to end). */
  failMarker?: string;
  /**
   * Keys aggregated in memory before the mapper emits them (in-mapper combining), bounded so a map task's
   * memory does not grow with its input. 0 emits one row per record and leaves all merging to the combiner.
   */
  maxKeys: number;
}

export interface MapperCounts {
  /** Records with ts < watermark, aggregated. */
  kept: number;
  /** Records with ts >= watermark, dropped. */
  heldBack: number;
}

/** Master dataset lines (segment-log.ts `encodeLine`) in, `stage_minute` rows out. */
export class RecordMapper {
  private readonly keys = new Map<string, MapAggregate>();
  readonly counts: MapperCounts = { kept: 0, heldBack: 0 };
  private lineNo = 0;

  constructor(
    private readonly opts: MapperOptions,
    private readonly emit: (row: string) => void,
  ) {}

  push(line: string): void {
    this.lineNo++;
    if (isBlank(line)) return; // DuckDB's newline-delimited reader skips blank lines too
    if (this.opts.failMarker && line.includes(this.opts.failMarker)) {
      throw new JobInputError(`failure marker ${JSON.stringify(this.opts.failMarker)} in input line ${this.lineNo}: ${excerpt(line)}`);
    }
    const r = this.parse(line);
    if (r.ts >= this.opts.watermark) {
      this.counts.heldBack++;
      return;
    }
    this.counts.kept++;
    // Same expressions, same operation order as the SQL in view-sql.ts: the doubles are bit-identical.
    const values = [quantize(r.cpu), quantize(((r.ram_total - r.ram_free) / r.ram_total) * 100), quantize(((r.disk_total - r.disk_free) / r.disk_total) * 100)];
    const bucket = minuteOf(r.ts);
    if (this.opts.maxKeys === 0) {
      this.emit(new MapAggregate(r.service, bucket, values, r.ts).row());
      return;
    }
    const key = `${r.service}\u0000${bucket}`;
    const agg = this.keys.get(key);
    if (agg?.fits(values)) {
      agg.add(values, r.ts);
      return;
    }
    if (agg) this.emit(agg.row()); // its sums are full: emit the partial row, merged later
    else if (this.keys.size >= this.opts.maxKeys) this.flush();
    this.keys.set(key, new MapAggregate(r.service, bucket, values, r.ts));
  }

  /** Emits every key held in memory. */
  flush(): void {
    for (const agg of this.keys.values()) this.emit(agg.row());
    this.keys.clear();
  }

  /** Any line that is not a master record fails the task: the daemon then quarantines it and runs again. */
  private parse(line: string): MasterRecord {
    const r = parseRecord(line);
    if (typeof r === 'string') throw new JobInputError(`${INVALID_RECORD} at input line ${this.lineNo}: ${r}: ${excerpt(line)}`);
    return r;
  }
}

/**
 * Combiner and reducer: input sorted by key (Hadoop's shuffle), rows of one key merged into one.
 * The same code for both is what makes the combiner safe: merging is associative and commutative.
 */
export class SortedMerger {
  private current?: MergeAggregate;
  rowsIn = 0;
  rowsOut = 0;

  constructor(private readonly emit: (row: string) => void) {}

  push(line: string): void {
    if (line === '') return;
    const { key, fields } = parseRow(line);
    this.rowsIn++;
    if (this.current?.key === key) {
      this.current.merge(fields);
      return;
    }
    this.end();
    this.current = new MergeAggregate(key, fields);
  }

  end(): void {
    if (!this.current) return;
    this.emit(this.current.row());
    this.rowsOut++;
    this.current = undefined;
  }
}
