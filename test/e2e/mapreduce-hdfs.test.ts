/**
 * The mapreduce batch engine against a real HDFS (MiniDFSCluster from test/helpers/hadoop-cluster.ts, one
 * per file), jobs in Hadoop's local mode (LocalJobRunner) reading and writing hdfs://. The master dataset is in
 * the HDFS store (as with `--storage hdfs`): the duckdb engine stages its files, the mapreduce engine reads
 * them in place. Every job costs a JVM start: assertions are batched into few jobs.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { pino } from 'pino';
import { MICROS_PER_HOUR, MICROS_PER_MINUTE } from '../../src/core/time.js';
import { HdfsStore } from '../../src/storage/hdfs-store.js';
import { WebHdfs, WebHdfsError } from '../../src/storage/webhdfs.js';
import { MapReduceBatchEngine, type MapReduceBatchEngineOptions } from '../../src/batch/mapreduce-engine.js';
import { type HdfsCluster, hadoopAvailable, registerUnavailable, startHdfs } from '../helpers/hadoop-cluster.js';
import { compiledTaskDir, mapreduceAvailable } from '../helpers/mapreduce-env.js';
import { buildMrPipeline, type MrPipeline } from '../helpers/mapreduce-pipeline.js';
import { random, randomMessages } from '../helpers/pipeline.js';

const [mr, hdfs] = await Promise.all([mapreduceAvailable(), hadoopAvailable()]);

if (!mr.ok || !hdfs.ok) {
  registerUnavailable(test, 'mapreduce engine on HDFS', (mr.ok ? '' : mr.why) || (hdfs.ok ? '' : hdfs.why));
} else {
  const jars = mr.jars;
  let cluster: HdfsCluster;
  let client: WebHdfs;

  test.before(async () => {
    cluster = await startHdfs();
    client = new WebHdfs({ urls: [cluster.namenodeHttp], user: 'hms' });
  });

  test.after.always(async () => {
    await cluster?.stop();
  });

  /** A pipeline whose master dataset is also on HDFS under /<name>/master, and an engine factory for it. */
  async function setup(t: ExecutionContext, name: string) {
    const scratch = await mkdtemp(join(tmpdir(), 'hms-mr-scratch-'));
    const cacheDir = await mkdtemp(join(tmpdir(), 'hms-mr-cache-'));
    t.teardown(() => Promise.all([scratch, cacheDir].map((d) => rm(d, { recursive: true, force: true }))));
    // The store the daemon uses with --storage hdfs: the duckdb engine stages files from it, the mapreduce
    // engine reads them where they are.
    const p = await buildMrPipeline({
      store: () => new HdfsStore({ urls: [cluster.namenodeHttp], user: 'hms', root: `/${name}`, fsUri: cluster.fsUri, cacheDir, cacheMaxBytes: 1 << 30, client }),
    });
    t.teardown(() => p.close());
    const logs: Record<string, unknown>[] = [];
    const engine = async (over: Partial<MapReduceBatchEngineOptions> = {}) =>
      new MapReduceBatchEngine({
        submit: 'local',
        jarsDir: jars,
        store: p.store,
        localTmp: scratch,
        taskDir: await compiledTaskDir(),
        nodeBin: process.execPath,
        mapSlots: 2,
        log: pino({ level: 'info' }, { write: (s: string) => logs.push(JSON.parse(s)) }),
        ...over,
      });
    /** Nothing left of any run: the HDFS run directories and the local scratch. */
    const leftovers = async () => {
      const onHdfs = await client.list(`/${name}/tmp/mapreduce`).catch((err) => {
        if (err instanceof WebHdfsError && err.notFound) return [];
        throw err;
      });
      return [...onHdfs.map((s) => `hdfs:${s.pathSuffix}`), ...(await readdir(scratch))];
    };
    return { p, engine, logs, leftovers };
  }

  /** Several rounds of data, each shipped as its own segment: several files per hour partition. */
  function ingestRounds(p: MrPipeline, seed: number, rounds: number, perRound: number) {
    const rnd = random(seed);
    return async () => {
      for (let i = 0; i < rounds; i++) {
        p.ingest(randomMessages(rnd, perRound, p.clock.now - 6 * MICROS_PER_HOUR, p.clock.now + 5 * MICROS_PER_MINUTE));
        await p.ship();
      }
    };
  }

  test.serial('stage_minute: exactly the duckdb rows, with the combiner doing all merging, several map tasks and two reducers', async (t) => {
    const { p, engine, logs, leftovers } = await setup(t, 'stage');
    await ingestRounds(p, 31, 4, 5000)();
    const files = await p.store.list();
    t.true(files.length > 20);
    // A watermark inside the data: records at and after it must be held back by the mapper.
    const w = p.clock.now - 2 * MICROS_PER_HOUR - 17 * MICROS_PER_MINUTE;
    const e = await engine({ mapKeys: 0, reduces: 2, splitBytes: 256 << 10 });
    const rows = await p.stageMinutes(e, files, w);
    t.deepEqual(rows, await p.stageMinutes(p.duckdb, files, w));
    t.true(rows.length > 500);
    const done = logs.find((l) => l.msg === 'mapreduce job succeeded') as { counters: Record<string, number> } | undefined;
    t.truthy(done);
    const c = done!.counters;
    t.is(c['Map input records'], 20_000);
    t.is(c.map_records_kept + c.map_records_held_back, 20_000);
    t.true(c.map_records_held_back > 1000);
    t.is(c['Combine input records'], c.map_records_kept, 'mapKeys 0: a row per record, merged by the combiner');
    t.true(c['Combine output records'] < c['Combine input records'] / 5);
    t.is(c['Reduce output records'], rows.length);
    t.deepEqual(await leftovers(), []);
  });

  test.serial('batch layer on mapreduce: incremental runs equal a full recompute, and equal the duckdb engine views', async (t) => {
    const { p, engine, leftovers } = await setup(t, 'layer');
    p.engine.current = await engine();
    const rnd = random(41);
    for (let step = 0; step < 3; step++) {
      // Late data too: some of every round falls into hours an earlier run already covered.
      // 26 hours: two days' partitions, few enough files to upload quickly.
      p.ingest(randomMessages(rnd, 3000, p.clock.now - 26 * MICROS_PER_HOUR, p.clock.now));
      const run = await p.batch.run();
      t.is(run.status, 'SUCCEEDED', run.error ?? '');
      t.is(run.mode, step === 0 ? 'FULL' : 'INCREMENTAL');
      t.is(run.engine, 'mapreduce');
      p.clock.now += 23 * MICROS_PER_MINUTE;
    }
    p.clock.now -= 23 * MICROS_PER_MINUTE; // the full runs see the last run's watermark
    const incremental = await p.batchViews();
    t.true(incremental.minute.length > 2000);
    t.is(new Set(incremental.day.map((r) => r.split(',')[1])).size, 2, 'two days');

    const full = await p.batch.run({ full: true });
    t.is(full.status, 'SUCCEEDED', full.error ?? '');
    t.is(full.mode, 'FULL');
    t.deepEqual(await p.batchViews(), incremental);

    await p.duckdbAgrees(t, full, incremental);

    // Compaction on HDFS: each closed hour one Parquet file, which the job reads through HmsMasterInputFormat.
    const window: [number, number] = [p.clock.now - 27 * MICROS_PER_HOUR, p.clock.now + MICROS_PER_HOUR];
    const answer = await p.query.stats(...window);
    const compacted = await p.lifecycle.compact();
    t.true(compacted.partitions >= 20, `${compacted.partitions} partitions compacted`);
    t.deepEqual(await p.store.list({ overshadowed: true }), []);
    t.deepEqual(await p.query.stats(...window), answer);
    p.engine.current = await engine();
    const fromParquet = await p.batch.run({ full: true });
    t.is(fromParquet.status, 'SUCCEEDED', fromParquet.error ?? '');
    t.is(fromParquet.engine, 'mapreduce');
    t.deepEqual(await p.batchViews(), incremental);
    t.deepEqual(await p.query.stats(...window), answer);
    t.deepEqual(await leftovers(), []);
  });

  test.serial("a failing map task: the run fails (ENGINE_FAILED, Hadoop's text in the log); views, watermark, realtime rows stay; temp dirs removed", async (t) => {
    const { p, engine, leftovers } = await setup(t, 'fail');
    p.engine.current = await engine({ failMarker: 'poison-service' });
    const rnd = random(51);
    p.ingest(randomMessages(rnd, 2000, p.clock.now - 6 * MICROS_PER_HOUR, p.clock.now));
    t.is((await p.batch.run()).status, 'SUCCEEDED');
    p.clock.now += 30 * MICROS_PER_MINUTE;
    p.ingest(randomMessages(rnd, 500, p.clock.now - 40 * MICROS_PER_MINUTE, p.clock.now));
    p.ingest(randomMessages(rnd, 1, p.clock.now - 20 * MICROS_PER_MINUTE, p.clock.now - 19 * MICROS_PER_MINUTE, ['poison-service']));
    await p.speed.tick();
    const before = { w: p.batch.watermark, minute: await p.dump('batch_minute'), hour: await p.dump('batch_hour'), rt: await p.dump('rt_minute'), meta: await p.dump('meta') };
    const window: [number, number] = [p.clock.now - 7 * MICROS_PER_HOUR, p.clock.now];
    const stats = await p.query.stats(...window);

    const run = await p.batch.run();
    t.is(run.status, 'FAILED');
    t.is(run.engine, 'mapreduce');
    t.is(run.errorCode, 'ENGINE_FAILED');
    t.is(run.error, 'ENGINE_FAILED: the engine failed; see the daemon log', 'no job text in the API answer');
    const error = p.lastBatchFailure(); // Hadoop's words are in the log
    t.regex(error, /MapReduce job job_local\w+ failed \(exit code 1\)/);
    t.regex(error, /hms-mr mapper failed .*failure marker "poison-service"/, 'the task stderr');
    t.regex(error, /PipeMapRed\.waitOutputThreads\(\): subprocess failed with code 3/, "Hadoop's own words");
    t.regex(error, /Job not successful/);
    t.is(p.batch.watermark, before.w);
    t.deepEqual(await p.dump('batch_minute'), before.minute);
    t.deepEqual(await p.dump('batch_hour'), before.hour);
    t.deepEqual(await p.dump('rt_minute'), before.rt);
    t.deepEqual(await p.dump('meta'), before.meta);
    t.deepEqual(await p.query.stats(...window), stats);
    t.deepEqual(await leftovers(), []);
  });
}
