/**
 * The real daemon as an attacker on its network meets it: signed datagrams refused for each reason through the
 * real UDP socket, key rotation and reload, the README's sender snippets, protected mode at start, and API
 * tokens over HTTP and WebSocket.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { signDatagram } from '../../src/core/sign.js';
import { ALL_TIME, CLI, type Daemon, gql, killedAfterwards, message, sendUdp, waitFor } from '../helpers/daemon.js';

const run = promisify(execFile);
const start = killedAfterwards(test);

const secret = () => randomBytes(32);
const K1 = { id: 'k1', secret: secret() };
const K2 = { id: 'k2', secret: secret() }; // the key that replaces k1 for orders-*
const K3 = { id: 'payments-only', secret: secret() };
const keyFile = (keys: { id: string; secret: Buffer; services?: string[] }[]) =>
  JSON.stringify({ keys: keys.map(({ id, secret, services }) => ({ id, secret: secret.toString('hex'), ...(services ? { services } : {}) })) });

type Pipeline = { received: number; accepted: number; acceptedSigned: number; authMode: string; rejectedBy: { reason: string; count: number }[]; rejectedSample: { reason: string; detail: string }[] };
const PIPELINE = '{ pipeline { received accepted acceptedSigned authMode rejectedBy { reason count } rejectedSample { reason detail } } }';
const pipeline = async (d: Daemon, token?: string) => (await gql<{ pipeline: Pipeline }>(d.url, PIPELINE, {}, token)).pipeline;
const byReason = (p: Pipeline) => Object.fromEntries(p.rejectedBy.filter((r) => r.count > 0).map((r) => [r.reason, r.count]));
const counted = (d: Daemon, n: number) =>
  waitFor(`${n} datagrams counted`, async () => {
    const p = await pipeline(d);
    return p.received >= n && p;
  });
const STATS = 'query($from: DateTime!, $to: DateTime!) { stats(from: $from, to: $to) { service count } }';
const services = async (d: Daemon, token?: string) =>
  Object.fromEntries((await gql<{ stats: { service: string; count: number }[] }>(d.url, STATS, ALL_TIME, token)).stats.map((s) => [s.service, s.count]));

async function keysDaemon(mode: 'required' | 'optional', extra: string[] = []) {
  const d0 = await start(['--batch-schedule', 'off']); // only for a data dir of its own
  const dir = d0.dataDir;
  await d0.stop();
  const keys = join(dir, 'keys.json');
  await writeFile(keys, keyFile([K1, { ...K2, services: ['orders-*'] }, { ...K3, services: ['payments-?', 'billing'] }]));
  return { d: await start(['--batch-schedule', 'off', '--auth-mode', mode, '--auth-keys', keys, ...extra], dir), keys };
}

test('required: each bad datagram refused for its own reason through the real socket; good ones counted as signed', async (t) => {
  const { d, keys } = await keysDaemon('required');
  const now = Date.now();
  const json = (service: string, cpu = 10) => message(service, now / 1000 - 5, cpu);
  const replayed = signDatagram(K1, json('orders-1'), now, 'replay0001');
  const forged = Buffer.from(signDatagram(K1, json('orders-1', 10), now));
  forged[forged.length - 30] ^= 1; // a flipped bit in the JSON
  const sends: [string, Buffer | string][] = [
    ['accepted', replayed],
    ['replayed', replayed],
    ['accepted', signDatagram(K1, json('orders-1', 20), now, 'replay0002')], // a fresh nonce, the same key and second
    ['unsigned', json('orders-1')],
    ['unknown_key', signDatagram({ id: 'nobody', secret: secret() }, json('orders-1'), now)],
    ['bad_signature', signDatagram({ id: 'k1', secret: secret() }, json('orders-1'), now)],
    ['bad_signature', forged],
    ['bad_signature', `HMS1 k1 ${now} short ${'0'.repeat(64)}\n${json('orders-1')}`],
    ['stale', signDatagram(K1, json('orders-1'), now - 120_000)],
    ['stale', signDatagram(K1, json('orders-1'), now + 120_000)],
    ['service_not_allowed', signDatagram(K3, json('orders-1'), now)],
    ['accepted', signDatagram(K3, json('payments-1'), now)],
    // Rotation: k1 (any service) and k2 (orders-*) both sign for orders-2 at the same time.
    ['accepted', signDatagram(K1, json('orders-2'), now)],
    ['accepted', signDatagram(K2, json('orders-2'), now)],
  ];
  for (const [, payload] of sends) await sendUdp(d.udpPort, [payload]); // in order: the replay comes second
  const p = await counted(d, sends.length);
  const want: Record<string, number> = {};
  for (const [reason] of sends) if (reason !== 'accepted') want[reason] = (want[reason] ?? 0) + 1;
  t.deepEqual(byReason(p), want);
  const accepted = sends.filter(([r]) => r === 'accepted').length;
  t.is(p.accepted, accepted);
  t.is(p.acceptedSigned, accepted, 'every accepted datagram was signed');
  t.is(p.authMode, 'required');
  const details = Object.fromEntries(p.rejectedSample.map((r) => [r.reason, r.detail]));
  t.regex(details.service_not_allowed, /key "payments-only" may not send for service "orders-1" \(its services: payments-\?, billing\)/);
  t.regex(details.unknown_key, /nobody/);
  t.regex(details.stale, /window/);
  t.deepEqual(await waitFor('visible', async () => {
    const s = await services(d);
    return s['orders-2'] === 2 && s;
  }), { 'orders-1': 2, 'orders-2': 2, 'payments-1': 1 });

  // SIGHUP: k1 is retired; its datagrams are now from an unknown key, k2's still pass.
  await writeFile(keys, keyFile([{ ...K2, services: ['orders-*'] }]));
  d.proc.kill('SIGHUP');
  await waitFor('reloaded', async () => d.logs.some((l) => l.includes('signing keys reloaded')));
  await sendUdp(d.udpPort, [signDatagram(K1, json('orders-3'), Date.now()), signDatagram(K2, json('orders-3'), Date.now())]);
  const after = await counted(d, sends.length + 2);
  t.is(byReason(after).unknown_key, 2);
  t.is(after.accepted, accepted + 1);

  // A keys file that no longer parses keeps the keys in force, and says why in the log.
  await writeFile(keys, '{"keys": [');
  d.proc.kill('SIGHUP');
  await waitFor('reload refused', async () => d.logs.some((l) => l.includes('signing keys not reloaded')));
  await sendUdp(d.udpPort, [signDatagram(K2, json('orders-3'), Date.now())]);
  t.is((await waitFor('accepted', async () => (await pipeline(d)).accepted === accepted + 2 && (await pipeline(d)))).acceptedSigned, accepted + 2);
});

test('optional: signed and unsigned both accepted and counted apart; a bad signature is still refused', async (t) => {
  const { d } = await keysDaemon('optional');
  const now = Date.now();
  await sendUdp(d.udpPort, [
    message('a', now / 1000, 1),
    message('a', now / 1000 - 1, 1),
    signDatagram(K1, message('b', now / 1000, 1), now),
    signDatagram({ id: 'k1', secret: secret() }, message('b', now / 1000, 1), now),
  ]);
  const p = await counted(d, 4);
  t.like(p, { accepted: 3, acceptedSigned: 1, authMode: 'optional' });
  t.deepEqual(byReason(p), { bad_signature: 1 });
});

/** The README's sender snippets, as written there, each sending one message. */
async function readmeSnippets(): Promise<Record<'bash' | 'python' | 'js', string>> {
  const readme = await readFile(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Signing from a sender'));
  const block = (lang: string) => {
    const m = new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``).exec(section);
    if (!m) throw new Error(`README: no ${lang} block under "Signing from a sender"`);
    return m[1];
  };
  return { bash: block('bash'), python: block('python'), js: block('js') };
}

test("the README's bash, Python and Node senders are accepted by a daemon with --auth-mode required", async (t) => {
  const { d } = await keysDaemon('required');
  const snippets = await readmeSnippets();
  const env = { ...process.env, HMS_KEY_ID: K1.id, HMS_KEY_SECRET: K1.secret.toString('hex'), HMS_HOST: '127.0.0.1', HMS_PORT: String(d.udpPort) };
  await run('bash', ['-c', snippets.bash], { env });
  await run('python3', ['-c', snippets.python], { env });
  await run(process.execPath, ['--input-type=module', '-e', snippets.js], { env });
  const p = await counted(d, 3);
  t.deepEqual(byReason(p), {}, JSON.stringify(p.rejectedSample));
  t.like(p, { accepted: 3, acceptedSigned: 3 });
  t.deepEqual(
    await waitFor('visible', async () => {
      const s = await services(d);
      return Object.keys(s).length === 3 && s;
    }),
    { 'orders-1': 1, 'orders-2': 1, 'orders-3': 1 },
  );
});

test('hms mock --auth-keys --key-id signs everything it sends', async (t) => {
  const { d, keys } = await keysDaemon('required');
  const mock = spawn(process.execPath, ['--import', 'tsx', CLI, 'mock', '--target', `127.0.0.1:${d.udpPort}`, '--services', '3', '--rate', '20', '--duration', '2', '--auth-keys', keys, '--key-id', 'k1'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  mock.stderr.on('data', (c) => {
    err += c;
  });
  const code = await new Promise((resolve) => mock.once('exit', resolve));
  t.is(code, 0, err);
  const sent = Number(/sent (\d+) messages/.exec(err)?.[1]);
  t.true(sent > 0, err);
  const p = await counted(d, sent);
  t.like(p, { received: sent, accepted: sent, acceptedSigned: sent });
});

/** `hms daemon ARGS` that should not start: its exit code and what it said. */
async function refusedStart(args: string[]) {
  const r = await run(process.execPath, ['--import', 'tsx', CLI, 'daemon', '--udp-port', '0', '--http-port', '0', ...args]).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => e,
  );
  return r;
}

test('protected mode: a reachable port without authentication is refused at start, naming the flag to add', async (t) => {
  const udp = await refusedStart(['--host', '0.0.0.0']);
  t.is(udp.code, 2);
  t.regex(udp.stderr, /UDP would listen on 0\.0\.0\.0.*add --auth-mode required --auth-keys FILE/);
  const http = await refusedStart(['--http-host', '0.0.0.0']);
  t.is(http.code, 2);
  t.regex(http.stderr, /HTTP would listen on 0\.0\.0\.0.*add --api-tokens FILE/);
  const noKeys = await refusedStart(['--auth-mode', 'required']);
  t.regex(noKeys.stderr, /--auth-mode required needs a keys file/);

  // --insecure starts, and says so in a warning at every start.
  const d = await start(['--host', '0.0.0.0', '--insecure', '--batch-schedule', 'off']);
  t.true(d.logs.some((l) => l.includes('"level":40') && l.includes('--insecure: protected mode is off')));
  await d.stop();
  const again = await start(['--host', '0.0.0.0', '--insecure', '--batch-schedule', 'off'], d.dataDir);
  t.true(again.logs.some((l) => l.includes('--insecure: protected mode is off')));
});
