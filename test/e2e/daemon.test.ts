import test from 'ava';
import { AUTH_REJECT_REASONS } from '../../src/core/message.js';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { sseEvents } from '../helpers/sse.js';
import { ALL_TIME, gql, killedAfterwards, message, sendUdp, startDaemon, waitFor } from '../helpers/daemon.js';

const start = killedAfterwards(test);

const STATS = `query($from: DateTime!, $to: DateTime!) { stats(from: $from, to: $to) { service count batchCount realtimeCount
  cpu { mean min max peakAt } ram { mean min max peakAt } disk { mean min max peakAt } } }`;
type Stats = { stats: { service: string; count: number; batchCount: number; realtimeCount: number; cpu: { mean: number; max: number; peakAt: string } }[] };
const PIPELINE = `{ pipeline { received accepted rejected late kernelDrops recvBufferBytes backlogSegments storage batchEngine speedEngine
  rejectedBy { reason count } compat { reason count } rejectedSample { reason detail excerpt } watermark lastBatch { status mode records }
  jobs { name runs failures } } }`;
type Pipeline = {
  pipeline: {
    received: number;
    accepted: number;
    rejected: number;
    rejectedBy: { reason: string; count: number }[];
    compat: { reason: string; count: number }[];
    rejectedSample: { reason: string; detail: string; excerpt: string }[];
    kernelDrops: number | null;
    recvBufferBytes: number;
    storage: string;
    lastBatch: { status: string; mode: string; records: number } | null;
    jobs: { name: string; runs: number; failures: number }[];
  };
};

test('every datagram is counted: each rejection reason and each compatibility mode, over real UDP', async (t) => {
  const d = await start(['--compat', 'seed,course', '--batch-schedule', 'off']);
  const now = Date.now() / 1000;
  await sendUdp(d.udpPort, [
    message('orders', now, 10),
    message('orders', now * 1e9, 20), // nanoseconds
    'not json at all',
    JSON.stringify({ serviceName: '', Timestamp: now, CPU: 1, RAM: { Total: 1, Free: 1 }, Disk: { Total: 1, Free: 1 } }),
    JSON.stringify({ serviceName: 'x', Timestamp: now, CPU: '5', RAM: { Total: 1, Free: 1 }, Disk: { Total: 1, Free: 1 } }),
    message('orders', now, 120),
    message('orders', now, 10, 20), // RAM free > total
    message('orders', now + 3600, 10),
    Buffer.alloc(9000, 0x20),
    // The seed's client: trailing commas, nanoseconds, CPU a 0-1 fraction (random.random()).
    `{"serviceName": "legacy", "Timestamp": ${Math.round(now * 1e9)}, "CPU": 0.05,\n "RAM": {"Total": 4, "Free": 1},\n "Disk": {"Total": 10, "Free": 5},\n},`,
    `{'serviceName': 'course', 'Timestamp': ${now}, 'CPU': 0.5, 'RAM': {'Total': 4, 'Free': 1}, 'Disk': {'Total': 10, 'Free': 5}}`,
  ]);
  const p = await waitFor('all 11 counted', async () => {
    const r = await gql<Pipeline>(d.url, PIPELINE);
    return r.pipeline.received === 11 && r.pipeline;
  });
  t.is(p.accepted, 4);
  t.is(p.rejected, 7);
  const by = Object.fromEntries(p.rejectedBy.map((r) => [r.reason, r.count]));
  const noAuthRefusals = Object.fromEntries(AUTH_REJECT_REASONS.map((r) => [r, 0]));
  t.deepEqual(by, { malformed_json: 1, schema: 2, range: 2, future: 1, expired: 0, too_large: 1, storage_unavailable: 0, ...noAuthRefusals });
  t.deepEqual(Object.fromEntries(p.compat.map((r) => [r.reason, r.count])), { seed: 1, course: 1 });
  t.is(p.rejectedSample.length, 7);
  t.true(p.rejectedSample.some((s) => s.reason === 'range' && s.detail.includes('CPU 120')));
  t.true(p.recvBufferBytes >= 212_992);
  t.is(p.kernelDrops, 0);
  t.is(p.storage, 'local');
  t.deepEqual(
    p.jobs.map((j) => j.name),
    ['ship', 'batch', 'speed', 'health', 'compact', 'retention'],
  );

  const stats = await waitFor('realtime visibility', async () => {
    const s = await gql<Stats>(d.url, STATS, ALL_TIME);
    return s.stats.length === 3 && s.stats;
  });
  t.deepEqual(
    stats.map((s) => [s.service, s.count]),
    [
      ['course', 1],
      ['legacy', 1],
      ['orders', 2],
    ],
  );
  t.is(stats.find((s) => s.service === 'course')!.cpu.mean, 50);
  t.is(stats.find((s) => s.service === 'legacy')!.cpu.mean, 5, "the seed's fraction 0.05 is 5 %");
  // Visible in stats means a speed tick ran; every job has run without failing.
  const { jobs } = (await gql<Pipeline>(d.url, PIPELINE)).pipeline;
  t.true(jobs.find((j) => j.name === 'speed')!.runs >= 1, 'the speed tick has run');
  t.true(jobs.every((j) => j.failures === 0));
  t.is(stats.find((s) => s.service === 'orders')!.cpu.mean, 15);
});

test('invariant 4: SIGKILL during load loses no message accepted more than one flush interval earlier', async (t) => {
  const d = await start(['--batch-schedule', 'off', '--flush-interval', '200ms']);
  const base = Date.now() / 1000 - 600;
  const payloads = Array.from({ length: 30_000 }, (_, i) => message(`svc-${i % 50}`, base + i / 100, i % 100));
  const sending = sendUdp(d.udpPort, payloads, 10_000);
  await new Promise((r) => setTimeout(r, 1500));
  const { pipeline } = await gql<Pipeline>(d.url, PIPELINE);
  const acceptedBefore = pipeline.accepted;
  t.true(acceptedBefore > 5000, `accepted ${acceptedBefore}`);
  await new Promise((r) => setTimeout(r, 600)); // > flush interval, load still going
  d.proc.kill('SIGKILL');
  await d.stop();
  await sending;
  const again = await start(['--batch-schedule', 'off'], d.dataDir);
  const { stats } = await gql<Stats>(again.url, STATS, ALL_TIME);
  const total = stats.reduce((n, s) => n + s.count, 0);
  t.log(`accepted ${acceptedBefore} at the check, ${total} recovered after SIGKILL`);
  t.true(total >= acceptedBefore, `recovered ${total} < accepted ${acceptedBefore}`);
  t.true(total <= payloads.length);
  // After recovery the batch layer absorbs the same total exactly once.
  const { runBatch } = await gql<{ runBatch: { status: string } }>(again.url, 'mutation { runBatch { status } }');
  t.is(runBatch.status, 'SUCCEEDED');
  const after = await gql<Stats>(again.url, STATS, ALL_TIME);
  t.is(
    after.stats.reduce((n, s) => n + s.count, 0),
    total,
  );
  t.true(after.stats.every((s) => s.batchCount > 0));
});

test('a graceful restart keeps every answer; a batch run keeps it too (union invariance end to end)', async (t) => {
  const d = await start(['--batch-schedule', 'off', '--allowed-lateness', '0s']);
  const now = Date.now() / 1000;
  const payloads = Array.from({ length: 3000 }, (_, i) => message(['a', 'b', 'c'][i % 3], now - 7200 + i * 2.4, (i * 37) % 101));
  await sendUdp(d.udpPort, payloads, 20_000);
  const before = await waitFor('all visible', async () => {
    const s = await gql<Stats>(d.url, STATS, ALL_TIME);
    return s.stats.reduce((n, x) => n + x.count, 0) === 3000 && s.stats;
  });
  const { runBatch } = await gql<{ runBatch: { status: string; records: number } }>(d.url, 'mutation { runBatch(full: true) { status records } }');
  t.is(runBatch.status, 'SUCCEEDED');
  t.true(runBatch.records > 2900);
  const strip = (s: Stats['stats']) => s.map(({ batchCount: _b, realtimeCount: _r, ...rest }) => rest);
  const afterBatch = (await gql<Stats>(d.url, STATS, ALL_TIME)).stats;
  t.deepEqual(strip(afterBatch), strip(before));
  t.is(await d.stop('SIGTERM'), 0);
  const again = await start(['--batch-schedule', 'off'], d.dataDir);
  t.deepEqual((await gql<Stats>(again.url, STATS, ALL_TIME)).stats, afterBatch);
  const { pipeline } = await gql<Pipeline>(again.url, PIPELINE);
  t.is(pipeline.lastBatch?.status, 'SUCCEEDED');
});

test('health endpoints and subscriptions over SSE and WebSocket against the real daemon', async (t) => {
  const d = await start(['--batch-schedule', 'off']);
  const base = `http://127.0.0.1:${d.httpPort}`;
  t.is((await fetch(`${base}/health`)).status, 200);
  t.is((await fetch(`${base}/ready`)).status, 200);

  const client = createClient({ url: `ws://127.0.0.1:${d.httpPort}/graphql`, webSocketImpl: WebSocket });
  const wsSeen: number[] = [];
  const wsDone = new Promise<void>((resolve, reject) => {
    const stop = client.subscribe<{ services: { service: string; cpu: number }[] }>(
      { query: 'subscription { services { service cpu health } }' },
      {
        next: (v) => {
          const svc = v.data?.services.find((s) => s.service === 'ws-probe');
          if (svc) {
            wsSeen.push(svc.cpu);
            stop();
            resolve();
          }
        },
        error: reject,
        complete: () => resolve(),
      },
    );
  });

  const ac = new AbortController();
  const sse = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ query: 'subscription { pipeline { accepted } }' }),
    signal: ac.signal,
  });
  t.is(sse.status, 200);
  await sendUdp(d.udpPort, [message('ws-probe', Date.now() / 1000, 77)]);
  const stream = sseEvents(sse);
  const accepted: number[] = [];
  while (!accepted.includes(1)) {
    const { next, ended } = await stream.read(1);
    if (ended) break;
    accepted.push(...next.map((e) => e.data.pipeline.accepted));
  }
  ac.abort();
  t.true(accepted.length >= 1 && accepted.includes(1));
  await wsDone;
  t.deepEqual(wsSeen, [77]);
  await client.dispose();
});

test('bad configuration is refused at start with the setting named', async (t) => {
  const err = await t.throwsAsync(startDaemon(['--flush-interval', 'soon']));
  t.regex(err!.message, /--flush-interval \/ HMS_FLUSH_INTERVAL/);
  const err2 = await t.throwsAsync(startDaemon(['--no-such-thing', '1']));
  t.regex(err2!.message, /unknown option --no-such-thing/);
});
