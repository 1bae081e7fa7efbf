/**
 * The daemon with `--storage hdfs` against a real HDFS: UDP in, segments shipped to HDFS, exact stats out,
 * batch runs reading the master dataset back from HDFS, Hadoop's own FsShell reading what the daemon wrote,
 * and the namenode stopped while the daemon ingests (backlog grows, nothing lost, exact after it returns).
 */
import { tmpdir } from 'node:os';
import anyTest, { type TestFn } from 'ava';
import { HdfsStore } from '../../src/storage/hdfs-store.js';
import { WebHdfs } from '../../src/storage/webhdfs.js';
import { ALL_TIME, type Daemon, gql, message, sendUdp, startDaemon, waitFor } from '../helpers/daemon.js';
import { daemonOnHdfs, type HdfsCluster, hadoopAvailable, registerUnavailable, startHdfs } from '../helpers/hadoop-cluster.js';

const test = anyTest as TestFn<{ hdfs: HdfsCluster }>;
const daemons: Daemon[] = [];

type Stats = { stats: { service: string; count: number; batchCount: number; cpu: { mean: number; max: number } }[] };
const STATS = 'query($from: DateTime!, $to: DateTime!) { stats(from: $from, to: $to) { service count batchCount cpu { mean max } } }';
type Pipeline = { pipeline: { accepted: number; backlogSegments: number; storage: string; lastBatch: { status: string; error: string | null } | null } };
const PIPELINE = '{ pipeline { accepted backlogSegments storage lastBatch { status error } } }';
const total = (s: Stats) => s.stats.reduce((n, x) => n + x.count, 0);

/** Ship every second and seal young segments, so files reach HDFS while the test watches. */
const hdfsArgs = (hdfs: HdfsCluster, root: string) => [...daemonOnHdfs(hdfs, root), '--ship-schedule', '*/1 * * * * *', '--segment-max-age', '1s'];

const avail = await hadoopAvailable();
if (!avail.ok) {
  registerUnavailable(anyTest, 'daemon on HDFS', avail.why);
} else {
  test.before(async (t) => {
    const hdfs = await startHdfs();
    t.log(`HDFS up in ${hdfs.startMs} ms`);
    t.context = { hdfs };
  });
  test.after.always(async (t) => {
    await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
    await t.context.hdfs?.stop();
  });

  test.serial('UDP in, master dataset on HDFS, exact stats out, a batch run reads HDFS; FsShell reads the same bytes', async (t) => {
    const { hdfs } = t.context;
    const d = await startDaemon(hdfsArgs(hdfs, '/e2e'));
    daemons.push(d);
    const now = Date.now() / 1000;
    const payloads = Array.from({ length: 1200 }, (_, i) => message(['a', 'b', 'c'][i % 3], now - 5400 + i * 4, i % 100));
    await sendUdp(d.udpPort, payloads, 5000);
    await waitFor('shipped', async () => {
      const { pipeline } = await gql<Pipeline>(d.url, PIPELINE);
      const ls = await hdfs.hadoopFs(['-ls', '-R', '/e2e/master']);
      return pipeline.accepted === 1200 && pipeline.backlogSegments === 0 && ls.stdout.toString().includes('seg-') && pipeline;
    });
    const before = await gql<Stats>(d.url, STATS, ALL_TIME);
    t.is(total(before), 1200);
    const { runBatch } = await gql<{ runBatch: { status: string; records: number; error: string | null } }>(
      d.url,
      'mutation { runBatch { status records error } }',
    );
    t.is(runBatch.status, 'SUCCEEDED', runBatch.error ?? '');
    t.true(runBatch.records > 1100, `batch read ${runBatch.records} records from HDFS`);
    const after = await gql<Stats>(d.url, STATS, ALL_TIME);
    t.deepEqual(
      after.stats.map(({ batchCount: _b, ...s }) => s),
      before.stats.map(({ batchCount: _b, ...s }) => s),
    );
    t.true(after.stats.every((s) => s.batchCount > 300));
    const expectedMean = payloads.reduce((sum, _, i) => sum + (i % 3 === 0 ? i % 100 : 0), 0) / 400;
    t.is(after.stats.find((s) => s.service === 'a')!.cpu.mean, expectedMean);

    // Hadoop's own client lists the files and reads them byte for byte as the daemon's WebHDFS client wrote them.
    const ls = (await hdfs.hadoopFs(['-ls', '-R', '/e2e/master'])).stdout.toString();
    const files = ls
      .split('\n')
      .map((l) => l.trim().split(/\s+/).at(-1) ?? '')
      .filter((p) => p.endsWith('.jsonl'));
    t.true(files.length >= 2, ls);
    const catAll = await hdfs.hadoopFs(['-cat', ...files]);
    t.is(catAll.code, 0);
    const lines = catAll.stdout.toString().trim().split('\n');
    t.is(lines.length, 1200);
    t.deepEqual(Object.keys(JSON.parse(lines[0])), ['service', 'ts', 'cpu', 'ram_total', 'ram_free', 'disk_total', 'disk_free', 'recv']);
  });

  test.serial('namenode down while ingesting: ingest goes on, the backlog grows, nothing is lost; exact once it returns', async (t) => {
    const { hdfs } = t.context;
    const d = await startDaemon(hdfsArgs(hdfs, '/outage'));
    daemons.push(d);
    const now = Date.now() / 1000;
    const batch = (from: number, n: number) => Array.from({ length: n }, (_, i) => message(`s${i % 4}`, now - 3000 + from + i, (from + i) % 100));
    await sendUdp(d.udpPort, batch(0, 400), 4000);
    await waitFor('first ship', async () => (await gql<Pipeline>(d.url, PIPELINE)).pipeline.backlogSegments === 0 && (await hdfs.hadoopFs(['-ls', '-R', '/outage'])).stdout.includes('seg-'));

    await hdfs.stopNamenode();
    await sendUdp(d.udpPort, batch(400, 600), 4000);
    const grown = await waitFor(
      'backlog',
      async () => {
        const { pipeline } = await gql<Pipeline>(d.url, PIPELINE);
        return pipeline.backlogSegments >= 1 && pipeline.accepted === 1000 && pipeline;
      },
      30_000,
    );
    t.is(grown.accepted, 1000);
    // Queries keep answering from the realtime views, the outage notwithstanding.
    await waitFor('realtime', async () => total(await gql<Stats>(d.url, STATS, ALL_TIME)) === 1000);
    const failed = await gql<{ runBatch: { status: string; error: string; errorCode: string } }>(d.url, 'mutation { runBatch { status error errorCode } }');
    t.is(failed.runBatch.status, 'FAILED');
    t.is(failed.runBatch.errorCode, 'STORE_UNAVAILABLE');
    t.regex(failed.runBatch.error, /^STORE_UNAVAILABLE: /);
    t.notRegex(failed.runBatch.error, /\/|:\d{2,5}\b/, 'no path, URL or port in an API answer');

    await hdfs.restartNamenode();
    await waitFor('backlog shipped', async () => (await gql<Pipeline>(d.url, PIPELINE)).pipeline.backlogSegments === 0);
    const { runBatch } = await gql<{ runBatch: { status: string; error: string | null } }>(d.url, 'mutation { runBatch(full: true) { status error } }');
    t.is(runBatch.status, 'SUCCEEDED', runBatch.error ?? '');
    const s = await gql<Stats>(d.url, STATS, ALL_TIME);
    t.is(total(s), 1000);
    t.true(s.stats.every((x) => x.batchCount === 250), JSON.stringify(s.stats));
  });

  test.serial('a garbage line in a master file on HDFS: the daemon starts, a batch run quarantines it under <root>/quarantine and succeeds', async (t) => {
    const { hdfs } = t.context;
    const d = await startDaemon(hdfsArgs(hdfs, '/garbage'));
    daemons.push(d);
    const now = Date.now() / 1000;
    await sendUdp(d.udpPort, Array.from({ length: 300 }, (_, i) => message(`g${i % 3}`, now - 600 + i, i % 100)), 3000);
    await waitFor('shipped', async () => {
      const { pipeline } = await gql<Pipeline>(d.url, PIPELINE);
      return pipeline.accepted === 300 && pipeline.backlogSegments === 0 && (await hdfs.hadoopFs(['-ls', '-R', '/garbage/master'])).stdout.includes('seg-');
    });
    t.is(await d.stop('SIGTERM'), 0);
    // A broken writer or disk left a line no reader can parse in the middle of a master file.
    const client = new WebHdfs({ urls: [hdfs.namenodeHttp], user: 'hms' });
    const master = await new HdfsStore({ urls: [hdfs.namenodeHttp], user: 'hms', root: '/garbage', cacheDir: tmpdir(), cacheMaxBytes: 1 << 20, client }).list();
    const victim = master[0];
    const path = `/garbage/master/${victim.partition}/${victim.name}`;
    const data = (await client.readAll(path)).toString();
    const cut = data.indexOf('\n') + 1;
    const garbage = '\u0000\u0000 not a record \u00ff\n';
    await client.create(path, Buffer.from(data.slice(0, cut) + garbage + data.slice(cut)), { overwrite: true });

    const again = await startDaemon(hdfsArgs(hdfs, '/garbage'), d.dataDir);
    daemons.push(again);
    // The realtime views were saved with the data dir: the start-up reads no master file again.
    t.is(total(await gql<Stats>(again.url, STATS, ALL_TIME)), 300);
    // The batch run reads the file, fails on the line, has it scrubbed, and runs again.
    const { runBatch } = await gql<{ runBatch: { status: string; error: string | null } }>(again.url, 'mutation { runBatch(full: true) { status error } }');
    t.is(runBatch.status, 'SUCCEEDED', runBatch.error ?? '');
    const quarantined = await client.list(`/garbage/quarantine/master/${victim.partition}`);
    t.deepEqual(
      quarantined.map((f) => f.pathSuffix),
      [`${victim.name}.${cut}.bad`],
    );
    t.is((await client.readAll(`/garbage/quarantine/master/${victim.partition}/${victim.name}.${cut}.bad`)).toString(), garbage);
    t.is(total(await gql<Stats>(again.url, STATS, ALL_TIME)), 300);
    t.is(((await gql<{ pipeline: { quarantinedLines: number } }>(again.url, '{ pipeline { quarantinedLines } }')).pipeline).quarantinedLines, 1);
  });
}
