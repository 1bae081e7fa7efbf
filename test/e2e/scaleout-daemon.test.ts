/**
 * The daemon scaled out, end to end on a real HDFS: `--batch-engine mapreduce` (Hadoop Streaming in local
 * mode with this project's JavaScript tasks, reading hdfs://) and `--speed-engine spark` (a real Spark
 * driver in local[2] reading hdfs://). UDP in, exact stats out, the same answers before and after a batch run.
 */
import anyTest, { type TestFn } from 'ava';
import { ALL_TIME, type Daemon, gql, message, sendUdp, startDaemon, waitFor } from '../helpers/daemon.js';
import { daemonOnHdfs, type HdfsCluster, hadoopAvailable, registerUnavailable, startHdfs } from '../helpers/hadoop-cluster.js';
import { mapreduceAvailable } from '../helpers/mapreduce-env.js';
import { sparkAvailable } from '../helpers/spark-pipeline.js';

const test = anyTest as TestFn<{ hdfs: HdfsCluster }>;
const daemons: Daemon[] = [];

type Stat = { service: string; count: number; batchCount: number; realtimeCount: number; cpu: { mean: number; max: number; peakAt: string } };
const STATS = 'query($from: DateTime!, $to: DateTime!) { stats(from: $from, to: $to) { service count batchCount realtimeCount cpu { mean max peakAt } } }';
const stats = async (d: Daemon) => (await gql<{ stats: Stat[] }>(d.url, STATS, ALL_TIME)).stats;
const strip = (s: Stat[]) => s.map(({ batchCount: _b, realtimeCount: _r, ...rest }) => rest);
type Run = { runBatch: { status: string; engine: string; records: number; error: string | null } };
const RUN = 'mutation { runBatch { status engine records error } }';

/** 900 messages from 2 hours to 1 hour ago for 3 services, with known CPU values. */
function fleet(): string[] {
  const now = Date.now() / 1000;
  return Array.from({ length: 900 }, (_, i) => message(['web', 'db', 'queue'][i % 3], now - 7200 + i * 4, (i * 7) % 100));
}

const avail = [await hadoopAvailable(), await mapreduceAvailable(), await sparkAvailable()];
const missing = avail.find((a) => !a.ok);
if (missing && !missing.ok) {
  registerUnavailable(anyTest, 'scaled-out daemon', missing.why);
} else {
  test.before(async (t) => {
    t.context = { hdfs: await startHdfs() };
  });
  test.after.always(async (t) => {
    await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
    await t.context.hdfs?.stop();
  });

  test.serial('--storage hdfs --batch-engine mapreduce: a Hadoop Streaming job computes the batch views, answers unchanged', async (t) => {
    const d = await startDaemon([...daemonOnHdfs(t.context.hdfs, '/mr'), '--batch-engine', 'mapreduce']);
    daemons.push(d);
    const payloads = fleet();
    await sendUdp(d.udpPort, payloads, 5000);
    const before = await waitFor('realtime', async () => {
      const s = await stats(d);
      return s.reduce((n, x) => n + x.count, 0) === 900 && s;
    });
    const { runBatch } = await gql<Run>(d.url, RUN);
    t.is(runBatch.status, 'SUCCEEDED', runBatch.error ?? '');
    t.is(runBatch.engine, 'mapreduce');
    t.is(runBatch.records, 900);
    const after = await stats(d);
    t.deepEqual(strip(after), strip(before));
    t.true(after.every((s) => s.batchCount === 300 && s.realtimeCount === 0));
    const webMean = payloads.reduce((sum, _, i) => sum + (i % 3 === 0 ? (i * 7) % 100 : 0), 0) / 300;
    t.is(after.find((s) => s.service === 'web')!.cpu.mean, webMean);
    const { pipeline } = await gql<{ pipeline: { batchEngine: string; lastBatch: { engine: string } } }>(
      d.url,
      '{ pipeline { batchEngine lastBatch { engine } } }',
    );
    t.is(pipeline.batchEngine, 'mapreduce');
    t.is(pipeline.lastBatch.engine, 'mapreduce');
  });

  test.serial('--storage hdfs --speed-engine spark: Spark computes the realtime views; a batch run keeps every answer', async (t) => {
    const d = await startDaemon([...daemonOnHdfs(t.context.hdfs, '/spark'), '--speed-engine', 'spark', '--speed-schedule', '*/2 * * * * *']);
    daemons.push(d);
    await sendUdp(d.udpPort, fleet(), 5000);
    const before = await waitFor(
      'Spark realtime views',
      async () => {
        const s = await stats(d);
        return s.reduce((n, x) => n + x.count, 0) === 900 && s;
      },
      90_000,
    );
    t.true(before.every((s) => s.realtimeCount === 300));
    const { runBatch } = await gql<Run>(d.url, RUN);
    t.is(runBatch.status, 'SUCCEEDED', runBatch.error ?? '');
    const after = await stats(d);
    t.deepEqual(strip(after), strip(before));
    t.true(after.every((s) => s.batchCount === 300));
    // Later Spark ticks see the new watermark and add nothing twice.
    await new Promise((r) => setTimeout(r, 5000));
    t.deepEqual(await stats(d), after);
    const { pipeline } = await gql<{ pipeline: { speedEngine: string; jobs: { name: string; runs: number; failures: number }[] } }>(
      d.url,
      '{ pipeline { speedEngine jobs { name runs failures } } }',
    );
    t.is(pipeline.speedEngine, 'spark');
    const speedJob = pipeline.jobs.find((j) => j.name === 'speed')!;
    t.true(speedJob.runs >= 2);
    t.is(speedJob.failures, 0);
  });
}
