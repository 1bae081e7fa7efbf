import type { Logger } from '../log.js';
import { type BadRun, scanRecords } from '../core/master-record.js';
import type { MasterFile, MasterStore } from './store.js';

/**
 * The quarantine: where lines the daemon cannot read back from its own files go (a crash of the machine, a
 * bad disk, a hand edit), so that one bad line never stops the daemon or fails a batch run, and nothing is
 * deleted. Each run of consecutive bad lines becomes one file `<source>.<offset>.bad` holding their bytes
 * as they were, with a log line naming the source, the offset and the reason; the rest of the source file
 * is kept. Local files go to `<data dir>/quarantine/`, master files to the store's own quarantine.
 */

const MAX_LOGGED_RUNS = 20;

export class Quarantine {
  private count = 0;

  constructor(
    readonly log: Logger,
    /** Persists the running total (the pipeline view shows it across restarts). */
    private readonly save: (total: number) => Promise<void> = async () => {},
    initial = 0,
  ) {
    this.count = initial;
  }

  /** Lines quarantined over the life of this data directory. */
  get lines(): number {
    return this.count;
  }

  /**
   * Moves the bad runs of `source` (a path relative to the quarantine root) out of the way with `write`,
   * then counts them. The caller replaces the source with the good lines only after this resolves.
   */
  async put(source: string, runs: BadRun[], write: (name: string, data: Buffer) => Promise<void>): Promise<number> {
    let lines = 0;
    for (const [i, run] of runs.entries()) {
      await write(`${source}.${run.offset}.bad`, run.data);
      lines += run.lines;
      if (i < MAX_LOGGED_RUNS) {
        this.log.warn({ file: source, offset: run.offset, lines: run.lines, reason: run.reason }, 'quarantined unreadable lines; the rest of the file is kept');
      }
    }
    if (runs.length > MAX_LOGGED_RUNS) this.log.warn({ file: source, runs: runs.length, lines }, 'quarantined more runs of unreadable lines than logged');
    this.count += lines;
    await this.save(this.count).catch((err) => this.log.warn({ err }, 'could not record the quarantine count'));
    return lines;
  }
}

const PARQUET_MAGIC = Buffer.from('PAR1');

/** A Parquet file starts and ends with its magic; one cut short (a full disk, a bad copy) does not. */
const isWholeParquet = (data: Buffer) => data.length >= 12 && data.subarray(0, 4).equals(PARQUET_MAGIC) && data.subarray(-4).equals(PARQUET_MAGIC);

/**
 * Scrubs master files in place: bad lines to the store's quarantine, the rest kept. A compacted (Parquet) file
 * has no lines to pick out: one that is not whole moves to the quarantine entirely, counted as one line (its
 * records cannot be counted), so that the batch runs on without it; one that is whole stays. Returns lines moved.
 */
export async function scrubMasterFiles(store: MasterStore, files: MasterFile[], quarantine: Quarantine): Promise<number> {
  let moved = 0;
  for (const f of files) {
    if (f.format === 'parquet') {
      const data = await store.read(f);
      if (isWholeParquet(data)) continue;
      moved += await quarantine.put(`master/${f.partition}/${f.name}`, [{ offset: 0, lines: 1, reason: 'not a whole Parquet file', data }], (name, bytes) =>
        store.quarantine(name, bytes),
      );
      await store.remove([f]);
      continue;
    }
    const scanned = scanRecords(await store.read(f));
    if (!scanned) continue;
    moved += await quarantine.put(`master/${f.partition}/${f.name}`, scanned.bad, (name, data) => store.quarantine(name, data));
    await store.replace(f, scanned.good);
  }
  return moved;
}

/**
 * Runs an engine over master data; when it fails, scrubs what it read and, if that quarantined anything,
 * runs it once more (over the inputs listed afresh). A failure with nothing to quarantine stands.
 */
export async function withScrub<T>(run: () => Promise<T>, scrub: () => Promise<number>, log: Logger): Promise<T> {
  try {
    return await run();
  } catch (err) {
    // Whatever the failure: the scrub finds out whether a bad record caused it (a store that is down fails
    // the scrub too, and the engine's own error is the one to report).
    const moved = await scrub().catch((e) => {
      log.warn({ err: e }, 'could not scrub the inputs of a failed run');
      return 0;
    });
    if (moved === 0) throw err;
    log.warn({ lines: moved, err: (err as Error).message }, 'an engine failed on unreadable master records; they were quarantined and the run is retried');
    return run();
  }
}
