/**
 * Alertmanager as a receiver, all real: Debian's `prometheus-alertmanager` started here on a free port (no
 * clustering, a temporary storage path, a null receiver), the daemon pushing to it, health from real UDP
 * datagrams. The daemon starts while Alertmanager is still down: it keeps working and logs the problem once;
 * once Alertmanager is up the alert appears in its `GET /api/v2/alerts` with the right labels, one alert per
 * breach (the CRIT inhibits the WARN), and when the service recovers the alert is resolved there.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { gql, killedAfterwards, message, sendUdp, waitFor } from '../helpers/daemon.js';
import { startServedBinary } from '../helpers/served-binary.js';
import { freePort } from '../helpers/sshd.js';

const ALERTMANAGER = '/usr/bin/prometheus-alertmanager';
const start = killedAfterwards(test);

// Where Alertmanager is not installed the test says so; in CI it runs, and fails on the missing binary.
const installed = existsSync(ALERTMANAGER);
const alertmanagerTest = installed || process.env.CI ? test : test.skip;
if (!installed && !process.env.CI) console.warn(`alertmanager: the Alertmanager test is skipped: ${ALERTMANAGER} is missing (apt-get install prometheus-alertmanager)`);

/** An alert as `GET /api/v2/alerts` lists it. */
interface ListedAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  status: { state: string; inhibitedBy: string[]; silencedBy: string[] };
}

/** Debian's Alertmanager on `port`, with clustering off and every alert routed to a receiver that does nothing. */
async function startAlertmanager(t: { teardown(fn: () => Promise<void>): void }, port: number) {
  const root = await mkdtemp(join(tmpdir(), 'hms-alertmanager-'));
  const config = join(root, 'alertmanager.yml');
  await writeFile(config, ['route:', '  receiver: "null"', 'receivers:', '  - name: "null"', ''].join('\n'));
  const base = `http://127.0.0.1:${port}`;
  await startServedBinary(
    t,
    ALERTMANAGER,
    [`--config.file=${config}`, `--storage.path=${join(root, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=', '--log.level=warn'],
    `${base}/-/ready`,
  );
  return {
    alerts: async (): Promise<ListedAlert[]> => (await (await fetch(`${base}/api/v2/alerts`)).json()) as ListedAlert[],
    /** One sample of Alertmanager's own metrics, e.g. `alertmanager_alerts_received_total{status="resolved",version="v2"}`. */
    async metric(series: string): Promise<number> {
      const line = (await (await fetch(`${base}/metrics`)).text()).split('\n').find((l) => l.startsWith(`${series} `));
      return line ? Number(line.slice(series.length + 1)) : Number.NaN;
    },
  };
}

alertmanagerTest('alerts reach a real Alertmanager with their labels, one per breach, and resolve there; while it is down the daemon carries on and logs it once', async (t) => {
  t.true(installed, `Alertmanager is required in CI: ${ALERTMANAGER} (apt-get install prometheus-alertmanager)`);
  if (!installed) return;
  const port = await freePort();
  const rules = join(await mkdtemp(join(tmpdir(), 'hms-am-rules-')), 'rules.json');
  // Fire at once, resolve 1 s after recovering; no SILENT alerts when the test stops sending.
  await writeFile(rules, JSON.stringify({ defaults: { cpu: { for: '0s', clearFor: '1s' }, silent: { enabled: false } } }));
  const d = await start(['--batch-schedule', 'off', '--rules', rules, '--alertmanager-url', `http://127.0.0.1:${port}`]);
  const send = (cpu: number) => sendUdp(d.udpPort, [message('payments', Date.now() / 1000, cpu), message('orders', Date.now() / 1000, 20)]);

  // Alertmanager is not there yet. Both levels passed at once: one alert, the CRIT.
  await send(99);
  type Row = { service: string; rule: string; severity: string; state: string };
  const firing = await waitFor('the alert in the daemon', async () => {
    const rows = (await gql<{ alerts: Row[] }>(d.url, '{ alerts(active: true) { service rule severity state } }')).alerts;
    return rows.length > 0 && rows;
  });
  t.deepEqual(firing, [{ service: 'payments', rule: 'cpu', severity: 'CRIT', state: 'FIRING' }]);
  const failed = (line: string) => line.includes('"Alertmanager push failed');
  const failure = JSON.parse(await waitFor('the failed push logged', async () => d.logs.find(failed)));
  t.is(failure.url, `http://127.0.0.1:${port}/api/v2/alerts`);
  t.is(failure.err, 'fetch failed: ECONNREFUSED');
  // Retries go on (after 1 s, then 2 s, ...) while ingest and queries carry on.
  for (let i = 0; i < 5; i++) {
    await send(99);
    await new Promise((r) => setTimeout(r, 1000));
  }
  const { services } = await gql<{ services: { service: string; health: string }[] }>(d.url, '{ services { service health } }');
  t.deepEqual(
    services.map((s) => `${s.service} ${s.health}`),
    ['orders OK', 'payments CRIT'],
  );

  // Alertmanager comes up on the URL the daemon was given: the retried push delivers.
  const am = await startAlertmanager(t, port);
  const listed = await waitFor('the alert in Alertmanager', async () => {
    const alerts = await am.alerts();
    return alerts.length > 0 && alerts;
  });
  t.is(listed.length, 1, 'one alert: the WARN is inhibited by the CRIT');
  const [alert] = listed;
  t.deepEqual(alert.labels, { alertname: 'cpu', service: 'payments', severity: 'CRIT' });
  t.regex(alert.annotations.summary, /^payments: cpu 99% >= 95% for \d+s$/);
  t.like(alert.status, { state: 'active', inhibitedBy: [], silencedBy: [] });
  // Pushed with an end 4 resend intervals (1m) ahead: Alertmanager would resolve it if the daemon died.
  const endsInMs = Date.parse(alert.endsAt) - Date.now();
  t.true(endsInMs > 60_000 && endsInMs <= 240_000, `endsAt ${alert.endsAt}`);
  t.is(d.logs.filter(failed).length, 1, `one line for the problem, not one per attempt:\n${d.logs.filter(failed).join('\n')}`);
  await waitFor('the recovery logged', async () => d.logs.some((l) => l.includes('"Alertmanager accepts alerts again"')));

  // The service recovers: resolved in the daemon, and pushed to Alertmanager with its end time, which drops the
  // alert from its list (0.25 lists only alerts whose endsAt is still ahead, whatever the filter).
  await send(20);
  await new Promise((r) => setTimeout(r, 1500));
  await send(20);
  const resolved = await waitFor('resolved in the daemon', async () => {
    const rows = (await gql<{ alerts: (Row & { endedAt: string | null })[] }>(d.url, '{ alerts { service rule severity state endedAt } }')).alerts;
    return rows.find((r) => r.state === 'RESOLVED') && rows;
  });
  t.is(resolved.length, 1);
  await waitFor('the alert gone from Alertmanager', async () => (await am.alerts()).length === 0);
  t.true((await am.metric('alertmanager_alerts_received_total{status="resolved",version="v2"}')) >= 1, 'a resolved alert was received, not timed out');
  t.true((await am.metric('alertmanager_alerts_received_total{status="firing",version="v2"}')) >= 1);
  t.is(await am.metric('alertmanager_alerts_invalid_total{version="v2"}'), 0, 'nothing we pushed was refused');

  // The daemon's /metrics counts the same story: failed pushes while it was down, then the fire and the resolve.
  const scrape = await (await fetch(d.url.replace(/\/graphql$/, '/metrics'))).text();
  const sample = (outcome: string) => Number(new RegExp(`^hms_alert_notifications_total\\{(?=[^}]*receiver="alertmanager")(?=[^}]*outcome="${outcome}")[^}]*\\} (\\S+)$`, 'm').exec(scrape)?.[1]);
  t.true(sample('failed') >= 2, `retries while Alertmanager was down:\n${scrape}`);
  t.true(sample('sent') >= 2, 'the firing alert and its resolve');
  t.regex(scrape, /^hms_alertmanager_failing 0$/m);
});
