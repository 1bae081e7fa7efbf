import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { type Daemon, gql, message, sendUdp, startDaemon, waitFor } from '../helpers/daemon.js';
import { startWebhookServer } from '../helpers/webhook-server.js';

// The real daemon, real UDP, a real webhook receiver: a service that stops sending turns SILENT and
// resolves when it returns; notifications retry; a silence suppresses them and shows in `alerts`.

const daemons: Daemon[] = [];
test.after.always(async () => {
  await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
});

type Svc = { service: string; health: string; reasons: string[] };
type AlertRow = { service: string; rule: string; severity: string; state: string; silenced: boolean; endedAt: string | null };
const SERVICES = '{ services { service health reasons } }';
const ALERTS = 'query($s: String) { alerts(service: $s) { service rule severity state silenced endedAt } }';

test('a silent service turns SILENT, fires a webhook (after retries) and resolves when it returns; silences suppress', async (t) => {
  const hook = await startWebhookServer();
  t.teardown(() => hook.close());
  hook.respondWith(500, 503); // the first two deliveries fail: the notifier must retry
  const rules = join(tmpdir(), `hms-rules-${process.pid}.json`);
  await writeFile(rules, JSON.stringify({ defaults: { silent: { after: '2s', intervals: 3 } }, services: { 'muted-*': { silent: { after: '2s' } } } }));
  const d = await startDaemon(['--batch-schedule', 'off', '--rules', rules, '--webhook-url', hook.url, '--webhook-group-wait', '500ms']);
  daemons.push(d);

  // A silence for one service, set before anything happens to it.
  const until = new Date(Date.now() + 3_600_000).toISOString();
  const { silence } = await gql<{ silence: { id: string; service: string } }>(
    d.url,
    'mutation($u: DateTime!) { silence(service: "muted-1", until: $u, reason: "maintenance") { id service } }',
    { u: until },
  );
  t.is(silence.service, 'muted-1');

  const beat = () => sendUdp(d.udpPort, [message('heart', Date.now() / 1000, 20), message('muted-1', Date.now() / 1000, 20)]);
  for (let i = 0; i < 4; i++) {
    await beat();
    await new Promise((r) => setTimeout(r, 300));
  }
  const ok = await waitFor('both OK', async () => {
    const s = (await gql<{ services: Svc[] }>(d.url, SERVICES)).services;
    return s.length === 2 && s.every((x) => x.health === 'OK') && s;
  });
  t.is(ok.length, 2);

  // Both stop sending.
  const silent = await waitFor(
    'SILENT',
    async () => {
      const s = (await gql<{ services: Svc[] }>(d.url, SERVICES)).services;
      return s.every((x) => x.health === 'SILENT') && s;
    },
  );
  t.regex(silent.find((x) => x.service === 'heart')!.reasons.join(' '), /no message for \d+s/);
  const firing = await waitFor('the alert', async () => {
    const a = (await gql<{ alerts: AlertRow[] }>(d.url, ALERTS, { s: 'heart' })).alerts;
    return a.find((x) => x.rule === 'silent' && x.state === 'FIRING');
  });
  t.is(firing.severity, 'SILENT');
  const muted = (await gql<{ alerts: AlertRow[] }>(d.url, ALERTS, { s: 'muted-1' })).alerts.find((x) => x.rule === 'silent');
  t.true(muted?.silenced, 'the silenced service has its alert, marked silenced');

  // Two failures, then delivered: the third POST carries the firing alert, and never the silenced one.
  const posts = await hook.waitFor(3, 120_000);
  t.deepEqual(
    posts.slice(0, 3).map((p) => p.status),
    [500, 503, 200],
  );
  const delivered = posts[2].body;
  t.is(delivered.version, '4');
  t.is(delivered.status, 'firing');
  t.true(delivered.alerts.some((a: { labels: { service: string; alertname: string } }) => a.labels.service === 'heart' && a.labels.alertname === 'silent'));
  t.false(JSON.stringify(posts.map((p) => p.body)).includes('muted-1'));

  // It comes back: the alert resolves and a resolved notification goes out.
  await beat();
  const back = await waitFor('resolved', async () => {
    const a = (await gql<{ alerts: AlertRow[] }>(d.url, ALERTS, { s: 'heart' })).alerts;
    return a.find((x) => x.rule === 'silent' && x.state === 'RESOLVED');
  });
  t.truthy(back.endedAt);
  const svc = (await gql<{ services: Svc[] }>(d.url, SERVICES)).services.find((x) => x.service === 'heart');
  t.is(svc?.health, 'OK');
  const resolvedPost = await waitFor('resolved POST', async () => hook.received.find((p) => p.body?.status === 'resolved'));
  t.false(JSON.stringify(resolvedPost.body).includes('muted-1'));
});

test('bad rules stop the daemon at start with the key path named', async (t) => {
  const rules = join(tmpdir(), `hms-bad-rules-${process.pid}.json`);
  await writeFile(rules, JSON.stringify({ defaults: { cpu: { warn: 'high' } } }));
  const err = await t.throwsAsync(startDaemon(['--rules', rules]));
  t.regex(err!.message, /rules\.defaults\.cpu\.warn/);
});
