import { createServer } from 'node:net';
import test from 'ava';
import { createHttpServer, type HttpServer } from '../../graphql/server.js';
import { backoffDelay, createHmsClient, describeError, toWebSocketUrl } from '../../tui/client.js';
import type { Alert } from '../../src/api.js';
import type { AlertView, ConnectionState, DashboardClient, PipelineView, ServiceRow } from '../../tui/types.js';
import { type FakeApi, fakeApi } from '../helpers/tui-fake-api.js';

const until = async (what: string, ok: () => boolean, timeoutMs = 60_000): Promise<void> => {
  const start = Date.now();
  while (!ok()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

/** A port that was free a moment ago, so a server can be stopped and started again on it. */
const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

async function daemon(api: FakeApi, port: number): Promise<HttpServer> {
  const server = createHttpServer(api, { host: '127.0.0.1', port, pushIntervalMs: 100, stopTimeoutMs: 500 });
  await server.start();
  return server;
}

test('toWebSocketUrl swaps the scheme and keeps host, port and path', (t) => {
  t.is(toWebSocketUrl('http://127.0.0.1:4000/graphql'), 'ws://127.0.0.1:4000/graphql');
  t.is(toWebSocketUrl('https://hms.example:8443/x/graphql'), 'wss://hms.example:8443/x/graphql');
  t.is(toWebSocketUrl('ws://[::1]:4000/graphql'), 'ws://[::1]:4000/graphql');
  t.throws(() => toWebSocketUrl('ftp://host/graphql'), { message: /unsupported URL scheme "ftp:"/ });
  t.throws(() => toWebSocketUrl('not a url'));
});

test('backoff doubles from the base, stops at the cap, and jitters by at most 20%', (t) => {
  const mid = (): number => 0.5;
  t.deepEqual([0, 1, 2, 3, 4, 10].map((n) => backoffDelay(n, 500, 5000, mid)), [500, 1000, 2000, 4000, 5000, 5000]);
  t.is(backoffDelay(0, 500, 5000, () => 0), 400);
  t.is(backoffDelay(0, 500, 5000, () => 0.9999), 600);
});

test('describeError gives one line for close events, socket errors and GraphQL errors', (t) => {
  t.is(describeError({ code: 1006, reason: '' }), 'connection closed (1006)');
  t.is(describeError({ message: 'connect ECONNREFUSED 127.0.0.1:1\n    at stack' }), 'connect ECONNREFUSED 127.0.0.1:1');
  t.is(describeError([{ message: 'Cannot query field "x"' }, { message: 'second' }]), 'Cannot query field "x"; second');
});

test.serial('subscriptions, queries and the mutation round-trip through the real GraphQL server', async (t) => {
  // A fixed clock, so a second services() call below answers exactly what was pushed.
  const api = fakeApi(5, () => Date.UTC(2026, 10, 27, 10, 0, 0, 123) + 0.456);
  const server = await daemon(api, 0);
  const client = createHmsClient(server.url(), { retryBaseMs: 50, retryMaxMs: 200 });
  t.teardown(async () => {
    client.close();
    await server.stop();
  });
  let rows: ServiceRow[] = [];
  let pipe: PipelineView | null = null;
  const errors: string[] = [];
  client.subscribeServices((r) => {
    rows = r;
  }, (m) => errors.push(m));
  client.subscribePipeline((p) => {
    pipe = p;
  }, (m) => errors.push(m));
  await until('first pushes', () => rows.length === 5 && pipe !== null);
  t.is(client.connection().status, 'connected');
  t.deepEqual(errors, []);
  const expected = (await api.services()).find((s) => s.service === rows[0]!.service)!;
  // DateTime arrives as ISO text with µs digits and becomes epoch ms; below a ms is dropped.
  t.is(rows[0]!.lastSeen, Math.floor(expected.lastSeen / 1000));
  t.not(expected.lastSeen % 1000, 0, 'the fixture really has sub-millisecond digits');
  t.is(typeof pipe!.startedAt, 'number');
  // Forecasts arrive as DateTime or null.
  const filling = rows.find((r) => r.service === 'svc-000')!;
  t.is(filling.diskFullAt, Math.floor((await api.services())[0]!.diskFullAt! / 1000));
  t.is(rows.find((r) => r.service === 'svc-001')!.diskFullAt, null);
  t.is(filling.ramFullAt, null);
  t.is(pipe!.storage, 'local');

  const from = Date.UTC(2026, 10, 27, 9, 0);
  const to = Date.UTC(2026, 10, 27, 10, 0);
  const stats = await client.stats(from, to, 'svc-001');
  t.is(stats[0]!.service, 'svc-001');
  t.is(stats[0]!.count, 3600);
  t.is(stats[0]!.cpu.peakAt, (from + to) / 2, 'peakAt converted back to ms');
  t.deepEqual(api.queries.at(-1), { kind: 'stats', fromUs: from * 1000, toUs: to * 1000, service: 'svc-001' });

  const series = await client.series('svc-001', from, to, 'MINUTE');
  t.is(series.length, 60);
  t.is(series[0]!.start, from);
  t.is(api.queries.at(-1)?.step, 'MINUTE');

  // The rejections pane's query: µs DateTime to ms, newest first as the daemon keeps them.
  const rejected = await client.rejectedSample();
  const sample = (await api.pipeline()).rejectedSample[0]!;
  t.deepEqual(rejected, [{ ...sample, at: Math.floor(sample.at / 1000) }]);

  const run = await client.runBatch(true);
  t.is(run.mode, 'FULL');
  t.is(run.status, 'SUCCEEDED');
  t.deepEqual(api.batchCalls, [{ full: true }]);
  await t.throwsAsync(client.stats(to, from), { message: /`to` must be later than `from`/ });
});

test.serial('alerts (query and live changes) and the history query round-trip through the real GraphQL server', async (t) => {
  const at = Date.UTC(2026, 10, 27, 10, 0, 0);
  const api = fakeApi(3, () => at);
  const firing: Alert = {
    id: 'a-1',
    service: 'svc-001',
    rule: 'cpu',
    severity: 'CRIT',
    state: 'FIRING',
    startedAt: (at - 60_000) * 1000,
    endedAt: null,
    value: 97.5,
    message: 'cpu 97.5% >= 95% for 1m',
    silenced: true,
  };
  const resolved: Alert = { ...firing, id: 'a-0', severity: 'WARN', state: 'RESOLVED', endedAt: (at - 120_000) * 1000, silenced: false };
  api.alertLog = [firing, resolved];
  const server = await daemon(api, 0);
  const client = createHmsClient(server.url(), { retryBaseMs: 50, retryMaxMs: 200 });
  t.teardown(async () => {
    client.close();
    await server.stop();
  });

  t.deepEqual(await client.alerts(true), [{ ...firing, startedAt: at - 60_000 }]);
  t.deepEqual((await client.alerts(false)).map((a) => [a.id, a.state, a.endedAt]), [['a-0', 'RESOLVED', at - 120_000]]);
  t.is((await client.alerts()).length, 2);

  const seen: AlertView[] = [];
  const errors: string[] = [];
  client.subscribeAlerts((a) => seen.push(a), (m) => errors.push(m));
  // The subscription is in place once the server has a listener; emit until one arrives (no fixed sleep).
  await until('an alert pushed', () => {
    if (seen.length === 0) api.emitAlert({ ...firing, state: 'RESOLVED', endedAt: at * 1000 });
    return seen.length > 0;
  });
  t.like(seen[0], { id: 'a-1', state: 'RESOLVED', endedAt: at, startedAt: at - 60_000, silenced: true });
  t.deepEqual(errors, []);

  const history = await client.history(at - 900_000, at, ['svc-002']);
  t.is(history.length, 1);
  t.is(history[0]!.service, 'svc-002');
  t.is(history[0]!.minutes.length, 15);
  t.is(history[0]!.minutes[0]!.start, at - 900_000, 'minute starts converted to ms');
  // The fake answers series buckets whose max is mean + 5: the sparklines take the peak.
  const bucket = (await api.series('svc-002', (at - 900_000) * 1000, at * 1000, 'MINUTE'))[0]!;
  t.is(history[0]!.minutes[0]!.cpu, bucket.cpu.max);
  t.is(history[0]!.minutes[0]!.ram, bucket.ram.max);
  t.is((await client.history(at - 900_000, at)).length, 3, 'all services without a list');
});

test.serial('losing the daemon shows reconnecting with attempts; a new daemon on the port resumes the pushes', async (t) => {
  const port = await freePort();
  const api = fakeApi(3);
  let server = await daemon(api, port);
  const client: DashboardClient = createHmsClient(`http://127.0.0.1:${port}/graphql`, {
    retryBaseMs: 50,
    retryMaxMs: 200,
    resubscribeMs: 50,
  });
  t.teardown(async () => {
    client.close();
    await server.stop();
  });
  const states: ConnectionState[] = [];
  client.onConnection((s) => states.push(s));
  let pushes = 0;
  client.subscribeServices(() => pushes++, () => {});
  await until('connected with pushes', () => pushes >= 2);

  await server.stop();
  await until('a retry scheduled', () => states.some((s) => s.status === 'reconnecting' && s.attempt >= 2));
  const retrying = states.findLast((s) => s.status === 'reconnecting');
  t.truthy(retrying?.status === 'reconnecting' && /ECONNREFUSED/.test(retrying.lastError ?? ''), JSON.stringify(retrying));
  await t.throwsAsync(client.runBatch(false), { message: 'not connected to the daemon' });
  t.deepEqual(api.batchCalls, [], 'a mutation is never queued for a later connection');

  const before = pushes;
  server = await daemon(fakeApi(3), port);
  await until('pushes again', () => pushes >= before + 2);
  t.is(client.connection().status, 'connected');
});

test.serial('close() while the daemon is down leaves nothing running', async (t) => {
  const port = await freePort();
  const client = createHmsClient(`http://127.0.0.1:${port}/graphql`, { retryBaseMs: 10_000, retryMaxMs: 10_000 });
  client.subscribeServices(() => {}, () => {});
  await until('first retry scheduled', () => client.connection().status === 'reconnecting');
  client.close();
  // ava would report this test file as hanging if a retry timer or socket kept the process alive; this only
  // checks that nothing throws afterwards.
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.pass();
});

test('closing the client while a connection is still in its handshake (quitting mid-reconnect) throws nothing', async (t) => {
  // A server that takes the TCP connection and never answers the upgrade: the socket stays CONNECTING.
  const sockets: import('node:net').Socket[] = [];
  const silent = createServer((s) => sockets.push(s));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const { port } = silent.address() as { port: number };
  const client = createHmsClient(`http://127.0.0.1:${port}/graphql`);
  for (let i = 0; sockets.length === 0 && i < 1200; i++) await new Promise((r) => setTimeout(r, 50));
  t.is(sockets.length, 1, 'the handshake began');
  client.close();
  // ws reports the aborted handshake as an 'error' on the next ticks; unheard, it would be an uncaught exception.
  await new Promise((r) => setTimeout(r, 200));
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => silent.close(resolve));
  t.is(client.connection().status, 'connecting');
});

test('closing the client while its connection waits for connection_ack leaves no rejection behind', async (t) => {
  // A WebSocket server that takes the upgrade and never acknowledges connection_init.
  const { WebSocketServer } = await import('ws');
  const mute = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => 'graphql-transport-ws' });
  await new Promise((resolve) => mute.once('listening', resolve));
  let inits = 0;
  mute.on('connection', (ws) => ws.on('message', () => inits++));
  const client = createHmsClient(`ws://127.0.0.1:${(mute.address() as { port: number }).port}/graphql`);
  for (let i = 0; inits === 0 && i < 1200; i++) await new Promise((r) => setTimeout(r, 50));
  t.is(inits, 1, 'connection_init sent, no ack');
  client.close();
  // graphql-ws fails the pending connect with 4499 Terminated; an unhandled rejection would fail this file.
  await new Promise((r) => setTimeout(r, 200));
  for (const ws of mute.clients) ws.terminate();
  await new Promise((resolve) => mute.close(resolve));
});
