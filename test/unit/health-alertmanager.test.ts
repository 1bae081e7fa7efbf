/** The Alertmanager settings and payload: URLs checked at start, the endpoint under a prefix, `endsAt` rules. */
import test from 'ava';
import { loadConfig } from '../../src/config/settings.js';
import { microsToIso } from '../../src/core/time.js';
import { alertsEndpoint, postableAlert } from '../../src/health/alertmanager.js';
import type { AlertRecord } from '../../src/health/evaluator.js';

const load = (flags: Record<string, string>) => loadConfig({ flags, env: {} });
const T0 = Date.UTC(2026, 10, 27, 10) * 1000;
const S = 1_000_000;

test('--alertmanager-url takes one or several http(s) URLs and refuses anything else, naming the setting', (t) => {
  t.is(load({}).alertmanagerUrl, '');
  t.is(load({ alertmanagerUrl: 'http://am1:9093, https://am2.example/am' }).alertmanagerUrl, 'http://am1:9093, https://am2.example/am');
  for (const [bad, item] of [
    ['notaurl', 'notaurl'],
    ['http://am1:9093,ftp://am2', 'ftp://am2'],
    ['http://am1:9093,,http://am2:9093', ''],
    [' , ', ''],
  ]) {
    const err = t.throws(() => load({ alertmanagerUrl: bad }), undefined, bad);
    t.is(
      err?.message,
      `--alertmanager-url / HMS_ALERTMANAGER_URL / "alertmanagerUrl": expected an http(s) URL such as http://alertmanager:9093 (several: comma-separated), got ${JSON.stringify(item)}`,
    );
  }
  t.is(load({ alertmanagerResendInterval: '15s' }).alertmanagerResendInterval, 15 * S);
  t.throws(() => load({ alertmanagerResendInterval: '0s' }), { message: /^--alertmanager-resend-interval .*must be longer than 0s/ });
  t.throws(() => load({ alertmanagerResendInterval: 'often' }), { message: /^--alertmanager-resend-interval .*expected a duration/ });
});

test('the alerts endpoint keeps a path prefix and takes a full endpoint as it is', (t) => {
  t.is(alertsEndpoint('http://am:9093'), 'http://am:9093/api/v2/alerts');
  t.is(alertsEndpoint('http://am:9093/'), 'http://am:9093/api/v2/alerts');
  t.is(alertsEndpoint('https://ops.example/alertmanager/'), 'https://ops.example/alertmanager/api/v2/alerts');
  t.is(alertsEndpoint('http://am:9093/api/v2/alerts'), 'http://am:9093/api/v2/alerts');
});

test('endsAt: ahead by the horizon while firing, the real end once resolved, never before the start', (t) => {
  const alert: AlertRecord = { id: 'x', service: 'orders', rule: 'disk', severity: 'WARN', state: 'FIRING', startedAt: T0, endedAt: null, value: 90, message: 'disk 90% >= 85% for 30s' };
  const now = T0 + 100 * S;
  t.deepEqual(postableAlert(alert, now, 240 * S), {
    labels: { alertname: 'disk', service: 'orders', severity: 'WARN' },
    annotations: { summary: 'orders: disk 90% >= 85% for 30s' },
    startsAt: microsToIso(T0),
    endsAt: microsToIso(now + 240 * S),
    generatorURL: '',
  });
  t.is(postableAlert({ ...alert, state: 'RESOLVED', endedAt: T0 + 50 * S }, now, 240 * S).endsAt, microsToIso(T0 + 50 * S));
  // A clock stepped back: Alertmanager would refuse an end before the start (400), so it is just after it.
  t.is(postableAlert({ ...alert, state: 'RESOLVED', endedAt: T0 - 5 * S }, now, 240 * S).endsAt, microsToIso(T0 + 1000));
  t.is(postableAlert(alert, T0 - 600 * S, 240 * S).endsAt, microsToIso(T0 + 1000));
});
