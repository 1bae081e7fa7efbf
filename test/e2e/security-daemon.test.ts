/**
 * The real daemon as an attacker on its network meets it: signed datagrams refused for each reason through the
 * real UDP socket, key rotation and reload, the README's sender snippets, protected mode at start, and API
 * tokens over HTTP and WebSocket.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { signDatagram } from '../../src/core/sign.js';
import { createHmsClient } from '../../tui/client.js';
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
  t.true(
    d.logs.some((l) => l.includes('"level":40') && l.includes('--auth-keys / HMS_AUTH_KEYS / \\"authKeys\\": other users may read this secret; chmod 600 it')),
    'a keys file others can read (written 0644 here) is warned about',
  );
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

/** The README's sender snippets ("Signing from a sender"), by the language of their code block, and how each runs. */
const SENDERS: { lang: string; send: (code: string, env: NodeJS.ProcessEnv) => Promise<unknown> }[] = [
  { lang: 'bash', send: (code, env) => run('bash', ['-c', code], { env }) },
  { lang: 'python', send: (code, env) => run('python3', ['-c', code], { env }) },
  { lang: 'js', send: (code, env) => run(process.execPath, ['--input-type=module', '-e', code], { env }) },
  {
    lang: 'go',
    // As a user would: `go run` of the file, with the build cache and GOPATH in a temp dir of its own.
    async send(code, env) {
      const dir = await mkdtemp(join(tmpdir(), 'hms-go-sender-'));
      try {
        await writeFile(join(dir, 'sender.go'), code);
        return await run('go', ['run', 'sender.go'], { cwd: dir, env: { ...env, GOCACHE: join(dir, 'cache'), GOPATH: join(dir, 'gopath') }, timeout: 5 * 60_000 });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  },
];

async function readmeSnippets(): Promise<Record<string, string>> {
  const readme = await readFile(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Signing from a sender'));
  const block = (lang: string) => {
    const m = new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``).exec(section);
    if (!m) throw new Error(`README: no ${lang} block under "Signing from a sender"`);
    return m[1];
  };
  return Object.fromEntries(SENDERS.map(({ lang }) => [lang, block(lang)]));
}

test("the README's bash, Python, Node and Go senders are accepted by a daemon with --auth-mode required", async (t) => {
  const { d } = await keysDaemon('required');
  const snippets = await readmeSnippets();
  const env = { ...process.env, HMS_KEY_ID: K1.id, HMS_KEY_SECRET: K1.secret.toString('hex'), HMS_HOST: '127.0.0.1', HMS_PORT: String(d.udpPort) };
  for (const { lang, send } of SENDERS) {
    await send(snippets[lang], env).catch((err: NodeJS.ErrnoException & { stderr?: string }) => {
      // A missing interpreter or toolchain fails the test too (.ci/run installs each), saying which.
      throw new Error(`README ${lang} sender: ${err.code === 'ENOENT' ? `${err.path} is not on PATH` : err.stderr || err.message}`);
    });
  }
  const p = await counted(d, SENDERS.length);
  t.deepEqual(byReason(p), {}, JSON.stringify(p.rejectedSample));
  t.like(p, { accepted: SENDERS.length, acceptedSigned: SENDERS.length });
  t.deepEqual(
    await waitFor('visible', async () => {
      const s = await services(d);
      return Object.keys(s).length === SENDERS.length && s;
    }),
    Object.fromEntries(SENDERS.map((_, i) => [`orders-${i + 1}`, 1])),
    'one message from each snippet, orders-1 to orders-N in the order above',
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

const READ = `r${randomBytes(20).toString('hex')}`;
const WRITE = `w${randomBytes(20).toString('hex')}`;

/** One POST to the daemon's GraphQL endpoint: status and body, with the token when given. */
async function post(d: Daemon, query: string, token?: string) {
  const res = await fetch(d.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query }),
  });
  return { status: res.status, body: (await res.json()) as { data?: unknown; errors?: { extensions?: { code?: string } }[] } };
}
const code = (r: Awaited<ReturnType<typeof post>>) => r.body.errors?.[0]?.extensions?.code;

/** Opens a graphql-ws connection and runs one subscription until its first event, or the close code. */
function firstEvent(d: Daemon, token?: string): Promise<{ data?: unknown; closed?: number }> {
  return new Promise((resolve) => {
    const client = createClient({
      url: d.url.replace('http:', 'ws:'),
      webSocketImpl: WebSocket,
      connectionParams: token ? { authorization: `Bearer ${token}` } : undefined,
      retryAttempts: 0,
      on: { closed: (e) => resolve({ closed: (e as { code: number }).code }) },
    });
    const stop = client.subscribe({ query: 'subscription { pipeline { accepted } }' }, {
      next: (v) => {
        stop();
        void client.dispose();
        resolve({ data: v.data });
      },
      error: () => undefined,
      complete: () => undefined,
    });
  });
}

test('API tokens through the real daemon: roles over HTTP and WebSocket, a reload on SIGHUP, probes open', async (t) => {
  const d0 = await start(['--batch-schedule', 'off']);
  await d0.stop();
  const tokens = join(d0.dataDir, 'tokens');
  await writeFile(tokens, `# the dashboard\nread ${READ}\nwrite ${WRITE} # the operator\n`, { mode: 0o600 });
  const d = await start(['--batch-schedule', 'off', '--api-tokens', tokens], d0.dataDir);
  t.false(d.logs.some((l) => l.includes('chmod 600')), 'a tokens file only its owner reads is fine');

  const none = await post(d, '{ pipeline { accepted } }');
  t.is(none.status, 401);
  t.is(code(none), 'UNAUTHENTICATED');
  t.is((await post(d, '{ pipeline { accepted } }', 'x'.repeat(40))).status, 401);
  const read = await post(d, '{ pipeline { accepted } }', READ);
  t.is(read.status, 200);
  t.deepEqual(read.body.data, { pipeline: { accepted: 0 } });
  const silence = 'mutation { silence(service: "a", until: "2100-01-01T00:00:00Z") { id } }';
  const forbidden = await post(d, silence, READ);
  t.is(code(forbidden), 'FORBIDDEN');
  const written = await post(d, silence, WRITE);
  t.falsy(written.body.errors, JSON.stringify(written.body));
  t.is((await fetch(`http://127.0.0.1:${d.httpPort}/health`)).status, 200, 'probes need no token');
  t.is((await fetch(`http://127.0.0.1:${d.httpPort}/ready`)).status, 200);

  t.deepEqual(await firstEvent(d), { closed: 4403 }, 'a WebSocket without a token is closed');
  t.deepEqual(await firstEvent(d, READ), { data: { pipeline: { accepted: 0 } } });
  // The dashboard without a token says what to do, and keeps trying (tokens may be reloaded).
  const anonymous = createHmsClient(d.url, { retryBaseMs: 100, retryMaxMs: 200 });
  t.teardown(() => anonymous.close());
  const refused = await waitFor('the dashboard told', async () => {
    const c = anonymous.connection();
    return c.status === 'reconnecting' && c.lastError;
  });
  t.regex(refused, /the daemon refused the API token: it needs one \(--token or HMS_TOKEN\)/);

  // SIGHUP: the read token is revoked, a new one works.
  const next = `n${randomBytes(20).toString('hex')}`;
  await writeFile(tokens, `read ${next}\nwrite ${WRITE}\n`);
  d.proc.kill('SIGHUP');
  await waitFor('tokens reloaded', async () => d.logs.some((l) => l.includes('API tokens reloaded')));
  t.is((await post(d, '{ pipeline { accepted } }', READ)).status, 401);
  t.is((await post(d, '{ pipeline { accepted } }', next)).status, 200);
  t.false(d.logs.some((l) => l.includes(READ) || l.includes(WRITE) || l.includes(next)), 'no token in the log');

  // A foreign Host (DNS rebinding) is refused before any of this.
  const { request } = await import('node:http');
  const status = await new Promise<number>((resolve, reject) =>
    request(d.url, { method: 'POST', headers: { host: 'evil.example', 'content-type': 'application/json', authorization: `Bearer ${WRITE}` } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    })
      .on('error', reject)
      .end('{"query":"{ pipeline { accepted } }"}'),
  );
  t.is(status, 421);
});

test('TLS: the daemon serves https and wss; the dashboard client connects with --ca and a token', async (t) => {
  const d0 = await start(['--batch-schedule', 'off']);
  await d0.stop();
  const [key, cert, tokens] = ['key.pem', 'cert.pem', 'tokens'].map((f) => join(d0.dataDir, f));
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-days', '1', '-keyout', key, '-out', cert,
  ]);
  await writeFile(tokens, `read ${READ}\n`);
  const d = await start(['--batch-schedule', 'off', '--api-tokens', tokens, '--tls-cert', cert, '--tls-key', key], d0.dataDir);
  await sendUdp(d.udpPort, [message('tls-1', Date.now() / 1000, 42)]);
  const client = createHmsClient(`https://127.0.0.1:${d.httpPort}/graphql`, { token: READ, ca: await readFile(cert), retryBaseMs: 100 });
  t.teardown(() => client.close());
  const rows = await waitFor('stats over wss', async () => {
    const s = await client.stats(Date.parse(ALL_TIME.from), Date.parse(ALL_TIME.to)).catch(() => []);
    return s.length > 0 && s;
  });
  t.is(rows[0].service, 'tls-1');
  t.is(rows[0].count, 1);
  // Without the CA the certificate is not trusted, and plain http is not served on that port.
  await t.throwsAsync(fetch(`https://127.0.0.1:${d.httpPort}/health`));
  await t.throwsAsync(fetch(`http://127.0.0.1:${d.httpPort}/health`));
});

test('abuse through the real daemon: 3,000 aliased stats fields, 40 aliases, 25 store fields are refused before they run', async (t) => {
  const d = await start(['--batch-schedule', 'off']);
  const fields = Array.from({ length: 3000 }, (_, i) => `s${i}: stats(from: "2000-01-01T00:00:00Z", to: "2100-01-01T00:00:00Z") { count }`).join(' ');
  const [many, health] = await Promise.all([post(d, `{ ${fields} }`), fetch(`http://127.0.0.1:${d.httpPort}/health`)]);
  t.is(health.status, 200);
  t.is(code(many), 'TOO_MANY_TOKENS', 'the first limit it meets: the document is refused while it is parsed');
  t.is(many.body.data, undefined, 'nothing ran');
  const aliases = Array.from({ length: 40 }, (_, i) => `a${i}: pipeline { accepted }`).join(' ');
  t.is(code(await post(d, `{ ${aliases} }`)), 'TOO_MANY_ALIASES');
  const fewer = Array.from({ length: 25 }, (_, i) => `s${i}: stats(from: "2000-01-01T00:00:00Z", to: "2100-01-01T00:00:00Z") { count }`).join(' ');
  t.is(code(await post(d, `{ ${fewer} }`)), 'TOO_MANY_FIELDS', 'under the alias limit, over the store-field limit');
  t.falsy((await post(d, `{ ${fewer.split(' s20:')[0]} }`)).body.errors, 'twenty store fields are fine');
});
