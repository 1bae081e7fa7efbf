/**
 * The Alertmanager push against real local HTTP servers, on a simulated clock: the API payload (labels shared
 * with the webhook), resends while firing with `endsAt` ahead, the resolution with its real end, retries that
 * are counted and logged once per problem, several Alertmanagers of which one is down, silences, and inhibition
 * (two spiking services: two alerts everywhere, not four).
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import test, { type ExecutionContext } from 'ava';
import { pino } from 'pino';
import type { HealthMessage } from '../../src/core/message.js';
import { microsToIso } from '../../src/core/time.js';
import type { AlertmanagerOptions } from '../../src/health/alertmanager.js';
import { HealthService } from '../../src/health/health-service.js';
import { parseRulesConfig } from '../../src/health/rules.js';
import { Database } from '../../src/serving/database.js';
import { freePort } from '../helpers/sshd.js';
import { startWebhookServer, type WebhookServer } from '../helpers/webhook-server.js';

const T0 = Date.UTC(2026, 10, 27, 10) * 1000;
const S = 1_000_000;
const RESEND = 60 * S;
const rules = parseRulesConfig({ defaults: { diskFull: { enabled: false }, ramFull: { enabled: false } } });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const msg = (service: string, ts: number, cpu: number): HealthMessage => ({ service, ts, cpu, ramTotal: 32, ramFree: 16, diskTotal: 500, diskFree: 250 });
const base = (server: WebhookServer) => new URL(server.url).origin;

async function setup(t: ExecutionContext, urls: string[], opts: Partial<AlertmanagerOptions> = {}, webhook?: string) {
  const db = await Database.open(join(await mkdtemp(join(tmpdir(), 'hms-am-')), 'hms.duckdb'));
  const clock = { now: T0 };
  const logs: { level: number; msg: string; url?: string; err?: string }[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line));
      done();
    },
  });
  const health = await HealthService.create(
    db,
    {
      rules,
      alertmanager: { urls, resendIntervalUs: RESEND, backoffUs: 5 * S, timeoutUs: 2 * S, ...opts },
      webhook: webhook ? { url: webhook, groupWaitUs: 50_000 } : null,
    },
    pino({ level: 'info' }, sink),
    () => clock.now,
  );
  t.teardown(async () => {
    await health.close();
    db.close();
  });
  return {
    health,
    clock,
    logs,
    /** `seconds` of simulated time, one message per service each second and a tick after each. */
    async run(seconds: number, cpuOf: Record<string, number>) {
      for (let i = 0; i < seconds; i++) {
        clock.now += S;
        for (const [service, cpu] of Object.entries(cpuOf)) health.observe(msg(service, clock.now, cpu), clock.now);
        await health.tick(clock.now);
      }
    },
    /** Waits until no push is in flight, polling: never a fixed sleep. */
    async settled() {
      const deadline = performance.now() + 10_000;
      while (health.alertmanagerStats()!.inFlight > 0 && performance.now() < deadline) await sleep(5);
    },
  };
}

const brief = (alerts: { labels: Record<string, string> }[]) => alerts.map((a) => `${a.labels.service} ${a.labels.alertname} ${a.labels.severity}`).sort();

test('firing alerts are pushed at once as the v2 API takes them, again each resend interval, and resolved with their end', async (t) => {
  const am = await startWebhookServer();
  t.teardown(() => am.close());
  const { health, run, clock, settled } = await setup(t, [base(am)]);
  await run(1, { orders: 20 });
  t.is(am.received.length, 0, 'nothing to say yet');
  await run(31, { orders: 97 });
  const [first] = await am.waitFor(1);
  t.is(first.method, 'POST');
  t.is(first.path, '/api/v2/alerts');
  t.is(first.contentType, 'application/json');
  const firedAt = clock.now;
  // One alert: the CRIT inhibits the WARN of the same rule.
  t.deepEqual(first.body, [
    {
      labels: { alertname: 'cpu', service: 'orders', severity: 'CRIT' },
      annotations: { summary: 'orders: cpu 97% >= 95% for 30s' },
      startsAt: microsToIso(T0 + 2 * S),
      endsAt: microsToIso(firedAt + 4 * RESEND),
      generatorURL: '',
    },
  ]);

  // Still firing: nothing more until the resend interval has passed, then the same alert with a later end.
  await run(59, { orders: 97 });
  await settled();
  t.is(am.received.length, 1);
  await run(1, { orders: 97 });
  const [, second] = await am.waitFor(2);
  t.is(second.body[0].endsAt, microsToIso(clock.now + 4 * RESEND));
  t.is(second.body[0].startsAt, first.body[0].startsAt);

  // It cools down: resolved 30 s after dropping below the band, pushed at once with that end time.
  await run(31, { orders: 50 });
  const resolvedAt = (await health.alerts({ service: 'orders' }))[0].endedAt!;
  const [, , third] = await am.waitFor(3);
  t.deepEqual(brief(third.body), ['orders cpu CRIT']);
  t.is(third.body[0].endsAt, microsToIso(resolvedAt));
  await settled();
  t.deepEqual(health.alertmanagerStats(), { sent: 3, failed: 0, alerts: 1, failing: 0, inFlight: 0 });

  // Resolved alerts ride along with pushes for 4 resend intervals (an Alertmanager that missed the first has
  // timed the alert out by then), then are forgotten.
  for (let i = 0; i < 4 * 60 + 5; i++) {
    await run(1, { orders: 50 });
    await settled();
  }
  t.deepEqual(health.alertmanagerStats(), { sent: 7, failed: 0, alerts: 0, failing: 0, inFlight: 0 });
  t.true(am.received.slice(3).every((r) => r.body.length === 1 && r.body[0].endsAt === microsToIso(resolvedAt)));
});

test('inhibition: two spiking services give two alerts in the list, the webhook and Alertmanager, not four', async (t) => {
  const am = await startWebhookServer();
  const hook = await startWebhookServer();
  t.teardown(() => Promise.all([am.close(), hook.close()]));
  const { health, run } = await setup(t, [base(am)], {}, hook.url);
  await run(1, { a: 20, b: 20 });
  await run(31, { a: 99, b: 99 });
  const [pushed] = await am.waitFor(1);
  t.deepEqual(brief(pushed.body), ['a cpu CRIT', 'b cpu CRIT']);
  const [hooked] = await hook.waitFor(1);
  t.deepEqual(brief(hooked.body.alerts), ['a cpu CRIT', 'b cpu CRIT']);
  t.deepEqual(
    (await health.alerts({ active: true })).map((a) => `${a.service} ${a.severity}`).sort(),
    ['a CRIT', 'b CRIT'],
  );
  t.is((await health.alerts()).length, 2, 'no WARN record at all');
});

test('a failing Alertmanager is retried with backoff, counted, and logged once per problem; the other one is not held up', async (t) => {
  const good = await startWebhookServer();
  const flaky = await startWebhookServer();
  t.teardown(() => Promise.all([good.close(), flaky.close()]));
  const down = `http://127.0.0.1:${await freePort()}`;
  flaky.respondWith(500, 500, 500, 400);
  const { health, run, logs, settled } = await setup(t, [base(good), base(flaky), down]);
  await run(31, { orders: 97 });
  await settled();
  // Backoff 5 s, 10 s, 20 s, 40 s: in 80 simulated seconds the failing ones are tried again at +5, +15, +35, +75.
  for (let i = 0; i < 80; i++) {
    await run(1, { orders: 97 });
    await settled();
  }
  t.is(good.received.length, 2, 'the working one: the first push and the resend, nothing else');
  t.deepEqual(
    flaky.received.map((r) => r.status),
    [500, 500, 500, 400, 200],
  );
  const warns = logs.filter((l) => l.level === 40 && l.msg.startsWith('Alertmanager push failed'));
  t.deepEqual(
    warns.map((w) => `${w.url} ${w.err}`).sort(),
    [`${base(flaky)}/api/v2/alerts HTTP 400: nope`, `${base(flaky)}/api/v2/alerts HTTP 500: nope`, `${down}/api/v2/alerts fetch failed: ECONNREFUSED`].sort(),
    'one line per problem, not per attempt',
  );
  t.true(logs.some((l) => l.level === 30 && l.msg === 'Alertmanager accepts alerts again' && l.url === `${base(flaky)}/api/v2/alerts`));
  const stats = health.alertmanagerStats()!;
  t.is(stats.failing, 1, 'the one that is down');
  t.like(stats, { sent: 3, failed: 4 + 5 }, 'flaky failed 4 times, the dead one 5');
});

test('silenced alerts are not pushed; a firing alert pushed before the silence is left to end by itself', async (t) => {
  const am = await startWebhookServer();
  t.teardown(() => am.close());
  const { health, run, settled } = await setup(t, [base(am)]);
  await health.silence({ service: 'pay*', until: T0 + 3600 * S });
  await run(31, { payments: 97, orders: 97 });
  const [first] = await am.waitFor(1);
  t.deepEqual(brief(first.body), ['orders cpu CRIT']);
  await health.silence({ service: 'orders', until: T0 + 3600 * S });
  await run(61, { payments: 97, orders: 97 });
  await settled();
  t.is(am.received.length, 1, 'the resend had nothing to push');
});
