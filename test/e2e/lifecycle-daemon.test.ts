/**
 * The master dataset's lifecycle in the real daemon: the compact and applyRetention mutations and their jobs,
 * forgetting services (the mutation and --forget-after), and a full batch run inside --memory-limit.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { ALL_TIME, CLI, gql, killedAfterwards, message, sendUdp, waitFor } from '../helpers/daemon.js';

const start = killedAfterwards(test);

const STATS = `query($from: DateTime!, $to: DateTime!) { stats(from: $from, to: $to) { service count cpu { mean min max peakAt } } }`;
const PIPELINE = `{ pipeline { jobs { name runs failures lastError } tiers { rawFrom minuteFrom hourFrom dayFrom }
  lastCompaction { partitions filesBefore records bytesAfter } lastRetention { partitions minuteRows } } }`;
type Pipeline = {
  pipeline: {
    jobs: { name: string; runs: number; failures: number; lastError: string | null }[];
    tiers: Record<string, string | null>;
    lastCompaction: { partitions: number; filesBefore: number; records: number; bytesAfter: number } | null;
    lastRetention: { partitions: string[]; minuteRows: number } | null;
  };
};

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(e.name);
  return out;
}

test('compact and applyRetention run as jobs and on demand; forgetService takes a service out, its history stays', async (t) => {
  const d = await start(['--batch-schedule', 'off', '--compact-schedule', 'off', '--retention-schedule', 'off']);
  const now = Date.now() / 1000;
  // Three hours of history from three services, a message a minute each, sent as datagrams.
  const payloads: string[] = [];
  for (let m = 0; m < 180; m++) for (const s of ['orders', 'payments', 'search']) payloads.push(message(s, now - 3 * 3600 + m * 60 + 0.5, (m * 7) % 100));
  await sendUdp(d.udpPort, payloads, 5000);
  await waitFor('every message in the views', async () => {
    const s = await gql<{ stats: { count: number }[] }>(d.url, STATS, ALL_TIME);
    return s.stats.reduce((n, x) => n + x.count, 0) === payloads.length;
  });
  t.is((await gql<{ runBatch: { status: string } }>(d.url, 'mutation { runBatch { status } }')).runBatch.status, 'SUCCEEDED');
  const before = await gql(d.url, STATS, ALL_TIME);

  const { compact } = await gql<{ compact: { partitions: number; filesBefore: number; records: number; bytesBefore: number; bytesAfter: number } }>(
    d.url,
    'mutation { compact { partitions filesBefore records bytesBefore bytesAfter } }',
  );
  t.true(compact.partitions >= 2, JSON.stringify(compact));
  t.true(compact.records >= 3 * 120 && compact.records < payloads.length);
  t.true(compact.bytesAfter < compact.bytesBefore);
  t.true((await files(join(d.dataDir, 'master'))).filter((f) => f.endsWith('.parquet')).length === compact.partitions);
  t.deepEqual(await gql(d.url, STATS, ALL_TIME), before);
  const { applyRetention } = await gql<{ applyRetention: { partitions: string[]; tiers: { minuteFrom: string | null } } }>(
    d.url,
    'mutation { applyRetention { partitions tiers { minuteFrom } } }',
  );
  t.deepEqual(applyRetention.partitions, [], 'nothing is 30 days old');
  t.truthy(applyRetention.tiers.minuteFrom);
  t.deepEqual(await gql(d.url, STATS, ALL_TIME), before);
  // A window from 2000 now starts before the hour views' horizon: the answer says it was answered by day views.
  const covered = await gql<{ stats: { resolution: string; coveredFrom: string }[] }>(d.url, 'query($from: DateTime!, $to: DateTime!) { stats(from: $from, to: $to) { resolution coveredFrom } }', ALL_TIME);
  t.true(covered.stats.every((s) => s.resolution === 'DAY' && s.coveredFrom === ALL_TIME.from.replace('Z', '.000Z')));
  const p = (await gql<Pipeline>(d.url, PIPELINE)).pipeline;
  const job = (name: string) => p.jobs.find((j) => j.name === name);
  t.like(job('compact'), { runs: 1, failures: 0, lastError: null });
  t.like(job('retention'), { runs: 1, failures: 0, lastError: null });
  t.is(p.lastCompaction?.partitions, compact.partitions);
  t.deepEqual(p.lastRetention?.partitions, []);

  const names = async () => (await gql<{ services: { service: string }[] }>(d.url, '{ services { service } }')).services.map((s) => s.service);
  t.deepEqual(await names(), ['orders', 'payments', 'search']);
  t.true((await gql<{ forgetService: boolean }>(d.url, 'mutation { forgetService(service: "orders") }')).forgetService);
  t.false((await gql<{ forgetService: boolean }>(d.url, 'mutation { forgetService(service: "nope") }')).forgetService);
  t.deepEqual(await names(), ['payments', 'search']);
  t.deepEqual(await gql(d.url, STATS, ALL_TIME), before, 'its history stays');
});

test('--forget-after: a service silent that long leaves services; one that keeps sending stays', async (t) => {
  const d = await start(['--batch-schedule', 'off', '--forget-after', '25s']);
  const names = async () => (await gql<{ services: { service: string }[] }>(d.url, '{ services { service } }')).services.map((s) => s.service);
  await sendUdp(d.udpPort, [message('retired', Date.now() / 1000, 5)]);
  let beating = true;
  const heartbeat = (async () => {
    while (beating) {
      await sendUdp(d.udpPort, [message('alive', Date.now() / 1000, 5)]);
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  try {
    await waitFor('both services seen', async () => (await names()).length === 2);
    await waitFor('the silent one forgotten', async () => (await names()).join() === 'alive');
    // Its SILENT alert resolves with it (saved within the same health tick, which may still be writing).
    const firing = async () => (await gql<{ alerts: { service: string }[] }>(d.url, '{ alerts(active: true) { service } }')).alerts;
    await waitFor('its SILENT alert resolved', async () => (await firing()).length === 0);
    const history = await gql<{ alerts: { rule: string; state: string }[] }>(d.url, '{ alerts(service: "retired") { rule state } }');
    t.deepEqual(history.alerts, [{ rule: 'silent', state: 'RESOLVED' }], 'it fired while silent, and resolved when forgotten');
  } finally {
    beating = false;
    await heartbeat;
  }
  t.deepEqual(await names(), ['alive']);
});

test('a full batch run stays inside --memory-limit (peak RSS in the log)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hms-mem-'));
  const dataDir = join(dir, 'data');
  // 300,000 messages over two days, imported with the daemon stopped.
  const now = Math.floor(Date.now() / 1000) - 600;
  const lines: string[] = [];
  for (let i = 0; i < 300_000; i++) lines.push(message(`svc-${i % 100}`, now - 2 * 86_400 + ((i * 7919) % (2 * 86_400)), (i * 13) % 100));
  await writeFile(join(dir, 'history.jsonl'), `${lines.join('\n')}\n`);
  await promisify(execFile)(process.execPath, ['--import', 'tsx', CLI, 'import', '--data-dir', dataDir, join(dir, 'history.jsonl')], { maxBuffer: 16 << 20 });
  const limit = 512 * 2 ** 20;
  const d = await start(['--batch-schedule', 'off', '--memory-limit', String(limit), '--ingest-workers', '1'], dataDir);
  const run = await gql<{ runBatch: { status: string; records: number } }>(d.url, 'mutation { runBatch(full: true) { status records } }');
  t.is(run.runBatch.status, 'SUCCEEDED');
  t.is(run.runBatch.records, 300_000);
  const status = await readFile(`/proc/${d.proc.pid}/status`, 'utf8');
  const peakKb = Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]);
  t.log(`peak RSS of the daemon over import start-up and a full batch of 300,000 messages: ${(peakKb / 1024).toFixed(0)} MiB (--memory-limit ${limit / 2 ** 20} MiB)`);
  t.true(peakKb * 1024 < limit, `${peakKb} kB`);
});
