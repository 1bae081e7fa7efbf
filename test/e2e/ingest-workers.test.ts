/**
 * Ingest on several processes (--ingest-workers), through the real daemon and real UDP: every reader takes
 * part, counts and answers stay exact, a worker or the whole daemon killed with SIGKILL loses nothing it
 * acknowledged, and a replay that reaches another process than its original is still refused.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { signDatagram } from '../../src/core/sign.js';
import { ALL_TIME, type Daemon, gql, killedAfterwards, message, sendUdp, waitFor } from '../helpers/daemon.js';

const start = killedAfterwards(test);

type Reader = { worker: number; pid: number; received: number };
type Pipeline = {
  received: number;
  accepted: number;
  acceptedSigned: number;
  kernelDrops: number | null;
  rejectedBy: { reason: string; count: number }[];
  ingestWorkers: Reader[];
  ingestWorkerRestarts: number;
};
const PIPELINE = '{ pipeline { received accepted acceptedSigned kernelDrops rejectedBy { reason count } ingestWorkers { worker pid received } ingestWorkerRestarts } }';
const pipeline = async (d: Daemon) => (await gql<{ pipeline: Pipeline }>(d.url, PIPELINE)).pipeline;
const byReason = (p: Pipeline) => Object.fromEntries(p.rejectedBy.filter((r) => r.count > 0).map((r) => [r.reason, r.count]));

type Stat = { service: string; count: number; batchCount: number; realtimeCount: number; cpu: { mean: number; max: number } };
const STATS = 'query($from: DateTime!, $to: DateTime!) { stats(from: $from, to: $to) { service count batchCount realtimeCount cpu { mean max } } }';
const stats = async (d: Daemon) => (await gql<{ stats: Stat[] }>(d.url, STATS, ALL_TIME)).stats;
const total = (s: Stat[]) => s.reduce((n, x) => n + x.count, 0);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Sends from several sockets at once, as several services would. */
const fromSenders = (port: number, senders: (string | Buffer)[][], ratePerS: number) => Promise.all(senders.map((p) => sendUdp(port, p, ratePerS / senders.length)));

/** Polls until the daemon has counted `n` datagrams, and no more arrive. */
const counted = (d: Daemon, n: number) => waitFor(`${n} datagrams counted`, async () => (await pipeline(d)).received >= n && pipeline(d));

test('three readers, four senders: exact counts and exact stats, and poison is rejected by whichever process reads it', async (t) => {
  const d = await start(['--batch-schedule', 'off', '--ingest-workers', '3']);
  const first = await pipeline(d);
  t.deepEqual(
    first.ingestWorkers.map((r) => r.worker),
    [0, 1, 2],
  );
  t.is(new Set(first.ingestWorkers.map((r) => r.pid)).size, 3);
  t.true(first.ingestWorkers.slice(1).every((r) => alive(r.pid) && r.pid !== d.proc.pid));

  const base = Math.floor(Date.now() / 1000) - 3600;
  const expected = new Map<string, { count: number; sum: number; max: number }>();
  const poison: Record<string, number> = {};
  const POISON: [string, string][] = [
    ['malformed_json', '{"serviceName": "x", '],
    ['schema', JSON.stringify({ serviceName: 'x', Timestamp: base, RAM: { Total: 1, Free: 1 }, Disk: { Total: 1, Free: 1 } })],
    ['range', message('x', base, 150)],
    ['future', message('x', Date.now() / 1000 + 86_400, 5)],
    ['too_large', `{"pad": "${'x'.repeat(9000)}"}`],
  ];
  let sent = 0;
  let seq = 0;
  // Rounds until every reader has read some of it: the kernel hands each datagram to whichever process is waiting.
  for (let round = 0; ; round++) {
    const senders = Array.from({ length: 4 }, (_, s) =>
      Array.from({ length: 500 }, (_, i) => {
        if (i % 50 === 7) {
          const [reason, text] = POISON[(seq + s) % POISON.length];
          poison[reason] = (poison[reason] ?? 0) + 1;
          seq++;
          return text;
        }
        const service = `svc-${(s * 7 + i) % 10}`;
        const cpu = ((seq++ * 37) % 1000) / 10;
        const e = expected.get(service) ?? { count: 0, sum: 0, max: -1 };
        expected.set(service, { count: e.count + 1, sum: e.sum + cpu, max: Math.max(e.max, cpu) });
        return message(service, base + seq / 1000, cpu);
      }),
    );
    await fromSenders(d.udpPort, senders, 8000);
    sent += 2000;
    const p = await counted(d, sent);
    if (p.ingestWorkers.every((r) => r.received > 0)) break;
    if (round === 50) t.fail(`after ${sent} datagrams some reader never read one: ${JSON.stringify(p.ingestWorkers)}`);
  }

  const p = await pipeline(d);
  t.log(`${sent} datagrams, read by ${p.ingestWorkers.map((r) => `${r.worker}: ${r.received}`).join(', ')}`);
  t.is(p.kernelDrops, 0);
  t.is(p.received, sent);
  const good = [...expected.values()].reduce((n, e) => n + e.count, 0);
  t.is(p.accepted, good);
  t.deepEqual(byReason(p), poison);
  t.is(
    p.ingestWorkers.reduce((n, r) => n + r.received, 0),
    sent,
  );
  const s = await waitFor('every accepted message visible', async () => {
    const got = await stats(d);
    return total(got) === good && got;
  });
  t.deepEqual(
    s.map((x) => x.service),
    [...expected.keys()].sort(),
  );
  for (const x of s) {
    const e = expected.get(x.service)!;
    t.is(x.count, e.count, x.service);
    t.true(Math.abs(x.cpu.mean - e.sum / e.count) < 1e-9, `${x.service} mean ${x.cpu.mean} vs ${e.sum / e.count}`);
    t.is(x.cpu.max, e.max);
  }
  t.is(await d.stop('SIGTERM'), 0);
});

test('SIGKILL of one worker under load: it is started again, and every acknowledged message is kept', async (t) => {
  const d = await start(['--batch-schedule', 'off', '--ingest-workers', '3']);
  const base = Math.floor(Date.now() / 1000) - 3600;
  const payloads = Array.from({ length: 40_000 }, (_, i) => message(`svc-${i % 20}`, base + i / 1000, i % 100));
  const sending = fromSenders(d.udpPort, [payloads.slice(0, 20_000), payloads.slice(20_000)], 8000);
  const victim = await waitFor('load under way', async () => {
    const p = await pipeline(d);
    return p.accepted > 5000 && p.ingestWorkers[1];
  });
  process.kill(victim.pid, 'SIGKILL');
  const replaced = await waitFor('the worker started again', async () => {
    const p = await pipeline(d);
    const w = p.ingestWorkers.find((r) => r.worker === victim.worker);
    return p.ingestWorkerRestarts === 1 && w && w.pid !== victim.pid && w;
  });
  t.false(alive(victim.pid));
  t.true(alive(replaced.pid));
  await sending;
  // Settled: nothing more arrives.
  let last = -1;
  const settled = await waitFor('the count settled', async () => {
    const p = await pipeline(d);
    const done = p.received === last;
    last = p.received;
    await new Promise((r) => setTimeout(r, 500));
    return done && p;
  });
  t.log(`${payloads.length} sent, ${settled.received} counted, ${settled.accepted} accepted, ${settled.kernelDrops} kernel drops; the rest died with the worker uncounted`);
  t.true(settled.accepted > 5000);
  t.is(settled.accepted, settled.received);
  t.true(settled.received <= payloads.length);
  t.is(total(await waitFor('all visible', async () => total(await stats(d)) === settled.accepted && stats(d))), settled.accepted);
  t.true(d.logs.some((l) => l.includes('an ingest worker died') && l.includes('"signal":"SIGKILL"')));
  // Persisted: a restart answers the same.
  t.is(await d.stop('SIGTERM'), 0);
  const again = await start(['--batch-schedule', 'off', '--ingest-workers', '3'], d.dataDir);
  t.is(total(await stats(again)), settled.accepted);
});

test('SIGKILL of the whole daemon under load: its workers exit, a restart recovers every acknowledged message, a batch run keeps every answer', async (t) => {
  const d = await start(['--batch-schedule', 'off', '--ingest-workers', '3', '--flush-interval', '200ms', '--allowed-lateness', '0s']);
  const workers = (await pipeline(d)).ingestWorkers.slice(1).map((r) => r.pid);
  const base = Math.floor(Date.now() / 1000) - 7200;
  const payloads = Array.from({ length: 30_000 }, (_, i) => message(`svc-${i % 30}`, base + i / 10, (i * 13) % 101));
  const sending = sendUdp(d.udpPort, payloads, 10_000);
  const acknowledged = (await waitFor('load under way', async () => (await pipeline(d)).accepted > 5000 && pipeline(d))).accepted;
  await new Promise((r) => setTimeout(r, 600)); // more than a flush interval, the load still going
  d.proc.kill('SIGKILL');
  await d.stop();
  await waitFor('its workers gone', async () => workers.every((pid) => !alive(pid)));
  await sending;

  const again = await start(['--batch-schedule', 'off', '--ingest-workers', '3', '--allowed-lateness', '0s'], d.dataDir);
  const recovered = await stats(again);
  t.log(`${acknowledged} acknowledged before the kill, ${total(recovered)} recovered`);
  t.true(total(recovered) >= acknowledged);
  t.true(total(recovered) <= payloads.length);
  const { runBatch } = await gql<{ runBatch: { status: string } }>(again.url, 'mutation { runBatch(full: true) { status } }');
  t.is(runBatch.status, 'SUCCEEDED');
  const strip = (s: Stat[]) => s.map(({ batchCount: _b, realtimeCount: _r, ...rest }) => rest);
  const after = await stats(again);
  t.deepEqual(strip(after), strip(recovered));
  t.true(after.every((s) => s.batchCount > 0));
});

test('signed datagrams over several workers: a replay reaching another process is refused, and SIGHUP reloads the keys in every worker', async (t) => {
  const keys = join(await mkdtemp(join(tmpdir(), 'hms-keys-')), 'keys.json');
  const K1 = { id: 'k1', secret: randomBytes(32) };
  const K2 = { id: 'k2', secret: randomBytes(32) };
  const keyFile = (keys: { id: string; secret: Buffer }[]) => JSON.stringify({ keys: keys.map((k) => ({ id: k.id, secret: k.secret.toString('hex') })) });
  await writeFile(keys, keyFile([K1, K2]), { mode: 0o600 });
  const d = await start(['--batch-schedule', 'off', '--ingest-workers', '3', '--auth-mode', 'required', '--auth-keys', keys]);
  const base = Math.floor(Date.now() / 1000) - 600;

  // Each datagram five times: exactly one copy of each is accepted, whichever processes read the copies.
  let sent = 0;
  let distinct = 0;
  for (let round = 0; ; round++) {
    const originals = Array.from({ length: 200 }, (_, i) => signDatagram(K1, message(`svc-${i % 5}`, base + distinct + i, 10), Date.now()));
    distinct += originals.length;
    await fromSenders(d.udpPort, [originals, originals, originals, originals, originals], 5000);
    sent += originals.length * 5;
    const p = await counted(d, sent);
    if (p.ingestWorkers.every((r) => r.received > 0)) break;
    if (round === 50) t.fail(`some reader never read a datagram: ${JSON.stringify(p.ingestWorkers)}`);
  }
  const p = await pipeline(d);
  t.is(p.received, sent);
  t.is(p.accepted, distinct);
  t.is(p.acceptedSigned, distinct);
  t.deepEqual(byReason(p), { replayed: sent - distinct });

  // k1 removed: refused as unknown_key by every reader after the reload.
  await writeFile(keys, keyFile([K2]));
  d.proc.kill('SIGHUP');
  await waitFor('every worker reloaded', async () => d.logs.filter((l) => l.includes('signing keys reloaded')).length >= 3);
  const before = await pipeline(d);
  const readBefore = new Map(before.ingestWorkers.map((r) => [r.worker, r.received]));
  let more = 0;
  for (let round = 0; ; round++) {
    await sendUdp(
      d.udpPort,
      Array.from({ length: 300 }, (_, i) => signDatagram(K1, message('svc-0', base + distinct + more + i, 10), Date.now())),
      5000,
    );
    more += 300;
    const q = await counted(d, sent + more);
    if (q.ingestWorkers.every((r) => r.received > readBefore.get(r.worker)!)) break;
    if (round === 50) t.fail(`some reader never read a datagram after the reload: ${JSON.stringify(q.ingestWorkers)}`);
  }
  const after = await pipeline(d);
  t.is(after.accepted, distinct);
  t.deepEqual(byReason(after), { replayed: sent - distinct, unknown_key: more });
});

test('a receive buffer the kernel caps: the daemon says which sysctl to set, at start and in pipeline', async (t) => {
  const rmemMax = Number(await readFile('/proc/sys/net/core/rmem_max', 'utf8'));
  const asked = 256 * 1024 * 1024;
  t.true(rmemMax < asked, `net.core.rmem_max is ${rmemMax}: this test needs it below 256 MiB`);
  const d = await start(['--batch-schedule', 'off', '--recv-buffer', '256MiB', '--ingest-workers', '1']);
  const { pipeline } = await gql<{ pipeline: { recvBufferBytes: number; recvBufferAdvice: string | null } }>(d.url, '{ pipeline { recvBufferBytes recvBufferAdvice } }');
  t.is(pipeline.recvBufferBytes, 2 * rmemMax, 'Linux reports twice the size it set, capped at rmem_max');
  t.true(pipeline.recvBufferAdvice?.includes(`sysctl -w net.core.rmem_max=${asked}`), String(pipeline.recvBufferAdvice));
  t.true(d.logs.some((l) => l.includes('"level":40') && l.includes(`sysctl -w net.core.rmem_max=${asked}`)));

  const small = await start(['--batch-schedule', 'off', '--recv-buffer', '64KiB', '--ingest-workers', '1']);
  t.is((await gql<{ pipeline: { recvBufferAdvice: string | null } }>(small.url, '{ pipeline { recvBufferAdvice } }')).pipeline.recvBufferAdvice, null);
});
