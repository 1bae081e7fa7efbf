/**
 * The pipeline of test/helpers/pipeline.ts with the Spark speed engine, a shared Spark driver per test file
 * (start-up is the expensive part), and the one test that stands for a Spark suite that cannot run here.
 */
import type { TestFn } from 'ava';
import { loadConfig } from '../../src/config/settings.js';
import type { MasterStore } from '../../src/storage/store.js';
import { prepareSparkRuntime, SparkDriver, type SparkRuntime } from '../../src/speed/spark-driver.js';
import { SparkSpeedLayer } from '../../src/speed/spark-speed.js';
import type { HealthMessage } from '../../src/core/message.js';
import { buildPipeline, type Pipeline } from './pipeline.js';

export type SparkAvailability = { ok: true; runtime: SparkRuntime } | { ok: false; why: string };

let availability: Promise<SparkAvailability> | undefined;

/** Java, the cached jars (fetched with Maven when missing) and the compiled driver; asked once per process. */
export function sparkAvailable(): Promise<SparkAvailability> {
  availability ??= prepareSparkRuntime({ jars: loadConfig({ flags: {}, env: process.env }).sparkJars, fetch: true }).then(
    (runtime): SparkAvailability => ({ ok: true, runtime }),
    (err: Error): SparkAvailability => ({ ok: false, why: err.message }),
  );
  return availability;
}

/** Fails in CI (where Spark is required) and elsewhere passes with the reason in the log: never a silent skip. */
export function registerSparkUnavailable(test: TestFn, suite: string, why: string): void {
  test(`${suite}: needs Java and the Spark jars`, (t) => {
    if (process.env.CI) t.fail(`Spark required in CI: ${why}`);
    else {
      t.log(`${suite} skipped: ${why}`);
      t.pass();
    }
  });
}

/** One local[2] driver for a whole test file. */
export function sharedDriver(runtime: SparkRuntime, conf: Record<string, string> = {}): SparkDriver {
  return new SparkDriver({ runtime, master: 'local[2]', heap: '768m', conf, startTimeoutMs: 240_000 });
}

export interface SparkPipelineOptions {
  driver: SparkDriver;
  dir?: string;
  /** The master store (Spark reads it through the store's URIs); default a LocalStore under `root`. */
  storage?: (root: string) => Promise<MasterStore>;
}

export async function buildSparkPipeline(opts: SparkPipelineOptions) {
  return buildPipeline({
    dir: opts.dir,
    store: opts.storage,
    speed: (deps) => SparkSpeedLayer.create({ ...deps, driver: opts.driver, ownsDriver: false, warmUp: false }),
  });
}

export type SparkPipeline = Awaited<ReturnType<typeof buildSparkPipeline>>;

/**
 * Feeds the same messages to a DuckDB-engine pipeline and a Spark-engine one. The DuckDB engine keeps the
 * segment a message went to; a Spark tick seals the open segment. Sealing the DuckDB pipeline at the same
 * points gives both the same segment ids, so their realtime rows compare key for key.
 */
export function twins(duck: Pipeline, spark: SparkPipeline) {
  return {
    both(msgs: HealthMessage[]) {
      duck.ingest(msgs);
      spark.ingest(msgs);
    },
    async tickBoth() {
      await duck.segments.seal();
      await duck.speed.tick();
      await spark.speed.tick();
    },
  };
}

export { dumpTable } from './pipeline.js';
