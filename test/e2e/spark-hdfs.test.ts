/**
 * The Spark speed engine against real Spark (local[2]) reading the master dataset from a real HDFS
 * (MiniDFSCluster from test/helpers/hadoop-cluster.ts) over hdfs://, writing its Parquet output to HDFS,
 * and the daemon side fetching that output over WebHDFS. One HDFS and one Spark driver for this file.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { MICROS_PER_HOUR, MICROS_PER_MINUTE } from '../../src/core/time.js';
import { HdfsStore } from '../../src/storage/hdfs-store.js';
import { WebHdfs } from '../../src/storage/webhdfs.js';
import { type HdfsCluster, hadoopAvailable, startHdfs } from '../helpers/hadoop-cluster.js';
import { batchKeepsAnswers, buildPipeline, random, randomMessages, randomWindows } from '../helpers/pipeline.js';
import { boundaryMessages, straddling } from '../helpers/spark-data.js';
import { buildSparkPipeline, dumpTable, registerSparkUnavailable, sharedDriver, sparkAvailable, twins } from '../helpers/spark-pipeline.js';

const [spark, hadoop] = await Promise.all([sparkAvailable(), hadoopAvailable()]);

if (!spark.ok || !hadoop.ok) {
  registerSparkUnavailable(test, 'Spark speed engine on HDFS', [spark, hadoop].map((a) => (a.ok ? '' : a.why)).filter(Boolean).join('; '));
} else {
  // Spark's HDFS client: one datanode, so one replica (the default of three would leave every block short).
  const driver = sharedDriver(spark.runtime, { 'spark.hadoop.dfs.replication': '1' });
  let cluster: HdfsCluster;
  let roots = 0;
  test.before(async () => {
    [cluster] = await Promise.all([startHdfs(), driver.start()]);
  });
  test.after.always(async () => {
    await driver.stop();
    await cluster?.stop();
  });

  /**
   * A Spark pipeline whose master dataset and Spark output live under a fresh HDFS root. Spark reaches HDFS
   * over its RPC protocol (hdfs://), as executors on a cluster do. (webhdfs:// is not an option: the WebHDFS
   * file system in Spark's shaded Hadoop client misses its shaded Jersey runtime.)
   */
  const hdfsPipeline = () =>
    buildSparkPipeline({
      driver,
      storage: async (local) => {
        const root = `/hms-${++roots}`;
        return new HdfsStore({ urls: [cluster.namenodeHttp], user: 'hms', root, fsUri: cluster.fsUri, cacheDir: join(local, 'stage'), cacheMaxBytes: 64 << 20 });
      },
    });

  test.serial('invariant 3 on HDFS: spark over hdfs:// gives the rows of the embedded engine, data straddling W included', async (t) => {
    const duck = await buildPipeline({ dir: await mkdtemp(join(tmpdir(), 'hms-views-')) });
    t.teardown(() => duck.close());
    const sp = await hdfsPipeline();
    t.teardown(() => sp.close());
    t.is(sp.store.kind, 'hdfs');
    const rnd = random(17);
    const { both, tickBoth } = twins(duck, sp);
    const compare = async (what: string) => t.deepEqual(await dumpTable(sp.db, 'rt_minute'), await dumpTable(duck.db, 'rt_minute'), what);

    both([...randomMessages(rnd, 2000, duck.clock.now - 3 * MICROS_PER_HOUR, duck.clock.now + 30_000_000), ...boundaryMessages(duck.clock.now - 70 * MICROS_PER_MINUTE)]);
    await tickBoth();
    await compare('before any batch run');
    for (const p of [duck, sp]) t.is((await p.batch.run()).status, 'SUCCEEDED');
    await sp.speed.tick();
    await compare('after the batch run');
    both(straddling(rnd, sp.batch.watermark!, 1000));
    await tickBoth();
    await compare('data straddling W');
    const timing = sp.speed.status().lastTick!;
    t.true(timing.files > 1 && timing.rows > 100 && !timing.skipped);
    t.log(`tick on HDFS: ${JSON.stringify(timing)}`);
  });


  test.serial('invariant 1 on HDFS with the spark engine: same answers before and after a batch run', async (t) => {
    const p = await hdfsPipeline();
    t.teardown(() => p.close());
    const rnd = random(8);
    const start = p.clock.now - 4 * MICROS_PER_HOUR;
    const windows = randomWindows(rnd, start - MICROS_PER_HOUR, p.clock.now + MICROS_PER_HOUR, 25);
    for (let step = 0; step < 2; step++) {
      p.ingest(randomMessages(rnd, 1200, start, p.clock.now));
      await p.speed.tick();
      const after = await batchKeepsAnswers(t, p, windows);
      await p.speed.tick();
      t.deepEqual(await p.answers(windows), after);
      p.clock.now += 13 * MICROS_PER_MINUTE;
    }
    // Compaction on HDFS under the Spark engine: same answers; a late message for a compacted hour is read by
    // the next tick (its own segment's file) and kept across the next batch run.
    const before = await p.answers(windows);
    const compacted = await p.lifecycle.compact();
    t.true(compacted.partitions >= 3, `${compacted.partitions} partitions compacted`);
    t.true((await p.store.list()).some((f) => f.format === 'parquet'));
    await p.speed.tick();
    t.deepEqual(await p.answers(windows), before);
    p.ingest(randomMessages(rnd, 1, start + 5 * MICROS_PER_MINUTE, start + 6 * MICROS_PER_MINUTE));
    await p.speed.tick();
    const late = await p.answers(windows);
    t.is(
      late.at(-1)!.reduce((n, r) => n + r.count, 0),
      before.at(-1)!.reduce((n, r) => n + r.count, 0) + 1,
    );
    await batchKeepsAnswers(t, p, windows);
  });

  test.serial('an unreadable master line on HDFS goes to <root>/quarantine and the tick succeeds; no job output is left behind', async (t) => {
    const p = await hdfsPipeline();
    t.teardown(() => p.close());
    const rnd = random(23);
    p.ingest(randomMessages(rnd, 600, p.clock.now - MICROS_PER_HOUR, p.clock.now));
    await p.speed.tick();
    const count = async () => (await p.query.stats(p.clock.now - 2 * MICROS_PER_HOUR, p.clock.now + MICROS_PER_HOUR)).reduce((n, x) => n + x.count, 0);
    t.is(await count(), 600);
    // A garbage line in a file of the master dataset (as a broken disk or a hand edit might leave it).
    const root = `/hms-${roots}`;
    const client = new WebHdfs({ urls: [cluster.namenodeHttp], user: 'hms' });
    const [victim] = await p.store.list();
    const path = `${root}/master/${victim.partition}/${victim.name}`;
    const garbage = '{"service": "x", "ts": not json\n';
    await client.create(path, Buffer.concat([Buffer.from(garbage), await client.readAll(path)]), { overwrite: true });
    p.ingest(randomMessages(rnd, 30, p.clock.now - MICROS_PER_MINUTE, p.clock.now));
    await p.speed.tick();
    t.is(p.speed.status().failures, 0);
    t.is(p.quarantine.lines, 1);
    t.is(await count(), 630);
    const quarantined = await client.list(`${root}/quarantine/master/${victim.partition}`);
    t.deepEqual(
      quarantined.map((f) => f.pathSuffix),
      [`${victim.name}.0.bad`],
    );
    t.is((await client.readAll(`${root}/quarantine/master/${victim.partition}/${victim.name}.0.bad`)).toString(), garbage);
    t.deepEqual(await client.list(`${root}/tmp/speed-spark`).catch(() => []), [], 'no job output is left behind');
  });
}
