/**
 * `node --import tsx bench/spark.ts [--hdfs] [--ticks N] [--period-ms MS] [--probes N]`: prints numbers for
 * the Spark speed engine, asserts nothing (machines are shared and noisy).
 * 1. Start-up: JVM + SparkSubmit + SparkSession until the driver answers, and the first (cold) job.
 * 2. The cost of one tick with new data, split into seal+ship, listing, the Spark job, fetch and load; and of
 *    an idle tick (nothing new: no job).
 * 3. Freshness: a message appended at a random moment, ticks on a fixed period (as the daemon's speed
 *    schedule runs them), until the message is visible in `stats`.
 * With --hdfs the master dataset and Spark's output are on a real mini HDFS.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MICROS_PER_HOUR } from '../src/core/time.js';
import { HdfsStore } from '../src/storage/hdfs-store.js';
import type { SparkTickTiming } from '../src/speed/spark-speed.js';
import { type HdfsCluster, startHdfs } from '../test/helpers/hadoop-cluster.js';
import { random, randomMessages } from '../test/helpers/pipeline.js';
import { buildSparkPipeline, sharedDriver, sparkAvailable } from '../test/helpers/spark-pipeline.js';

const { values: args } = parseArgs({
  options: {
    hdfs: { type: 'boolean', default: false },
    ticks: { type: 'string', default: '12' },
    'period-ms': { type: 'string', default: '2000' },
    probes: { type: 'string', default: '15' },
  },
});

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const summary = (xs: number[]) => `median ${pct(xs, 50).toFixed(0)} ms, p90 ${pct(xs, 90).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const avail = await sparkAvailable();
  if (!avail.ok) {
    console.log(`Spark unavailable: ${avail.why}`);
    return;
  }
  let cluster: HdfsCluster | undefined;
  if (args.hdfs) {
    cluster = await startHdfs();
    console.log(`mini HDFS up in ${cluster.startMs} ms`);
  }
  const driver = sharedDriver(avail.runtime, { 'spark.hadoop.dfs.replication': '1' });
  const t0 = Date.now();
  await driver.start();
  console.log(`Spark driver start-up (java + SparkSubmit + SparkSession, local[2]): ${driver.lastStartMs} ms`);
  const root = await mkdtemp(join(tmpdir(), 'hms-bench-spark-'));
  const p = await buildSparkPipeline({
    driver,
    dir: root,
    storage: cluster
      ? async (local) => {
          const c = cluster!;
          return new HdfsStore({ urls: [c.namenodeHttp], user: 'hms', root: '/hms', fsUri: c.fsUri, cacheDir: join(local, 'stage'), cacheMaxBytes: 1 << 30 });
        }
      : undefined,
  });
  const rnd = random(1);
  p.ingest(randomMessages(rnd, 20_000, p.clock.now - MICROS_PER_HOUR, p.clock.now));
  const tCold = Date.now();
  await p.speed.tick();
  console.log(`first (cold) tick over 20,000 messages: ${Date.now() - tCold} ms; start-up to first view ${Date.now() - t0} ms`);
  console.log(`storage: ${p.store.kind}; jar cache: ${avail.runtime.jars}`);

  const timings: SparkTickTiming[] = [];
  for (let i = 0; i < Number(args.ticks); i++) {
    p.ingest(randomMessages(rnd, 500, p.clock.now - 5 * 60_000_000, p.clock.now));
    await p.speed.tick();
    timings.push(p.speed.status().lastTick!);
  }
  const col = (k: keyof SparkTickTiming) => timings.map((t) => Number(t[k]));
  console.log(`tick with 500 new messages (${timings.length} ticks, ${timings.at(-1)!.files} files, ${timings.at(-1)!.messages} messages in view):`);
  console.log(`  total ${summary(col('totalMs'))}`);
  for (const k of ['sealAndShipMs', 'listMs', 'jobMs', 'sparkMs', 'fetchMs', 'loadMs'] as const) console.log(`  ${k.padEnd(14)} ${summary(col(k))}`);
  const idle: number[] = [];
  for (let i = 0; i < 5; i++) {
    await p.speed.tick();
    idle.push(p.speed.status().lastTick!.totalMs);
  }
  console.log(`idle tick (nothing new, no job): ${summary(idle)}`);

  // Freshness: ticks on a fixed period, skipped while one runs (node-cron's noOverlap), probes at random times.
  const period = Number(args['period-ms']);
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      const started = Date.now();
      await p.speed.tick().catch(() => undefined);
      await sleep(Math.max(0, period - ((Date.now() - started) % period)));
    }
  })();
  const fresh: number[] = [];
  for (let i = 0; i < Number(args.probes); i++) {
    await sleep(Math.floor(rnd() * period));
    const service = `probe-${i}`;
    const sent = Date.now();
    p.ingest([{ service, ts: p.clock.now, cpu: 1, ramTotal: 1, ramFree: 1, diskTotal: 1, diskFree: 1 }]);
    for (;;) {
      const [s] = await p.query.stats(p.clock.now - 60_000_000, p.clock.now + 60_000_000, service);
      if (s?.count === 1) break;
      await sleep(20);
    }
    fresh.push(Date.now() - sent);
  }
  stop = true;
  await loop;
  console.log(`freshness (append -> visible in stats), ticks every ${period} ms: ${summary(fresh)}`);
  await p.close();
  await rm(root, { recursive: true, force: true });
  await driver.stop();
  await cluster?.stop();
}

await main();
