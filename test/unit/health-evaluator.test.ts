/**
 * The rules engine against a controllable clock: thresholds and `for`, hysteresis, silence with a learned
 * interval, forecasts against series with a known slope, per-service overrides, and alerts restored after a
 * restart. Time only moves when a test says so.
 */
import test from 'ava';
import type { HealthMessage } from '../../src/core/message.js';
import { type AlertRecord, Evaluator, formatRatePerHour } from '../../src/health/evaluator.js';
import { parseRulesConfig, type RulesConfig } from '../../src/health/rules.js';

/** 2026-11-27T10:00:00Z in epoch microseconds. */
const T0 = Date.UTC(2026, 10, 27, 10) * 1000;
const S = 1_000_000;
const at = (seconds: number) => T0 + seconds * S;

interface Values {
  cpu?: number;
  /** Used percent. */
  ram?: number;
  disk?: number;
  diskTotal?: number;
}

function msg(service: string, tsUs: number, v: Values = {}): HealthMessage {
  const diskTotal = v.diskTotal ?? 500;
  return {
    service,
    ts: tsUs,
    cpu: v.cpu ?? 20,
    ramTotal: 32,
    ramFree: 32 * (1 - (v.ram ?? 50) / 100),
    diskTotal,
    diskFree: diskTotal * (1 - (v.disk ?? 50) / 100),
  };
}

interface Event {
  t: number;
  alert: AlertRecord;
}

/**
 * Drives one service from `from` to `to` seconds: a message every `every` seconds (values from `f`, or none
 * when `f` returns null) and an evaluation every second. Returns the transitions with the second they happened.
 */
function drive(ev: Evaluator, service: string, from: number, to: number, f: (t: number) => Values | null, every = 1): Event[] {
  const out: Event[] = [];
  for (let t = from; t < to; t++) {
    if ((t - from) % every === 0) {
      const v = f(t);
      if (v) ev.observe(msg(service, at(t), v), at(t));
    }
    for (const alert of ev.evaluate(at(t))) out.push({ t, alert });
  }
  return out;
}

const summary = (events: Event[]) => events.map(({ t, alert }) => `${t} ${alert.state} ${alert.rule} ${alert.severity}`);
const engine = (config: RulesConfig = parseRulesConfig(undefined)) => {
  let n = 0;
  return new Evaluator(config, { startUs: T0, newId: () => `a${++n}` });
};

test('thresholds fire only after holding for 30 s, with the time the condition began', (t) => {
  const ev = engine();
  const series = (s: number) => ({ cpu: s < 10 ? 20 : 96.24 });
  const events = drive(ev, 'orders', 0, 60, series);
  // Past both levels at once: the CRIT inhibits the WARN, so one alert, not two.
  t.deepEqual(summary(events), ['40 FIRING cpu CRIT']);
  const crit = events[0].alert;
  t.is(crit.startedAt, at(10));
  t.is(crit.value, 96.24);
  t.is(crit.message, 'cpu 96.2% >= 95% for 30s');
  const [health] = ev.health(at(55));
  t.is(health.health, 'CRIT');
  t.deepEqual(health.reasons, ['cpu 96.2% >= 95% for 45s']);

  // Without inhibition both fire; the WARN on the same rule is implied by the CRIT, so its reason is not repeated.
  const both = engine(parseRulesConfig({ inhibit: false }));
  const all = drive(both, 'orders', 0, 60, series);
  t.deepEqual(summary(all), ['40 FIRING cpu CRIT', '40 FIRING cpu WARN']);
  t.is(all[1].alert.message, 'cpu 96.2% >= 85% for 30s');
  t.is(all[1].alert.startedAt, at(10));
  t.deepEqual(both.health(at(55))[0].reasons, ['cpu 96.2% >= 95% for 45s']);
});

test('inhibition: two services spiking past both levels give two alerts, not four; a rise through WARN to CRIT hands over', (t) => {
  const ev = engine();
  const events = [...drive(ev, 'a', 0, 40, () => ({ cpu: 99 })), ...drive(ev, 'b', 0, 40, () => ({ cpu: 99 }))];
  t.deepEqual(summary(events), ['30 FIRING cpu CRIT', '30 FIRING cpu CRIT']);
  t.deepEqual(
    ev.firing().map((a) => `${a.service} ${a.severity}`).sort(),
    ['a CRIT', 'b CRIT'],
  );
  t.deepEqual(
    ev.health(at(40)).map((h) => `${h.service} ${h.health}`),
    ['a CRIT', 'b CRIT'],
  );

  // 88 % for a minute (WARN), then 97 % (CRIT): the WARN resolves the moment the CRIT fires, never both at once.
  const rise = engine();
  const handover = drive(rise, 'c', 0, 140, (s) => ({ cpu: s < 60 ? 88 : 97 }));
  t.deepEqual(summary(handover), ['30 FIRING cpu WARN', '90 FIRING cpu CRIT', '90 RESOLVED cpu WARN']);
  t.is(handover[2].alert.id, handover[0].alert.id);
  t.is(handover[2].alert.endedAt, handover[1].alert.startedAt + 30 * S, 'resolved as the CRIT fired');
  t.deepEqual(
    rise.firing().map((a) => a.severity),
    ['CRIT'],
  );

  // Alerts of another rule are not inhibited: the CRIT only covers its own rule.
  const mixed = engine();
  t.deepEqual(summary(drive(mixed, 'd', 0, 40, () => ({ cpu: 99, ram: 88 }))), ['30 FIRING cpu CRIT', '30 FIRING ram WARN']);
});

test('inhibition: alerts restored from before it (WARN and CRIT firing together) give up the WARN at the first evaluation', (t) => {
  const firing = (id: string, severity: 'WARN' | 'CRIT'): AlertRecord => ({
    id,
    service: 'orders',
    rule: 'cpu',
    severity,
    state: 'FIRING',
    startedAt: at(-600),
    endedAt: null,
    value: 97,
    message: 'x',
  });
  const ev = engine();
  ev.restore([firing('old-warn', 'WARN'), firing('old-crit', 'CRIT')]);
  t.deepEqual(
    ev.evaluate(at(0)).map((a) => `${a.id} ${a.state}`),
    ['old-warn RESOLVED'],
  );
  t.deepEqual(
    ev.firing().map((a) => a.id),
    ['old-crit'],
  );

  const off = engine(parseRulesConfig({ inhibit: false }));
  off.restore([firing('old-warn', 'WARN'), firing('old-crit', 'CRIT')]);
  t.deepEqual(off.evaluate(at(0)), [], 'with inhibit: false both stay firing');
});

test('a dip before `for` has elapsed restarts the pending time', (t) => {
  const ev = engine();
  // Above 95 for 25 s, one message at 80, then above again: fires 30 s after the second rise, not the first.
  const events = drive(ev, 'orders', 0, 90, (s) => ({ cpu: s === 25 ? 80 : 97 }));
  t.deepEqual(summary(events), ['56 FIRING cpu CRIT']);
  t.is(events[0].alert.startedAt, at(26));
});

test('a firing alert resolves only below the hysteresis line, and only after 30 s there', (t) => {
  const ev = engine();
  const cpu = (s: number) => (s < 40 ? 97 : s < 100 ? 90 : s < 150 ? 89 : 50);
  const events = drive(ev, 'orders', 0, 200, (s) => ({ cpu: cpu(s) }));
  // 90 is exactly 5 below 95: inside the band, so CRIT holds; 89 clears CRIT (30 s later) but is still a WARN,
  // which was inhibited while the CRIT fired and fires from the moment the CRIT resolves.
  t.deepEqual(summary(events), ['30 FIRING cpu CRIT', '130 RESOLVED cpu CRIT', '130 FIRING cpu WARN', '180 RESOLVED cpu WARN']);
  t.is(events[1].alert.id, events[0].alert.id);
  t.is(events[1].alert.endedAt, at(130));
  t.is(events[1].alert.message, 'cpu 97% >= 95% for 30s', 'a resolved alert keeps why it fired');
  t.is(events[2].alert.startedAt, at(130), 'the WARN starts where the CRIT ended');
  t.is(events[2].alert.message, 'cpu 89% >= 85% for 2m', 'its message says how long the level has been passed');

  const mid = engine();
  drive(mid, 'orders', 0, 70, (s) => ({ cpu: cpu(s) }));
  t.deepEqual(mid.health(at(70))[0].reasons, ['cpu 90%, alerting at >= 95% for 70s; clears below 90%']);
});

test('a value oscillating around the line gives exactly one alert', (t) => {
  // Held above 95 long enough to fire, then 10 minutes swinging between 93 and 97 every 5 s, with dips
  // below the clear line (88) shorter than the 30 s it takes to clear, then a real recovery.
  const disk = (s: number) => {
    if (s < 40) return 96;
    if (s < 640) return Math.floor(s / 5) % 2 ? 93 : 97;
    if (s < 700) return Math.floor(s / 20) % 2 ? 88 : 96;
    return 70;
  };
  const ev = engine(parseRulesConfig({ defaults: { diskFull: { enabled: false } } }));
  const events = drive(ev, 'search', 0, 800, (s) => ({ disk: disk(s) })).filter((e) => e.alert.severity === 'CRIT');
  t.deepEqual(summary(events), ['30 FIRING disk CRIT', '730 RESOLVED disk CRIT']);

  // The same series without `for` and hysteresis flaps: the test above would notice their absence.
  const flappy = engine(parseRulesConfig({ defaults: { disk: { for: '0s', clear: 0, clearFor: '0s' }, diskFull: { enabled: false } } }));
  const flaps = drive(flappy, 'search', 0, 800, (s) => ({ disk: disk(s) })).filter((e) => e.alert.severity === 'CRIT' && e.alert.state === 'FIRING');
  t.true(flaps.length > 50, `expected flapping without hysteresis, got ${flaps.length} alerts`);
});

test('free disk in GB alerts when low, with GB in the message', (t) => {
  const ev = engine(parseRulesConfig({ defaults: { disk: { enabled: false }, diskFull: { enabled: false } } }));
  // 64 GB disk at 99 % used: 0.64 GB free, under the 1 GB CRIT line.
  const events = drive(ev, 'small', 0, 40, () => ({ disk: 99, diskTotal: 64 }));
  t.deepEqual(summary(events), ['30 FIRING diskFree CRIT']);
  t.is(events[0].alert.message, 'disk free 0.64 GB <= 1 GB for 30s');
});

test('SILENT after 3 x the learned interval, resolved when the service returns', (t) => {
  const ev = engine();
  // Every 5 s until t=120: the usual interval is 5 s, so SILENT after max(10 s, 15 s) without a message.
  let events = drive(ev, 'auth', 0, 200, (s) => (s <= 120 ? {} : null), 5);
  t.deepEqual(summary(events), ['136 FIRING silent SILENT']);
  const silent = events[0].alert;
  t.is(silent.message, 'no message for 16s (usual interval 5s)');
  t.is(silent.startedAt, at(120), 'silent since the last message');
  t.is(silent.value, 16);
  const [health] = ev.health(at(150));
  t.is(health.health, 'SILENT');
  t.deepEqual(health.reasons, ['no message for 30s (usual interval 5s)']);
  t.is(health.lastSeen, at(120));

  // Back at t=200: resolved at once.
  events = drive(ev, 'auth', 200, 201, () => ({}));
  t.deepEqual(summary(events), ['200 RESOLVED silent SILENT']);
  t.is(events[0].alert.id, silent.id);
  t.is(events[0].alert.endedAt, at(200));
  t.is(ev.health(at(200))[0].health, 'OK');
  // The 80 s outage must not have taught it an 80 s "usual" interval: the next silence is caught as fast.
  events = drive(ev, 'auth', 205, 400, (s) => (s <= 300 ? {} : null), 5);
  t.deepEqual(summary(events), ['316 FIRING silent SILENT']);
});

test('a fast service is SILENT after the 10 s minimum, and an unknown interval says so', (t) => {
  const ev = engine();
  const events = drive(ev, 'fast', 0, 60, (s) => (s <= 20 ? {} : null));
  t.deepEqual(summary(events), ['31 FIRING silent SILENT']);
  t.is(events[0].alert.message, 'no message for 11s (usual interval 1s)');

  const once = engine();
  const single = drive(once, 'once', 0, 30, (s) => (s === 0 ? {} : null));
  t.is(single[0].alert.message, 'no message for 11s (usual interval unknown)');
});

test('a silent service freezes its other alerts: stale values neither fire nor resolve them', (t) => {
  const ev = engine(parseRulesConfig({ defaults: { ramFull: { enabled: false }, diskFull: { enabled: false } } }));
  // CPU at 96 for 20 s then silence: pending, not firing; the stale 96 must not complete the 30 s alone.
  const events = drive(ev, 'auth', 0, 120, (s) => (s < 20 ? { cpu: 96 } : null));
  t.deepEqual(summary(events), ['30 FIRING silent SILENT']);
});

test('forecast: diskFullAt within a second of the exact answer for a series with a known slope', (t) => {
  const ev = engine();
  // 40 % + 0.5 %/min, every 10 s: 100 % exactly 120 min after the start.
  const disk = (s: number) => 40 + (0.5 * s) / 60;
  const fullAt = at(7200);
  let events = drive(ev, 'search', 0, 601, (s) => ({ disk: disk(s) }), 10);
  const [h] = ev.health(at(600));
  t.true(Math.abs(h.diskFullAt! - fullAt) < S, `diskFullAt off by ${(h.diskFullAt! - fullAt) / S}s`);
  t.is(h.ramFullAt, null, 'flat RAM has no forecast');
  // Needs 5 min of points before forecasting at all, then `for` (30 s): WARN at 330 s, full in 114 min.
  t.deepEqual(summary(events), ['330 FIRING diskFull WARN']);
  t.is(events[0].alert.message, 'disk full in 114m at current rate (+30%/h)');
  t.is(events[0].alert.value, 1.91);
  t.deepEqual(h.reasons, ['disk full in 110m at current rate (+30%/h)']);
  t.is(h.health, 'WARN');

  // Full within the hour from t=3600 s (70 %): CRIT 30 s later.
  events = drive(ev, 'search', 601, 3700, (s) => ({ disk: disk(s) }), 1);
  // At exactly t=3600 "full in 1h" is on the line, where rounding may fall either way: allow that one second.
  // The CRIT inhibits the firing WARN: it resolves in the same evaluation.
  t.is(events.length, 2);
  t.true(events[0].t === 3630 || events[0].t === 3631, `CRIT at ${events[0].t}`);
  t.deepEqual(
    summary(events).map((e) => e.slice(5)),
    ['FIRING diskFull CRIT', 'RESOLVED diskFull WARN'],
  );
  t.is(events[1].t, events[0].t);
  t.is(events[0].alert.message, 'disk full in 59m at current rate (+30%/h)');
});

test('forecast: RAM trend gives ramFullAt; noise, a falling series and a cleanup give none', (t) => {
  const ev = engine();
  // RAM 50 % + 2 %/min from t=0: full at 25 min.
  drive(ev, 'inventory', 0, 400, (s) => ({ ram: 50 + (2 * s) / 60 }));
  t.true(Math.abs(ev.health(at(400))[0].ramFullAt! - at(1500)) < S);

  // Alternating values have no trend worth the name (R² near 0), whatever their least-squares slope.
  drive(ev, 'noisy', 0, 900, (s) => ({ disk: 60 + (s % 2 ? 3 : -3) + s / 600 }));
  t.is(ev.health(at(900)).find((h) => h.service === 'noisy')!.diskFullAt, null);
  drive(ev, 'draining', 0, 900, (s) => ({ disk: 90 - s / 60 }));
  t.is(ev.health(at(900)).find((h) => h.service === 'draining')!.diskFullAt, null);

  // A cleanup (a drop of more than 10 points) starts the trend afresh: no forecast until 5 min of new points.
  const fill = (s: number) => (s < 600 ? 40 + s / 20 : 40 + (s - 600) / 20);
  drive(ev, 'cleaned', 0, 610, (s) => ({ disk: fill(s) }));
  t.is(ev.health(at(610)).find((h) => h.service === 'cleaned')!.diskFullAt, null);
  drive(ev, 'cleaned', 610, 901, (s) => ({ disk: fill(s) }));
  // 40 % at t=600 rising 3 %/min: full 20 min after 600 s.
  t.true(Math.abs(ev.health(at(901)).find((h) => h.service === 'cleaned')!.diskFullAt! - at(1800)) < S);
});

test('per-service overrides by glob; an exact name beats a glob', (t) => {
  const config = parseRulesConfig({
    defaults: { cpu: { crit: null } },
    services: { 'payments-*': { cpu: { warn: 90 } }, 'payments-eu': { cpu: { warn: 80, for: '5s' } }, '*-batch': { cpu: { enabled: false } } },
  });
  const ev = engine(config);
  const run = (service: string, cpu: number) => drive(ev, service, 0, 60, () => ({ cpu })).filter((e) => e.alert.service === service);
  const fired = (service: string, cpu: number) => summary(run(service, cpu)).map((s) => s.replace(/^\d+ /, ''));
  t.deepEqual(fired('orders', 88), ['FIRING cpu WARN']);
  t.deepEqual(fired('payments-us', 88), [], 'payments-* raises WARN to 90');
  t.deepEqual(fired('payments-us2', 91), ['FIRING cpu WARN']);
  t.deepEqual(summary(run('payments-eu', 81)), ['5 FIRING cpu WARN'], 'the exact name wins over payments-*, with its own `for`');
  t.deepEqual(fired('nightly-batch', 99), []);
  t.deepEqual(fired('orders-2', 99), ['FIRING cpu WARN'], 'crit: null removes the CRIT level');
});

test('restored alerts are not re-fired; they resolve once fresh data clears them', (t) => {
  const restored: AlertRecord[] = [
    { id: 'old-crit', service: 'orders', rule: 'cpu', severity: 'CRIT', state: 'FIRING', startedAt: at(-600), endedAt: null, value: 97, message: 'cpu 97% >= 95% for 30s' },
    { id: 'old-silent', service: 'auth', rule: 'silent', severity: 'SILENT', state: 'FIRING', startedAt: at(-300), endedAt: null, value: 12, message: 'no message for 12s' },
    { id: 'old-gone', service: 'orders', rule: 'cpu', severity: 'WARN', state: 'FIRING', startedAt: at(-600), endedAt: null, value: 90, message: 'x' },
  ];
  const ev = new Evaluator(parseRulesConfig({ defaults: { cpu: { warn: null } } }), { startUs: T0, newId: () => 'new' });
  ev.restore(restored);
  t.deepEqual(ev.firing().map((a) => a.id).sort(), ['old-crit', 'old-gone', 'old-silent']);
  // The WARN level no longer exists in the rules: resolved at the first evaluation. Nothing is fired.
  t.deepEqual(
    ev.evaluate(at(0)).map((a) => `${a.id} ${a.state}`),
    ['old-gone RESOLVED'],
  );
  // Still hot after the restart: stays firing under its old id, with no new alert despite `for` elapsing.
  const hot = drive(ev, 'orders', 0, 60, () => ({ cpu: 97 }));
  t.deepEqual(hot, []);
  // The silent service comes back; the cpu one cools down and clears after 30 s below 90.
  const back: Event[] = [];
  for (let s = 60; s < 100; s++) {
    ev.observe(msg('auth', at(s)), at(s));
    ev.observe(msg('orders', at(s), { cpu: s < 61 ? 97 : 50 }), at(s));
    for (const alert of ev.evaluate(at(s))) back.push({ t: s, alert });
  }
  t.deepEqual(
    back.map((e) => `${e.t} ${e.alert.id} ${e.alert.state}`),
    ['60 old-silent RESOLVED', '91 old-crit RESOLVED'],
  );
  t.is(back[1].alert.startedAt, at(-600), 'the original start is kept');
});

test('takeChanged: each service a message reached since the last call, once, with its newest message by event time and its last arrival', (t) => {
  const ev = new Evaluator(parseRulesConfig(undefined), { startUs: T0 });
  const seeded = msg('seeded', at(-100), { cpu: 1 });
  ev.seed(seeded, at(-90));
  t.deepEqual(ev.takeChanged(), [], 'a seed is already saved');
  const newest = msg('a', at(10), { cpu: 70 });
  ev.observe(newest, at(11));
  ev.observe(msg('a', at(5), { cpu: 99 }), at(12)); // late: older event, newer arrival
  ev.observe(msg('b', at(3)), at(4));
  ev.observe(msg('seeded', at(-200)), at(13)); // older than the seed: the seed stays the newest
  const changed = ev.takeChanged();
  t.deepEqual(
    changed.map((c) => [c.msg.service, c.msg.cpu, c.msg.ts, c.recv]),
    [
      ['a', 70, at(10), at(12)],
      ['b', 20, at(3), at(4)],
      ['seeded', 1, at(-100), at(13)],
    ],
  );
  t.is(changed[0].msg, newest);
  t.deepEqual(ev.takeChanged(), []);
  ev.observe(msg('b', at(20), { cpu: 5 }), at(21));
  t.deepEqual(
    ev.takeChanged().map((c) => [c.msg.service, c.msg.cpu]),
    [['b', 5]],
  );
});

test('forecast text: the fill rate at three significant digits, whole from 100 %/h on', (t) => {
  t.is(formatRatePerHour(304.23456), '+304%/h');
  t.is(formatRatePerHour(2.14749), '+2.15%/h');
  t.is(formatRatePerHour(30.0000000004), '+30%/h');
  t.is(formatRatePerHour(-0.50001), '-0.5%/h');
  t.is(formatRatePerHour(1234.5), '+1235%/h');
});
