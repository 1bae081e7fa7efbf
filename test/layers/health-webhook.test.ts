/**
 * Webhook notifications received by a real local HTTP server: the Alertmanager payload, grouping, retry with
 * exponential backoff, the repeat interval, silences, and a receiver that hangs without slowing anything down.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { pino } from 'pino';
import type { Alert } from '../../src/api.js';
import { HealthService } from '../../src/health/health-service.js';
import type { WebhookOptions } from '../../src/health/notifier.js';
import { parseRulesConfig } from '../../src/health/rules.js';
import type { HealthMessage } from '../../src/core/message.js';
import { microsToIso } from '../../src/core/time.js';
import { Database } from '../../src/serving/database.js';
import { startWebhookServer, type WebhookServer } from '../helpers/webhook-server.js';

const T0 = Date.UTC(2026, 10, 27, 10) * 1000;
const S = 1_000_000;
const GROUP_WAIT_MS = 150;
const BACKOFF_MS = 40;
const rules = parseRulesConfig({ defaults: { diskFull: { enabled: false }, ramFull: { enabled: false } } });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const msg = (service: string, ts: number, cpu: number): HealthMessage => ({ service, ts, cpu, ramTotal: 32, ramFree: 16, diskTotal: 500, diskFree: 250 });

async function setup(t: ExecutionContext, webhook: Partial<WebhookOptions> = {}) {
  const server = await startWebhookServer();
  const db = await Database.open(join(await mkdtemp(join(tmpdir(), 'hms-webhook-')), 'hms.duckdb'));
  const clock = { now: T0 };
  const health = await HealthService.create(
    db,
    { rules, webhook: { url: server.url, groupWaitUs: GROUP_WAIT_MS * 1000, backoffUs: BACKOFF_MS * 1000, timeoutUs: 2 * S, ...webhook } },
    pino({ level: 'silent' }),
    () => clock.now,
  );
  const events: Alert[] = [];
  health.subscribe((a) => events.push(a));
  t.teardown(async () => {
    await health.close();
    db.close();
    await server.close();
  });
  return {
    server,
    health,
    clock,
    events,
    /** `seconds` of simulated time, one message per service per `step` seconds and a tick after each. */
    async run(seconds: number, cpuOf: Record<string, number>, step = 1) {
      for (let i = 0; i < seconds; i += step) {
        clock.now += step * S;
        for (const [service, cpu] of Object.entries(cpuOf)) health.observe(msg(service, clock.now, cpu), clock.now);
        await health.tick(clock.now);
      }
    },
  };
}

/**
 * Waits for `n` requests and for the notifier to have handled their answers, then long enough to be sure no
 * further request was on its way. Polls rather than trusting one sleep: a busy event loop runs due timers
 * before pending I/O, so a sleep can end before a response that has already arrived is read.
 */
async function exactly(server: WebhookServer, health: HealthService, n: number) {
  await server.waitFor(n);
  const deadline = performance.now() + 5000;
  // Queued counts a batch until it is delivered or given up.
  while (health.notifierStats()!.queued > 0 && performance.now() < deadline) await sleep(10);
  await sleep(GROUP_WAIT_MS * 3);
  return server.received;
}

const labelsOf = (body: { alerts: { status: string; labels: Record<string, string> }[] }) =>
  body.alerts.map((a) => `${a.labels.service} ${a.labels.alertname} ${a.labels.severity} ${a.status}`).sort();

test('alerts that fire together arrive as one Alertmanager-format POST, and so do their resolutions', async (t) => {
  const { server, health, events, run, clock } = await setup(t);
  // a and b cross the line together, c one second later: all within group_wait of each other in real time.
  await run(1, { a: 20, b: 20, c: 20 });
  await run(1, { a: 97, b: 97, c: 20 });
  await run(31, { a: 97, b: 97, c: 97 });
  const [fired] = await exactly(server, health, 1);
  t.is(server.received.length, 1);
  t.is(fired.method, 'POST');
  t.is(fired.contentType, 'application/json');
  const alert = events.find((e) => e.service === 'a' && e.severity === 'CRIT')!;
  t.like(fired.body, {
    version: '4',
    status: 'firing',
    receiver: 'hms',
    groupKey: '{}:{receiver="hms"}',
    truncatedAlerts: 0,
    groupLabels: {},
    // One alert per service: each CRIT inhibits the WARN of its rule and service.
    commonLabels: { alertname: 'cpu', severity: 'CRIT' },
    commonAnnotations: {},
    externalURL: '',
  });
  t.deepEqual(labelsOf(fired.body), ['a cpu CRIT firing', 'b cpu CRIT firing', 'c cpu CRIT firing']);
  t.deepEqual(
    fired.body.alerts.find((a: { fingerprint: string }) => a.fingerprint === alert.id),
    {
      status: 'firing',
      labels: { alertname: 'cpu', service: 'a', severity: 'CRIT' },
      annotations: { summary: 'a: cpu 97% >= 95% for 30s' },
      startsAt: '2026-11-27T10:00:02.000Z',
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: '',
      fingerprint: alert.id,
    },
  );

  await run(31, { a: 50, b: 50, c: 50 });
  const resolvedAt = clock.now;
  const [, resolved] = await exactly(server, health, 2);
  t.is(server.received.length, 2);
  t.is(resolved.body.status, 'resolved');
  t.deepEqual(labelsOf(resolved.body), ['a cpu CRIT resolved', 'b cpu CRIT resolved', 'c cpu CRIT resolved']);
  const c = resolved.body.alerts.find((a: { labels: { service: string } }) => a.labels.service === 'c');
  t.is(c.endsAt, microsToIso(resolvedAt));
  t.deepEqual(health.notifierStats(), { sent: 2, retries: 0, failed: 0, dropped: 0, queued: 0 });
});

test('retry with exponential backoff: 500, 500, then 200 delivers the same payload once', async (t) => {
  const { server, health, run } = await setup(t);
  server.respondWith(500, 500);
  await run(31, { orders: 97 });
  const got = await exactly(server, health, 3);
  t.is(got.length, 3);
  t.deepEqual(
    got.map((r) => r.status),
    [500, 500, 200],
  );
  t.deepEqual(got[1].body, got[0].body);
  t.deepEqual(got[2].body, got[0].body);
  const firstGap = got[1].at - got[0].at;
  const secondGap = got[2].at - got[1].at;
  t.true(firstGap >= BACKOFF_MS - 5, `first retry after ${firstGap} ms`);
  t.true(secondGap >= 2 * BACKOFF_MS - 5, `second retry after ${secondGap} ms, expected the backoff doubled`);
  t.deepEqual(health.notifierStats(), { sent: 1, retries: 2, failed: 0, dropped: 0, queued: 0 });
});

test('a client error is not retried; attempts run out after maxAttempts', async (t) => {
  const { server, health, run } = await setup(t, { maxAttempts: 3 });
  server.respondWith(400);
  await run(31, { orders: 97 });
  await exactly(server, health, 1);
  t.is(server.received.length, 1);
  t.like(health.notifierStats(), { sent: 0, retries: 0, failed: 1 });

  server.respondWith(503, 503, 503, 503);
  await run(31, { orders: 50 });
  await exactly(server, health, 4);
  t.is(server.received.length, 4, 'three attempts at the resolution, no fourth');
  t.like(health.notifierStats(), { sent: 0, retries: 2, failed: 2 });
});

test('still-firing alerts are sent again after the repeat interval', async (t) => {
  const { server, health, run } = await setup(t, { repeatIntervalUs: 600 * S });
  await run(31, { orders: 97 });
  await exactly(server, health, 1);
  // Nine more minutes: not yet.
  await run(540, { orders: 97 }, 60);
  await sleep(GROUP_WAIT_MS * 2);
  t.is(server.received.length, 1);
  await run(60, { orders: 97 }, 60);
  const got = await exactly(server, health, 2);
  t.is(got.length, 2);
  t.deepEqual(labelsOf(got[1].body), ['orders cpu CRIT firing']);
  t.deepEqual(
    got[1].body.alerts.map((a: { fingerprint: string }) => a.fingerprint).sort(),
    got[0].body.alerts.map((a: { fingerprint: string }) => a.fingerprint).sort(),
  );
});

test('silences suppress notifications and show as silenced in alerts; lifting one sends what is firing', async (t) => {
  const { server, health, events, run } = await setup(t);
  const silence = await health.silence({ service: 'pay*', rule: 'cpu', until: T0 + 3600 * S, reason: 'load test' });
  await health.silence({ service: 'auth', until: T0 + 3600 * S });
  await run(31, { payments: 97, orders: 97, auth: 20 });
  const [first] = await exactly(server, health, 1);
  t.deepEqual(labelsOf(first.body), ['orders cpu CRIT firing'], 'payments is silenced');

  const active = await health.alerts({ active: true });
  t.deepEqual(
    active.map((a) => `${a.service} ${a.severity} ${a.silenced}`).sort(),
    ['orders CRIT false', 'payments CRIT true'],
  );
  t.deepEqual(
    events.map((a) => `${a.service} ${a.severity} ${a.silenced}`).sort(),
    ['orders CRIT false', 'payments CRIT true'],
    'subscribers see the flag too',
  );

  // auth (silenced for every rule) goes quiet and comes back: nothing about it is ever sent.
  await run(12, { payments: 97, orders: 97 });
  t.true(events.some((a) => a.service === 'auth' && a.state === 'FIRING' && a.silenced));
  await run(1, { payments: 97, orders: 97, auth: 20 });
  t.true(events.some((a) => a.service === 'auth' && a.state === 'RESOLVED'));

  // Lifting the silence: the payments alerts, still firing, go out on the next tick.
  t.true(await health.unsilence(silence.id));
  await run(1, { payments: 97, orders: 97, auth: 20 });
  const [, second] = await exactly(server, health, 2);
  t.is(server.received.length, 2);
  t.deepEqual(labelsOf(second.body), ['payments cpu CRIT firing']);
  t.false((await health.alerts({ active: true, service: 'payments' }))[0].silenced);
});

// Serial: its deliberate 100k-message loop would block the event loop under the other tests' timers.
test.serial('a receiver that hangs slows neither ingest nor ticks; the queue is bounded and drops are counted', async (t) => {
  const { server, health, run, clock } = await setup(t, { maxQueue: 2, timeoutUs: 30 * S });
  server.hang = true;
  // Three services fire in one tick: three alerts for a queue of two.
  await run(31, { a: 97, b: 97, c: 97 });
  await server.waitFor(1);
  t.like(health.notifierStats(), { sent: 0, dropped: 1, queued: 2 });

  // The POST is still hanging: ticks and the hot path carry on at full speed.
  const tickStart = performance.now();
  await run(5, { a: 97, b: 97, c: 97 });
  const tickMs = (performance.now() - tickStart) / 5;
  t.true(tickMs < 100, `a tick took ${tickMs} ms with the webhook hanging`);
  const n = 100_000;
  const observeStart = performance.now();
  for (let i = 0; i < n; i++) health.observe(msg(`svc-${i % 100}`, clock.now, 50), clock.now);
  const perMessageUs = ((performance.now() - observeStart) * 1000) / n;
  t.true(perMessageUs < 20, `observe took ${perMessageUs} us per message`);
  t.is(server.received.length, 1, 'one request in flight at a time');
});
