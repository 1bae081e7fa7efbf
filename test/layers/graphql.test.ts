/**
 * The GraphQL server over real sockets (port 0): HTTP queries and mutation, DateTime in and out, error codes
 * and masking, probes, SSE and WebSocket subscriptions, and shutdown, against the fake core in helpers/.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { createHttpServer, type Log } from '../../graphql/server.js';
import { FakeHmsApi, PIPELINE, T0 } from '../helpers/fake-api.js';
import { sseEvents } from '../helpers/sse.js';

const PUSH_MS = 40;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Logged {
  level: keyof Log;
  o: object;
  msg?: string;
}

async function serve(t: ExecutionContext, opts: { stopTimeoutMs?: number } = {}) {
  const api = new FakeHmsApi();
  const logged: Logged[] = [];
  const entry = (level: keyof Log) => (o: object, msg?: string) => logged.push({ level, o, msg });
  const log: Log = { info: entry('info'), warn: entry('warn'), error: entry('error') };
  const server = createHttpServer(api, { host: '127.0.0.1', port: 0, pushIntervalMs: PUSH_MS, log, ...opts });
  const { port } = await server.start();
  t.teardown(() => server.stop());
  const base = `http://127.0.0.1:${port}`;
  return { api, server, port, base, url: server.url(), logged };
}

// biome-ignore lint/suspicious/noExplicitAny: GraphQL responses are checked field by field in the tests
type Json = any;

async function gql(url: string, query: string, variables?: object): Promise<{ status: number; body: Json }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, body: await res.json() };
}

test('services: health, reasons and lastSeen with microsecond precision', async (t) => {
  const { api, url } = await serve(t);
  const { status, body } = await gql(
    url,
    '{ services { service health reasons lastSeen cpu ramUsed diskUsed ramFreeGb diskFreeGb } }',
  );
  t.is(status, 200);
  t.is(body.errors, undefined);
  t.deepEqual(body.data.services, [
    {
      service: 'orders',
      health: 'OK',
      reasons: [],
      lastSeen: '2026-11-27T10:00:00.000123Z',
      cpu: 42.5,
      ramUsed: 60.9375,
      diskUsed: 58.92578125,
      ramFreeGb: 12.5,
      diskFreeGb: 210.3,
    },
    {
      service: 'payments',
      health: 'CRIT',
      reasons: ['cpu 97.1% > 95% for 2m', 'disk full in ~3h'],
      lastSeen: '2026-11-27T09:55:00.000Z',
      cpu: 97.1,
      ramUsed: 88,
      diskUsed: 99.5,
      ramFreeGb: 1.92,
      diskFreeGb: 0.64,
    },
  ]);
  t.is(api.count('services'), 1);
});

test('stats: DateTime arguments reach the core as microseconds, zones honoured', async (t) => {
  const { api, url } = await serve(t);
  const { body } = await gql(
    url,
    `query($from: DateTime!, $to: DateTime!) {
      stats(from: $from, to: $to, service: "orders") {
        service count batchCount realtimeCount
        cpu { mean min max peakAt } ram { mean peakAt } disk { max }
      }
    }`,
    // +01:00 is 09:00Z; the sub-millisecond digits must survive.
    { from: '2026-11-27T10:00:00.000456+01:00', to: '2026-11-27T10:30:00Z' },
  );
  t.is(body.errors, undefined);
  t.deepEqual(api.calls.at(-1), { method: 'stats', args: [T0 - 3_600_000_000 + 456, T0 + 1_800_000_000, 'orders'] });
  t.deepEqual(body.data.stats, [
    {
      service: 'orders',
      count: 5_000_000_000,
      batchCount: 4_999_999_000,
      realtimeCount: 1000,
      cpu: { mean: 41.25, min: 3, max: 99.75, peakAt: '2026-11-27T10:07:00.456789Z' },
      ram: { mean: 60, peakAt: '2026-11-27T10:02:00.000Z' },
      disk: { max: 59 },
    },
  ]);
});

test('stats: service is optional and literals parse like variables', async (t) => {
  const { api, url } = await serve(t);
  const { body } = await gql(url, '{ stats(from: "2026-11-27T10:00:00Z", to: "2026-11-27T11:00:00Z") { service } }');
  t.is(body.errors, undefined);
  t.deepEqual(body.data.stats, [{ service: 'orders' }]);
  t.deepEqual(api.calls.at(-1)?.args, [T0, T0 + 3_600_000_000, undefined]);
});

test('series: buckets per step from the core', async (t) => {
  const { api, url } = await serve(t);
  const { body } = await gql(
    url,
    '{ series(service: "orders", from: "2026-11-27T10:00:00Z", to: "2026-11-27T10:03:00Z", step: MINUTE) { start count cpu { mean min max peakAt } } }',
  );
  t.is(body.errors, undefined);
  t.deepEqual(api.calls.at(-1), { method: 'series', args: ['orders', T0, T0 + 180_000_000, 'MINUTE'] });
  t.deepEqual(body.data.series, [
    { start: '2026-11-27T10:00:00.000Z', count: 60, cpu: { mean: 10, min: 5, max: 20, peakAt: '2026-11-27T10:00:30.000Z' } },
    { start: '2026-11-27T10:01:00.000Z', count: 61, cpu: { mean: 11, min: 6, max: 21, peakAt: '2026-11-27T10:01:30.000Z' } },
    { start: '2026-11-27T10:02:00.000Z', count: 62, cpu: { mean: 12, min: 7, max: 22, peakAt: '2026-11-27T10:02:30.000Z' } },
  ]);
});

test('pipeline: counters, nulls, sample and last batch run', async (t) => {
  const { url } = await serve(t);
  const { body } = await gql(
    url,
    `{ pipeline {
        received accepted rejected late kernelDrops rejectedBy { reason count } compat { reason count }
        rejectedSample { at reason detail from excerpt } recvBufferBytes watermark backlogSegments
        storage batchEngine speedEngine messagesPerSecond startedAt unflushed
        jobs { name schedule runs failures skipped lastStartedAt lastDurationMs lastError lastErrorCode }
        lastBatch { id engine status mode startedAt finishedAt watermark records partitions error }
    } }`,
  );
  t.is(body.errors, undefined);
  t.deepEqual(body.data.pipeline, {
    received: 1_000_010,
    accepted: 1_000_000,
    rejected: 10,
    late: 2,
    kernelDrops: null,
    rejectedBy: PIPELINE.rejectedBy,
    compat: [{ reason: 'seed_mock', count: 12 }],
    rejectedSample: [
      { at: '2026-11-27T10:00:00.000999Z', reason: 'range', detail: 'CPU 140 > 100', from: '10.0.0.7:51234', excerpt: '{"CPU":140' },
    ],
    recvBufferBytes: 4_194_304,
    watermark: '2026-11-27T09:57:00.000Z',
    backlogSegments: 4,
    storage: 'local',
    batchEngine: 'duckdb',
    speedEngine: 'duckdb',
    messagesPerSecond: 812.5,
    startedAt: '2026-11-27T09:00:00.000Z',
    unflushed: 17,
    jobs: [
      { name: 'ship', schedule: '*/5 * * * * *', runs: 12, failures: 1, skipped: 0, lastStartedAt: '2026-11-27T09:59:55.000Z', lastDurationMs: 3, lastError: 'STORE_UNAVAILABLE: the master dataset store could not be read or written; see the daemon log', lastErrorCode: 'STORE_UNAVAILABLE' },
    ],
    lastBatch: {
      id: 'run-0042',
      engine: 'duckdb',
      status: 'SUCCEEDED',
      mode: 'INCREMENTAL',
      startedAt: '2026-11-27T09:58:30.000001Z',
      finishedAt: '2026-11-27T09:58:31.500Z',
      watermark: '2026-11-27T09:57:00.000Z',
      records: 123_456,
      partitions: 3,
      error: null,
    },
  });
});

test('DateTime: a time without a zone is refused, as variable and as literal, before the core is asked', async (t) => {
  const { api, url } = await serve(t);
  const query = 'query($from: DateTime!) { stats(from: $from, to: "2026-11-27T11:00:00Z") { service } }';
  const byVariable = await gql(url, query, { from: '2026-11-27T10:00:00' });
  t.is(byVariable.body.data, undefined);
  t.regex(byVariable.body.errors[0].message, /DateTime must be an ISO-8601 date-time with a zone/);
  t.regex(byVariable.body.errors[0].message, /"2026-11-27T10:00:00"/);
  t.is(byVariable.body.errors[0].extensions.code, 'BAD_DATETIME');

  const byLiteral = await gql(url, '{ stats(from: "27/11/2026 10:00", to: "2026-11-27T11:00:00Z") { service } }');
  t.regex(byLiteral.body.errors[0].message, /DateTime/);
  const byNumber = await gql(url, '{ stats(from: 1795780800, to: "2026-11-27T11:00:00Z") { service } }');
  t.regex(byNumber.body.errors[0].message, /DateTime must be/);
  t.is(api.count('stats'), 0);
});

test('BAD_WINDOW: to not after from is refused with its code; core UserErrors keep theirs', async (t) => {
  const { api, url } = await serve(t);
  const empty = await gql(url, '{ stats(from: "2026-11-27T10:00:00Z", to: "2026-11-27T11:00:00+01:00") { service } }');
  t.is(empty.body.errors[0].extensions.code, 'BAD_WINDOW');
  t.regex(empty.body.errors[0].message, /later than/);
  t.deepEqual(empty.body.errors[0].path, ['stats']);
  const reversed = await gql(
    url,
    '{ series(service: "orders", from: "2026-11-27T10:00:01Z", to: "2026-11-27T10:00:00Z", step: HOUR) { start } }',
  );
  t.is(reversed.body.errors[0].extensions.code, 'BAD_WINDOW');
  t.is(api.calls.length, 0);

  const unknown = await gql(url, '{ stats(from: "2026-11-27T10:00:00Z", to: "2026-11-27T11:00:00Z", service: "nope") { service } }');
  t.is(unknown.body.errors[0].extensions.code, 'UNKNOWN_SERVICE');
  t.is(unknown.body.errors[0].message, 'no service named "nope"');
});

test('an unexpected core error is masked for the client and logged with its cause', async (t) => {
  const { api, url, logged } = await serve(t);
  api.failures.set('pipeline', new Error('disk /var/secret on fire'));
  const { body } = await gql(url, '{ pipeline { received } }');
  t.is(body.data, null);
  t.is(body.errors.length, 1);
  t.is(body.errors[0].message, 'Unexpected error.');
  t.deepEqual(body.errors[0].path, ['pipeline']);
  const text = JSON.stringify(body);
  t.false(text.includes('secret'));
  t.false(text.includes('stack'));
  t.false(text.includes('.ts:'));
  const errors = logged.filter((l) => l.level === 'error');
  t.is(errors.length, 1);
  t.is((errors[0].o as { err: Error }).err.message, 'disk /var/secret on fire');
});

test('runBatch: incremental by default, full on request', async (t) => {
  const { api, url } = await serve(t);
  const plain = await gql(url, 'mutation { runBatch { id status mode partitions startedAt finishedAt error } }');
  t.deepEqual(plain.body.data.runBatch, {
    id: 'run-0042',
    status: 'SUCCEEDED',
    mode: 'INCREMENTAL',
    partitions: 3,
    startedAt: '2026-11-27T09:58:30.000001Z',
    finishedAt: '2026-11-27T09:58:31.500Z',
    error: null,
  });
  t.deepEqual(api.calls.at(-1)?.args, [{}]);
  const full = await gql(url, 'mutation { runBatch(full: true) { mode partitions } }');
  t.deepEqual(full.body.data.runBatch, { mode: 'FULL', partitions: null });
  t.deepEqual(api.calls.at(-1)?.args, [{ full: true }]);
});

test('/health is always ok; /ready follows the core', async (t) => {
  const { api, base } = await serve(t);
  const health = await fetch(`${base}/health`);
  t.is(health.status, 200);
  t.deepEqual(await health.json(), { status: 'ok' });
  const ready = await fetch(`${base}/ready`);
  t.is(ready.status, 200);
  t.deepEqual(await ready.json(), { status: 'ready' });

  api.isReady = false;
  const notReady = await fetch(`${base}/ready`);
  t.is(notReady.status, 503);
  const why = await notReady.json();
  t.is(why.status, 'not ready');
  t.is(typeof why.reason, 'string');
  t.is((await fetch(`${base}/health`)).status, 200);
});

test('GraphiQL is served to browsers at /graphql', async (t) => {
  const { url } = await serve(t);
  const res = await fetch(url, { headers: { accept: 'text/html' } });
  t.is(res.status, 200);
  t.regex(await res.text(), /graphiql/i);
});

test('SSE subscription: pipeline pushes at once and then on the interval; abort ends polling', async (t) => {
  const { api, url } = await serve(t);
  const controller = new AbortController();
  const started = Date.now();
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ query: 'subscription { pipeline { received watermark lastBatch { id } } }' }),
    signal: controller.signal,
  });
  t.is(res.status, 200);
  t.regex(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const { next } = await sseEvents(res).read(3);
  t.true(Date.now() - started >= 2 * PUSH_MS - 5);
  t.deepEqual(
    next.map((e) => e.data.pipeline.received),
    [1_000_010, 1_000_011, 1_000_012],
  );
  t.deepEqual(next[0].data.pipeline.lastBatch, { id: 'run-0042' });
  t.is(next[0].data.pipeline.watermark, '2026-11-27T09:57:00.000Z');
  controller.abort();
  await sleep(PUSH_MS * 3);
  const after = api.count('pipeline');
  await sleep(PUSH_MS * 4);
  t.is(api.count('pipeline'), after, 'the subscription stopped reading the core');
});

test('WebSocket subscription (graphql-ws): services pushed repeatedly; a failing tick does not end it', async (t) => {
  const { api, port } = await serve(t);
  const client = createClient({ url: `ws://127.0.0.1:${port}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0 });
  t.teardown(() => client.dispose());
  const events: Json[] = [];
  let completed = false;
  const unsubscribe = client.subscribe(
    { query: 'subscription { services { service health lastSeen } }' },
    {
      next: (value) => {
        events.push(value);
        // Reads fail for a while once the first push is in; pushes after the failure must arrive anyway.
        if (events.length === 1) api.failures.set('services', new Error('transient'));
        if ((value as Json).errors) api.failures.delete('services');
      },
      error: (err) => t.fail(String(err)),
      complete: () => {
        completed = true;
      },
    },
  );
  const failedAt = () => events.findIndex((e) => e.errors);
  const until = Date.now() + 10_000;
  while ((failedAt() < 0 || events.length <= failedAt() + 1) && Date.now() < until) await sleep(10);
  unsubscribe();
  t.deepEqual(events[0].data.services[0], { service: 'orders', health: 'OK', lastSeen: '2026-11-27T10:00:00.000123Z' });
  t.true(failedAt() > 0, 'a failing read reached the client as an error event');
  t.is(events[failedAt()].errors[0].message, 'Unexpected error.');
  t.deepEqual(events[failedAt() + 1].data.services[1], { service: 'payments', health: 'CRIT', lastSeen: '2026-11-27T09:55:00.000Z' });
  t.false(completed);
  await sleep(PUSH_MS * 3);
  const after = api.count('services');
  await sleep(PUSH_MS * 4);
  t.is(api.count('services'), after, 'unsubscribing stopped the polling');
});

test('WebSocket: queries run too; a bad DateTime is reported and the connection stays usable', async (t) => {
  const { api, port } = await serve(t);
  const client = createClient({ url: `ws://127.0.0.1:${port}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0 });
  t.teardown(() => client.dispose());
  const run = (query: string) =>
    new Promise<Json>((resolve, reject) => {
      let result: Json;
      client.subscribe({ query }, { next: (v) => (result = v), error: reject, complete: () => resolve(result) });
    });
  const ok = await run('{ stats(from: "2026-11-27T10:00:00Z", to: "2026-11-27T11:00:00Z") { count } }');
  t.deepEqual(ok.data, { stats: [{ count: 5_000_000_000 }] });
  // Refused in validation, which graphql-ws reports as an `error` message carrying the GraphQL errors.
  const refused: Json = await t.throwsAsync(run('{ stats(from: "2026-11-27 10:00", to: "2026-11-27T11:00:00Z") { count } }'), {
    any: true,
  });
  t.regex(refused[0].message, /DateTime must be/);
  t.is(api.count('stats'), 1);
  const again = await run('{ pipeline { storage } }');
  t.deepEqual(again.data, { pipeline: { storage: 'local' } });
});

test('WebSocket upgrades elsewhere than /graphql are refused', async (t) => {
  const { port } = await serve(t);
  const ws = new WebSocket(`ws://127.0.0.1:${port}/other`, 'graphql-transport-ws');
  const outcome = await new Promise<string>((resolve) => {
    ws.on('open', () => resolve('open'));
    ws.on('error', (err) => resolve(err.message));
  });
  t.regex(outcome, /404/);
});

test('other web origins get no CORS grant and no WebSocket', async (t) => {
  const { port, url } = await serve(t);
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: 'https://evil.example' },
    body: JSON.stringify({ query: '{ pipeline { storage } }' }),
  });
  t.is(res.headers.get('access-control-allow-origin'), null);
  await res.body?.cancel();
  const handshake = (origin: string) =>
    new Promise<string>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws', { origin });
      ws.on('open', () => {
        ws.close();
        resolve('open');
      });
      ws.on('error', (err) => resolve(err.message));
    });
  t.regex(await handshake('https://evil.example'), /403/);
  // GraphiQL served from the daemon itself is same-origin.
  t.is(await handshake(`http://127.0.0.1:${port}`), 'open');
});

test('stop() closes WebSocket clients with 1001 and ends SSE streams, then frees the port', async (t) => {
  const { server, port, url } = await serve(t, { stopTimeoutMs: 5000 });
  const closed = new Promise<number>((resolve) => {
    const client = createClient({
      url: `ws://127.0.0.1:${port}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      on: { closed: (event) => resolve((event as { code: number }).code) },
    });
    client.subscribe({ query: 'subscription { pipeline { received } }' }, { next: () => {}, error: () => {}, complete: () => {} });
  });
  const sse = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ query: 'subscription { services { service } }' }),
  });
  const stream = sseEvents(sse);
  t.is((await stream.read(1)).next.length, 1);
  await sleep(PUSH_MS * 2);

  const began = Date.now();
  await server.stop();
  t.true(Date.now() - began < 2000, 'graceful, not the hard timeout');
  t.is(await closed, 1001);
  t.true((await stream.read(1000)).ended);
  t.is(stream.events.at(-1), 'complete');
  await t.throwsAsync(fetch(`http://127.0.0.1:${port}/health`));
});

test('stop() destroys sockets that do not go away within the timeout', async (t) => {
  const { server, port } = await serve(t, { stopTimeoutMs: 200 });
  // A bare WebSocket handshake from a client that then never answers the server's close frame.
  const socket = connect(port, '127.0.0.1');
  socket.write(
    'GET /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
      'Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n',
  );
  const [response] = await once(socket, 'data');
  t.regex(String(response), /^HTTP\/1.1 101/);
  const closed = once(socket, 'close');
  const began = Date.now();
  await server.stop();
  const took = Date.now() - began;
  t.true(took >= 190 && took < 1500, `took ${took} ms`);
  await closed;
  t.true(socket.destroyed);
});
