/**
 * The mapreduce batch engine in cluster mode against a real Hadoop with YARN (MiniHadoopClusterManager:
 * HDFS + ResourceManager + NodeManager + JobHistoryServer in one JVM; tasks in their own containers), the
 * job submitted as from an edge node. Three jobs (a YARN job takes 15-20 s here): one that succeeds and must
 * give the duckdb engine's views, the same over the compacted (Parquet) partitions, one whose map task fails.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { pino } from 'pino';
import { MICROS_PER_HOUR, MICROS_PER_MINUTE } from '../../src/core/time.js';
import { HdfsStore } from '../../src/storage/hdfs-store.js';
import { WebHdfs, WebHdfsError } from '../../src/storage/webhdfs.js';
import { MapReduceBatchEngine } from '../../src/batch/mapreduce-engine.js';
import { hadoopAvailable, registerUnavailable } from '../helpers/hadoop-cluster.js';
import { compiledTaskDir, mapreduceAvailable } from '../helpers/mapreduce-env.js';
import { buildMrPipeline } from '../helpers/mapreduce-pipeline.js';
import { startYarn, streamingJar, type YarnCluster } from '../helpers/mapreduce-yarn.js';
import { random, randomMessages } from '../helpers/pipeline.js';

const [mr, hadoop] = await Promise.all([mapreduceAvailable(), hadoopAvailable()]);

if (!mr.ok || !hadoop.ok) {
  registerUnavailable(test, 'mapreduce engine on YARN', (mr.ok ? '' : mr.why) || (hadoop.ok ? '' : hadoop.why));
} else {
  let cluster: YarnCluster;

  test.before(async (t) => {
    cluster = await startYarn(hadoop.jars);
    t.log(`HDFS + YARN started in ${cluster.startMs} ms`);
  });

  test.after.always(async () => {
    await cluster?.stop();
  });

  test.serial('YARN: a batch run gives the duckdb views with progress; a failing map task fails the run (ENGINE_FAILED, Hadoop’s text in the log) and changes nothing', async (t) => {
    const client = new WebHdfs({ urls: [cluster.namenodeHttp], user: 'hms' });
    const cacheDir = await mkdtemp(join(tmpdir(), 'hms-mr-cache-'));
    t.teardown(() => rm(cacheDir, { recursive: true, force: true }));
    const p = await buildMrPipeline({
      store: () => new HdfsStore({ urls: [cluster.namenodeHttp], user: 'hms', root: '/hms', fsUri: cluster.fsUri, cacheDir, cacheMaxBytes: 1 << 30, client }),
    });
    t.teardown(() => p.close());
    const { progress } = p.engine;
    const classpath = `${cluster.confDir}:${hadoop.jars}/*:${await streamingJar(mr.jars)}`;
    const taskDir = await compiledTaskDir();
    const engine = (failMarker?: string) =>
      new MapReduceBatchEngine({
        // What `hadoop jar hadoop-streaming.jar` runs on an edge node.
        submit: ['java', '-Xmx512m', `-Dlog4j.configuration=file:${cluster.clientLog4j}`, '-cp', classpath, 'org.apache.hadoop.streaming.HadoopStreaming'],
        store: p.store,
        // The jar cache: the input format is compiled against it, and its Parquet jars are shipped.
        jarsDir: mr.jars,
        taskDir,
        nodeBin: process.execPath,
        failMarker,
        conf: {
          // The task containers' classpath: the cluster's jars (an installed Hadoop has its own setting).
          'mapreduce.application.classpath': `${cluster.confDir},${hadoop.jars}/*`,
          // Two attempts, not the default four: the client prints a failed attempt's error while the job
          // goes on (with one attempt the job is over before the client asks for task events).
          'mapreduce.map.maxattempts': '2',
        },
        log: pino({ level: 'silent' }),
      });

    const rnd = random(61);
    p.ingest(randomMessages(rnd, 5000, p.clock.now - 5 * MICROS_PER_HOUR, p.clock.now + 5 * MICROS_PER_MINUTE));
    p.engine.current = engine();
    const run = await p.batch.run();
    t.is(run.status, 'SUCCEEDED', run.error ?? '');
    t.is(progress.at(-1), '100/100');
    t.true(progress.length >= 2, progress.join(' '));
    const views = await p.batchViews();
    p.engine.current = p.duckdb;
    const duck = await p.batch.run({ full: true });
    t.is(duck.records, run.records);
    t.deepEqual(await p.batchViews(), views);
    // Compacted partitions, read by the task containers through the input format shipped with -libjars.
    t.true((await p.lifecycle.compact()).partitions >= 3);
    p.engine.current = engine();
    const fromParquet = await p.batch.run({ full: true });
    t.is(fromParquet.status, 'SUCCEEDED', fromParquet.error ?? '');
    t.is(fromParquet.records, run.records);
    t.deepEqual(await p.batchViews(), views);

    p.clock.now += 20 * MICROS_PER_MINUTE;
    p.ingest(randomMessages(rnd, 300, p.clock.now - 15 * MICROS_PER_MINUTE, p.clock.now));
    p.ingest(randomMessages(rnd, 1, p.clock.now - 10 * MICROS_PER_MINUTE, p.clock.now - 9 * MICROS_PER_MINUTE, ['poison-service']));
    p.engine.current = engine('poison-service');
    const meta = await p.dump('meta');
    const failed = await p.batch.run();
    t.is(failed.status, 'FAILED');
    t.is(failed.errorCode, 'ENGINE_FAILED');
    const logged = p.lastBatchFailure(); // the API answer has the code; Hadoop's words are in the log
    t.regex(logged, /MapReduce job job_\d+_\d+ failed \(exit code 1\)/);
    t.regex(logged, /Status : FAILED/);
    t.regex(logged, /PipeMapRed\.waitOutputThreads\(\): subprocess failed with code 3/);
    t.regex(logged, /failed with state FAILED due to: Task failed/);
    t.notRegex(logged, /\tat org\./);
    t.deepEqual(await p.dump('batch_minute'), views.minute);
    t.deepEqual(await p.dump('meta'), meta);
    const tmp = await client.list('/hms/tmp/mapreduce').catch((err) => (err instanceof WebHdfsError && err.notFound ? [] : Promise.reject(err)));
    t.deepEqual(tmp, [], 'run directories deleted');
  });
}
