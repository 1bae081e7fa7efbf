import { mkdtemp, rm } from 'node:fs/promises';
import type { ExecutionContext } from 'ava';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { mulberry32 } from '../../mock/random.js';
import type { ServiceStats } from '../../src/api.js';
import type { HealthMessage } from '../../src/core/message.js';
import { LocalStore } from '../../src/storage/local-store.js';
import { openPipeline } from '../../src/daemon/pipeline.js';
import type { MasterStore } from '../../src/storage/store.js';
import { DuckDBBatchEngine } from '../../src/batch/duckdb-engine.js';
import type { BatchEngine } from '../../src/batch/engine.js';
import type { Database } from '../../src/serving/database.js';
import { DuckDBSpeedLayer } from '../../src/speed/duckdb-speed.js';
import type { SpeedDeps, SpeedLayer } from '../../src/speed/speed-layer.js';
import type { RetentionOptions } from '../../src/lifecycle/retention.js';

export interface PipelineOptions<S extends SpeedLayer> {
  /** Where the DuckDB file, segments and a local master dataset go; a temp dir (removed on close) by default. */
  dir?: string;
  /** The master dataset store; a LocalStore under `<dir>/master` by default. */
  store?: (root: string) => MasterStore | Promise<MasterStore>;
  /** The batch engine; DuckDB by default. */
  engine?: (store: MasterStore) => BatchEngine;
  /** The speed layer; DuckDB by default. */
  speed?: (deps: SpeedDeps) => Promise<S>;
  /** Retention of each tier; the daemon's defaults by default. */
  retention?: RetentionOptions;
}

/**
 * The daemon's own pipeline (src/daemon/pipeline.ts) in process, with a clock the test moves, segments that only
 * seal and flush when told, and helpers to feed it and read it back.
 */
export async function buildPipeline<S extends SpeedLayer = DuckDBSpeedLayer>(opts: PipelineOptions<S> = {}) {
  const root = opts.dir ?? (await mkdtemp(join(tmpdir(), 'hms-views-')));
  // Errors are kept: API answers carry only a code, and the detail a test checks is in the log.
  const errors: string[] = [];
  const log = pino({ level: 'error' }, { write: (line: string) => void errors.push(line) });
  const clock = { now: Date.UTC(2026, 10, 27, 12, 0, 0) * 1000 };
  const store = opts.store ? await opts.store(root) : new LocalStore(join(root, 'master'));
  const p = await openPipeline({
    dataDir: root,
    store,
    batchEngine: opts.engine ? opts.engine(store) : new DuckDBBatchEngine(store),
    speedEngine: opts.speed ?? ((deps) => DuckDBSpeedLayer.create(deps)),
    segments: { flushIntervalMs: 60_000, maxBytes: 1 << 30, maxAgeMs: 3_600_000, maxUnflushedBytes: Number.MAX_SAFE_INTEGER },
    allowedLatenessUs: 60_000_000,
    retention: opts.retention,
    now: () => clock.now,
    log,
  });
  const sink = p.sink();
  return {
    ...p,
    speed: p.speed as S,
    root,
    clock,
    /** The logged error of the last failed batch run. */
    lastBatchFailure(): string {
      const logged = errors.map((l) => JSON.parse(l) as { msg: string; err?: { message: string } }).filter((e) => e.msg.startsWith('batch run failed'));
      return logged.at(-1)?.err?.message ?? '';
    },
    ingest(msgs: HealthMessage[]) {
      for (const m of msgs) if (!sink.one(m, clock.now)) throw new Error('the pipeline refused a message');
    },
    /** Seals and ships what was ingested (without a batch run). */
    async ship() {
      await p.sealAndShip();
    },
    /** Every row of a table, as text, in a fixed order: engines must agree exactly (the views are integers). */
    dump: (table: string) => dumpTable(p.db, table),
    /** The answer for each window, in order. */
    async answers(windows: [number, number][]): Promise<ServiceStats[][]> {
      const out: ServiceStats[][] = [];
      for (const [a, b] of windows) out.push(await p.query.stats(a, b));
      return out;
    },
    /** The three batch view tables, for comparing runs and engines. */
    batchViews: async () => ({ minute: await dumpTable(p.db, 'batch_minute'), hour: await dumpTable(p.db, 'batch_hour'), day: await dumpTable(p.db, 'batch_day') }),
    async close() {
      await p.close();
      if (!opts.dir) await rm(root, { recursive: true, force: true });
    },
  };
}

export type Pipeline = Awaited<ReturnType<typeof buildPipeline<DuckDBSpeedLayer>>>;

/** Every row of a table, as text, in a fixed order. */
export async function dumpTable(db: Database, table: string): Promise<string[]> {
  const conn = await db.connect();
  try {
    return (await conn.runAndReadAll(`SELECT * FROM ${table} ORDER BY ALL`)).getRows().map((r) => r.map(String).join(','));
  } finally {
    conn.closeSync();
  }
}

/** Random windows inside [from, to), plus the whole of it: the windows the union-invariance tests ask about. */
export function randomWindows(rnd: () => number, from: number, to: number, n: number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    const a = from + Math.floor(rnd() * (to - from));
    out.push([a, a + Math.floor(rnd() * (to - a)) + 1]);
  }
  out.push([from, to]);
  return out;
}

/** Stats without the per-layer counts, which a batch run moves from realtime to batch by design. */
export const withoutLayers = (rows: ServiceStats[]) => rows.map(({ batchCount: _b, realtimeCount: _r, ...rest }) => rest);

/**
 * Invariant 1 across one batch run: it succeeds, and every window answers the same before and after it (but
 * for which layer the messages came from). Resolves with the answers after the run.
 */
export async function batchKeepsAnswers(
  t: ExecutionContext,
  p: { answers(w: [number, number][]): Promise<ServiceStats[][]>; batch: { run(): Promise<{ status: string; error: string | null }> } },
  windows: [number, number][],
): Promise<ServiceStats[][]> {
  const before = await p.answers(windows);
  const run = await p.batch.run();
  t.is(run.status, 'SUCCEEDED', run.error ?? '');
  const after = await p.answers(windows);
  t.deepEqual(after.map(withoutLayers), before.map(withoutLayers));
  return after;
}

/** The mock fleet's deterministic PRNG. */
export const random = mulberry32;

export function randomMessages(rnd: () => number, n: number, fromUs: number, toUs: number, services = ['orders', 'payments', 'search']): HealthMessage[] {
  const out: HealthMessage[] = [];
  for (let i = 0; i < n; i++) {
    const ramTotal = 16 + Math.floor(rnd() * 3) * 16;
    const diskTotal = 100 + rnd() * 900;
    out.push({
      service: services[Math.floor(rnd() * services.length)],
      ts: fromUs + Math.floor(rnd() * (toUs - fromUs)),
      // Repeated values make ties for the maximum, which the peak-time rule must break the same way everywhere.
      cpu: rnd() < 0.1 ? 100 : Math.min(100, Math.round(rnd() * 10000) / 100 + rnd() * 1e-7),
      ramTotal,
      ramFree: rnd() * ramTotal,
      diskTotal,
      diskFree: rnd() * diskTotal,
    });
  }
  return out;
}
