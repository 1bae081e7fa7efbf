/**
 * Alert records and silences in a real DuckDB file: they survive a restart of the store, and alerts that were
 * firing come back firing without being re-fired, then resolve through the rules once fresh data clears them.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { pino } from 'pino';
import type { Alert } from '../../src/api.js';
import { HealthService } from '../../src/health/health-service.js';
import { LiveState } from '../../src/health/live-state.js';
import { parseRulesConfig } from '../../src/health/rules.js';
import type { HealthMessage } from '../../src/core/message.js';
import { Database } from '../../src/serving/database.js';

const T0 = Date.UTC(2026, 10, 27, 10) * 1000;
const S = 1_000_000;
const log = pino({ level: 'silent' });
// Forecasts off: these tests are about records, and constant series give none anyway.
const rules = parseRulesConfig({ defaults: { diskFull: { enabled: false }, ramFull: { enabled: false } } });

const msg = (service: string, ts: number, cpu: number): HealthMessage => ({ service, ts, cpu, ramTotal: 32, ramFree: 16, diskTotal: 500, diskFree: 250 });

async function open(dir: string, clock: { now: number }) {
  const db = await Database.open(join(dir, 'hms.duckdb'));
  const health = await HealthService.create(db, { rules }, log, () => clock.now);
  const events: Alert[] = [];
  health.subscribe((a) => events.push(a));
  return {
    db,
    health,
    events,
    /** `seconds` of one message per second per service, ticking after each. */
    async run(seconds: number, cpuOf: Record<string, number>) {
      for (let i = 0; i < seconds; i++) {
        clock.now += S;
        for (const [service, cpu] of Object.entries(cpuOf)) health.observe(msg(service, clock.now, cpu), clock.now);
        await health.tick(clock.now);
      }
    },
    async close() {
      await health.close();
      db.close();
    },
  };
}

const brief = (alerts: Alert[]) => alerts.map((a) => `${a.service} ${a.rule} ${a.severity} ${a.state}`).sort();

test('alert records survive a restart and are re-evaluated, not re-fired', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hms-health-'));
  const clock = { now: T0 };
  const first = await open(dir, clock);
  await first.run(40, { orders: 97, payments: 20 });
  t.deepEqual(brief(first.events), ['orders cpu CRIT FIRING']);
  const fired = await first.health.alerts({ active: true });
  t.deepEqual(brief(fired), ['orders cpu CRIT FIRING']);
  const crit = fired.find((a) => a.severity === 'CRIT')!;
  t.is(crit.startedAt, T0 + S);
  t.is(crit.value, 97);
  t.is(crit.message, 'cpu 97% >= 95% for 30s');
  t.is(crit.endedAt, null);
  t.false(crit.silenced);
  await first.close();

  // Down for a minute; back with the same file.
  clock.now += 60 * S;
  const second = await open(dir, clock);
  t.deepEqual(await second.health.alerts({ active: true }), fired, 'the same records, ids and times');
  // Still hot: nothing fires again, although `for` has elapsed once more since the restart.
  await second.run(40, { orders: 97 });
  t.deepEqual(second.events, []);
  // Cooled below both clear lines (90 and 80): resolved 30 s later, under its original id; no WARN follows.
  await second.run(31, { orders: 60 });
  t.deepEqual(brief(second.events), ['orders cpu CRIT RESOLVED']);
  const resolvedAt = clock.now;
  t.deepEqual(second.events.map((e) => e.id).sort(), fired.map((a) => a.id).sort());
  t.deepEqual(await second.health.alerts({ active: true }), []);
  const history = await second.health.alerts({ service: 'orders' });
  t.deepEqual(
    history.map((a) => [a.severity, a.state, a.startedAt, a.endedAt, a.message]).sort(),
    [['CRIT', 'RESOLVED', T0 + S, resolvedAt, 'cpu 97% >= 95% for 30s']],
  );
  t.deepEqual(await second.health.alerts({ service: 'payments' }), []);
  t.is((await second.health.alerts({ active: false })).length, 1);
  await second.close();

  // A third start has nothing to restore.
  const third = await open(dir, clock);
  await third.run(2, { orders: 60 });
  t.deepEqual(third.events, []);
  t.is((await third.health.alerts({})).length, 1);
  await third.close();
});

test('a service that died while the daemon was down turns SILENT after restart; one that sends does not', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hms-health-'));
  const clock = { now: T0 };
  // What the live view saved before the restart: both services last seen 5 minutes ago.
  const db = await Database.open(join(dir, 'hms.duckdb'));
  const conn = await db.connect();
  for (const service of ['alive', 'dead']) {
    await conn.run('INSERT INTO latest VALUES ($s, $ts, $recv, 12.5, 32, 8, 500, 100)', { s: service, ts: BigInt(T0 - 300 * S), recv: BigInt(T0 - 300 * S) });
  }
  conn.closeSync();
  db.close();

  const h = await open(dir, clock);
  const before = h.health.services(T0);
  t.deepEqual(
    before.map((s) => [s.service, s.health, s.cpu, s.ramUsed, s.diskFreeGb, s.lastSeen]),
    [
      ['alive', 'OK', 12.5, 75, 100, T0 - 300 * S],
      ['dead', 'OK', 12.5, 75, 100, T0 - 300 * S],
    ],
    'last known values at once, and no SILENT for the time the daemon itself was down',
  );
  await h.run(11, { alive: 30 });
  t.deepEqual(brief(h.events), ['dead silent SILENT FIRING']);
  t.is(h.events[0].message, 'no message for 11s (usual interval unknown)');
  t.deepEqual(
    h.health.services().map((s) => [s.service, s.health]),
    [
      ['alive', 'OK'],
      ['dead', 'SILENT'],
    ],
  );
  await h.close();
});

test('silences are kept in DuckDB, end on unsilence or expiry, and validate their input', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hms-health-'));
  const clock = { now: T0 };
  const first = await open(dir, clock);
  const long = await first.health.silence({ service: 'payments-*', rule: 'cpu', until: T0 + 3600 * S, reason: 'load test' });
  const short = await first.health.silence({ service: 'auth', until: T0 + 10 * S });
  t.deepEqual(long, { id: long.id, service: 'payments-*', rule: 'cpu', until: T0 + 3600 * S, reason: 'load test' });
  t.deepEqual(short.rule, null);
  await t.throwsAsync(first.health.silence({ service: 'x', rule: 'cpux', until: T0 + S }), { message: /no rule named "cpux"/ });
  await t.throwsAsync(first.health.silence({ service: 'x', until: T0 }), { message: '`until` must be in the future.' });
  await t.throwsAsync(first.health.silence({ service: '  ', until: T0 + S }), { message: '`service`: a service pattern must not be empty.' });
  await t.throwsAsync(first.health.silence({ service: '*a'.repeat(101), until: T0 + S }), {
    message: '`service`: a service pattern is at most 200 characters (got 202).',
  });
  await first.close();

  clock.now = T0 + 20 * S;
  const second = await open(dir, clock);
  t.deepEqual(await second.health.silences(), [long], 'the expired one is gone, the other survived the restart');
  t.false(await second.health.unsilence(short.id), 'already expired');
  t.true(await second.health.unsilence(long.id));
  t.false(await second.health.unsilence(long.id));
  t.deepEqual(await second.health.silences(), []);
  await second.close();
});

test('forgetting: a service silent past --forget-after leaves services, its alerts resolve, and a restart does not bring it back', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hms-forget-'));
  const clock = { now: T0 };
  const start = async () => {
    const db = await Database.open(join(dir, 'hms.duckdb'));
    const health = await HealthService.create(db, { rules, forgetAfterUs: 3600 * S }, log, () => clock.now);
    const live = await LiveState.load(db);
    const events: Alert[] = [];
    health.subscribe((a) => events.push(a));
    return { db, health, live, events };
  };
  const first = await start();
  const names = () => first.health.services(clock.now).map((s) => s.service);
  for (let i = 0; i < 20; i++) {
    clock.now += S;
    first.health.observe(msg('retired', clock.now, 10), clock.now);
    first.health.observe(msg('alive', clock.now, 10), clock.now);
    await first.health.tick(clock.now);
  }
  await first.live.save(first.health.takeLatest());
  // Two hours: 'alive' keeps sending once a minute, 'retired' never again.
  for (let minute = 0; minute < 120; minute++) {
    clock.now += 60 * S;
    first.health.observe(msg('alive', clock.now, 10), clock.now);
    await first.health.tick(clock.now);
    if (minute === 30) t.deepEqual(names(), ['alive', 'retired'], 'silent, not yet forgotten');
  }
  t.deepEqual(names(), ['alive']);
  t.deepEqual(brief(first.events), ['retired silent SILENT FIRING', 'retired silent SILENT RESOLVED']);
  t.deepEqual(brief(await first.health.alerts({ active: true })), []);
  t.is((await first.health.alerts({ service: 'retired' })).length, 1, 'its alert history stays');
  await first.live.save(first.health.takeLatest());
  await first.health.close();
  first.live.close();
  first.db.close();

  const again = await start();
  t.deepEqual(again.health.services(clock.now).map((s) => s.service), ['alive'], 'not brought back by the saved live state');
  t.false(await again.health.forget('nope'));
  t.true(await again.health.forget('alive'));
  t.deepEqual(again.health.services(clock.now), []);
  // A message brings a forgotten service back.
  clock.now += S;
  again.health.observe(msg('alive', clock.now, 10), clock.now);
  t.deepEqual(again.health.services(clock.now).map((s) => s.service), ['alive']);
  await again.health.close();
  again.live.close();
  again.db.close();
});
