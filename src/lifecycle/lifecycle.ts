import { rm } from 'node:fs/promises';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { CompactionRun, RetentionRun } from '../api.js';
import type { BatchLayer } from '../batch/batch-layer.js';
import type { Absorbed } from '../core/absorbed.js';
import type { Horizons } from '../core/horizons.js';
import type { Logger } from '../log.js';
import type { Database } from '../serving/database.js';
import type { Quarantine } from '../storage/quarantine.js';
import type { MasterStore } from '../storage/store.js';
import { compact } from './compaction.js';
import { applyRetention, type RetentionOptions } from './retention.js';

/** Retention's defaults, the daemon's too (src/config/settings.ts says the same in its own units). */
export const DEFAULT_RETENTION: RetentionOptions = {
  rawUs: 30 * 86_400e6,
  minuteUs: 7 * 86_400e6,
  hourUs: 90 * 86_400e6,
  dayUs: 0,
  sizeBytes: 0,
};

export interface LifecycleDeps {
  db: Database;
  store: MasterStore;
  batch: BatchLayer;
  absorbed: Absorbed;
  quarantine: Quarantine;
  /** Local scratch for compacted files on their way to the store. */
  dir: string;
  retention: RetentionOptions;
  /** Epoch µs. */
  now: () => number;
  log: Logger;
}

/**
 * The master dataset's lifecycle after it is written: compaction and retention, each run under the batch layer's
 * lock (no engine lists or reads files while they change), on a connection of their own.
 */
export class Lifecycle {
  private lastCompact: CompactionRun | null = null;
  private lastRetention: RetentionRun | null = null;

  private constructor(
    private readonly deps: LifecycleDeps,
    private readonly conn: DuckDBConnection,
  ) {}

  static async create(deps: LifecycleDeps): Promise<Lifecycle> {
    // Parquet files a killed compaction left on their way to the store: never in the store, so nothing to keep.
    await rm(deps.dir, { recursive: true, force: true });
    return new Lifecycle(deps, await deps.db.connect());
  }

  get lastCompaction(): CompactionRun | null {
    return this.lastCompact;
  }

  get lastRetentionRun(): RetentionRun | null {
    return this.lastRetention;
  }

  compact(): Promise<CompactionRun> {
    const { batch, store, absorbed, quarantine, dir, now } = this.deps;
    const log = this.deps.log.child({ module: 'compaction' });
    return batch.exclusive(async () => {
      const startedAt = now();
      const result = await compact({ conn: this.conn, store, absorbed: absorbed.current(), quarantine, dir, log }, (done, of) =>
        log.info({ done, of }, 'compaction progress'),
      );
      this.lastCompact = { startedAt, finishedAt: now(), ...result };
      return this.lastCompact;
    });
  }

  applyRetention(): Promise<RetentionRun> {
    const { batch, store, absorbed, now, retention } = this.deps;
    const log = this.deps.log.child({ module: 'retention' });
    return batch.exclusive(async () => {
      const startedAt = now();
      const r = await applyRetention({ conn: this.conn, store, absorbed: absorbed.current(), options: retention, now: startedAt, log });
      this.lastRetention = { startedAt, finishedAt: now(), ...r, tiers: tiersOf(r.horizons) };
      return this.lastRetention;
    });
  }

  close(): void {
    this.conn.closeSync();
  }
}

/** The tiers' horizons as the API shows them: null where nothing was removed yet. */
export const tiersOf = (h: Horizons) => ({
  rawFrom: h.raw || null,
  minuteFrom: h.minute || null,
  hourFrom: h.hour || null,
  dayFrom: h.day || null,
});
