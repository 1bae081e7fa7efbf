/**
 * The alerting part of the GraphQL surface (names are a contract) over a real HealthService and DuckDB, in
 * process through yoga.fetch: ServiceHealth reasons and forecasts, alerts and silences, the silence mutations
 * with their error codes, and the alerts subscription over SSE.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { createYoga } from 'graphql-yoga';
import { pino } from 'pino';
import { createHmsSchema } from '../../graphql/schema.js';
import type { HmsApi } from '../../src/api.js';
import { HealthService } from '../../src/health/health-service.js';
import { parseRulesConfig } from '../../src/health/rules.js';
import type { HealthMessage } from '../../src/core/message.js';
import { Database } from '../../src/serving/database.js';
import { FakeHmsApi } from '../helpers/fake-api.js';
import { sseEvents } from '../helpers/sse.js';

const T0 = Date.UTC(2026, 10, 27, 10) * 1000;
const S = 1_000_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// biome-ignore lint/suspicious/noExplicitAny: GraphQL responses are checked field by field
type Json = any;

async function setup(t: ExecutionContext) {
  const db = await Database.open(join(await mkdtemp(join(tmpdir(), 'hms-gql-')), 'hms.duckdb'));
  const clock = { now: T0 };
  const health = await HealthService.create(db, { rules: parseRulesConfig(undefined) }, pino({ level: 'silent' }), () => clock.now);
  const fake = new FakeHmsApi();
  let subscribers = 0;
  // The wiring app.ts does: alerting from the HealthService, the rest (not under test here) from the fake.
  const api: HmsApi = {
    services: async () => health.services(clock.now),
    stats: (...a) => fake.stats(...a),
    series: (...a) => fake.series(...a),
    history: (...a) => fake.history(...a),
    pipeline: () => fake.pipeline(),
    runBatch: (o) => fake.runBatch(o),
    compact: () => fake.compact(),
    applyRetention: () => fake.applyRetention(),
    forgetService: (s) => fake.forgetService(s),
    importMessages: (m, c) => fake.importMessages(m, c),
    readiness: () => ({ ready: true }),
    alerts: (f) => health.alerts(f),
    silences: () => health.silences(),
    silence: (i) => health.silence(i),
    unsilence: (id) => health.unsilence(id),
    subscribeAlerts: (listener) => {
      subscribers++;
      const off = health.subscribe(listener);
      return () => {
        subscribers--;
        off();
      };
    },
  };
  const shutdown = new AbortController();
  const yoga = createYoga({ schema: createHmsSchema(api, { shutdown: shutdown.signal }), logging: false, maskedErrors: { isDev: false } });
  t.teardown(async () => {
    shutdown.abort();
    await health.close();
    db.close();
  });
  const gql = async (query: string, variables?: object): Promise<Json> => {
    const res = await yoga.fetch('http://localhost/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
      body: JSON.stringify({ query, variables }),
    });
    return res.json();
  };
  const step = async (seconds: number, values: (service: string) => Partial<HealthMessage>, services: string[], every = 1) => {
    for (let i = 0; i < seconds; i += every) {
      clock.now += every * S;
      for (const service of services) {
        health.observe({ service, ts: clock.now, cpu: 20, ramTotal: 32, ramFree: 16, diskTotal: 500, diskFree: 250, ...values(service) }, clock.now);
      }
      await health.tick(clock.now);
    }
  };
  return { health, clock, gql, step, yoga, shutdown, subscribers: () => subscribers };
}

test('ServiceHealth: health, reasons, diskFullAt and ramFullAt', async (t) => {
  const { gql, step, clock } = await setup(t);
  const start = clock.now;
  // Disk used 40 % + 0.5 %/min: full 2 h after the start. CPU on the CRIT line for payments.
  const disk = () => 500 * (1 - (40 + (0.5 * (clock.now - start)) / 60e6) / 100);
  await step(600, (service) => (service === 'search' ? { diskFree: disk() } : { cpu: 97 }), ['search', 'payments'], 10);
  const { data, errors } = await gql('{ services { service health reasons diskFullAt ramFullAt } }');
  t.is(errors, undefined);
  const [payments, search] = data.services;
  t.deepEqual(payments.reasons, ['cpu 97% >= 95% for 9m']);
  t.is(payments.health, 'CRIT');
  t.is(search.health, 'WARN');
  t.deepEqual(search.reasons, ['disk full in 110m at current rate (+30%/h)']);
  t.true(Math.abs(Date.parse(search.diskFullAt) - (start + 7200 * S) / 1000) < 1000, search.diskFullAt);
  t.is(search.ramFullAt, null);
  t.is(payments.diskFullAt, null, 'a constant disk has no forecast');
});

test('alerts, silences and the silence mutations, with error codes', async (t) => {
  const { gql, step } = await setup(t);
  await step(31, (service) => ({ cpu: service === 'orders' ? 20 : 97 }), ['payments-eu', 'orders']);
  const made = await gql(
    'mutation($until: DateTime!) { silence(service: "payments-*", rule: "cpu", until: $until, reason: "deploy") { id service rule until reason } }',
    { until: '2026-11-27T11:00:00.000250Z' },
  );
  t.is(made.errors, undefined);
  const silence = made.data.silence;
  t.like(silence, { service: 'payments-*', rule: 'cpu', until: '2026-11-27T11:00:00.000250Z', reason: 'deploy' });

  const { data } = await gql('{ alerts(active: true) { service rule severity state startedAt endedAt value message silenced } silences { id } }');
  t.deepEqual(
    data.alerts.map((a: Json) => a.severity),
    ['CRIT'],
    'the CRIT inhibits the WARN',
  );
  t.deepEqual(data.alerts.find((a: Json) => a.severity === 'CRIT'), {
    service: 'payments-eu',
    rule: 'cpu',
    severity: 'CRIT',
    state: 'FIRING',
    startedAt: '2026-11-27T10:00:01.000Z',
    endedAt: null,
    value: 97,
    message: 'cpu 97% >= 95% for 30s',
    silenced: true,
  });
  t.deepEqual(data.silences, [{ id: silence.id }]);
  t.deepEqual((await gql('{ alerts(service: "orders") { id } }')).data.alerts, []);
  t.deepEqual((await gql('{ alerts(active: false) { id } }')).data.alerts, []);

  const badRule = await gql('mutation { silence(service: "x", rule: "cpux", until: "2026-11-27T11:00:00Z") { id } }');
  t.is(badRule.errors[0].extensions.code, 'UNKNOWN_RULE');
  t.regex(badRule.errors[0].message, /no rule named "cpux"/);
  const past = await gql('mutation { silence(service: "x", until: "2026-11-27T09:00:00Z") { id } }');
  t.is(past.errors[0].extensions.code, 'BAD_SILENCE');

  t.deepEqual((await gql('mutation($id: String!) { unsilence(id: $id) }', { id: silence.id })).data, { unsilence: true });
  t.deepEqual((await gql('mutation($id: String!) { unsilence(id: $id) }', { id: silence.id })).data, { unsilence: false });
  t.deepEqual((await gql('{ silences { id } }')).data.silences, []);
  t.false((await gql('{ alerts(active: true) { silenced } }')).data.alerts[0].silenced);
});


test('Subscription.alerts streams every state change and lets go of the core when the client leaves', async (t) => {
  const { yoga, step, subscribers, shutdown } = await setup(t);
  const subscribe = () =>
    yoga.fetch('http://localhost/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: 'subscription { alerts { service rule severity state silenced } }' }),
    });
  const first = sseEvents(await subscribe());
  const reading = first.read(2);
  while (subscribers() < 1) await sleep(5);
  await step(31, () => ({ cpu: 97 }), ['orders']);
  await step(31, () => ({ cpu: 50 }), ['orders']);
  const { next } = await reading;
  t.deepEqual(
    next.map((e) => `${e.data.alerts.severity} ${e.data.alerts.state}`),
    ['CRIT FIRING', 'CRIT RESOLVED'],
  );
  t.like(next[0].data.alerts, { service: 'orders', rule: 'cpu', silenced: false });

  await first.cancel();
  while (subscribers() > 0) await sleep(5);
  t.is(subscribers(), 0, 'the client left: no listener remains on the core');

  // A server shutdown ends an open alert stream.
  const second = sseEvents(await subscribe());
  while (subscribers() < 1) await sleep(5);
  shutdown.abort();
  t.true((await second.read(1)).ended);
  t.is(subscribers(), 0);
});
