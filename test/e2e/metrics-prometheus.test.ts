/**
 * GET /metrics as Prometheus meets it: the real daemon fed over real UDP, scraped by Debian's real `prometheus`
 * (started here on a free port, with the bearer token in its scrape config), read back with PromQL over its
 * HTTP API and compared with the daemon's GraphQL answers; `promtool check metrics` on the body; the
 * per-service cap; the token and Host checks; GET /; and the Grafana dashboard, whose every metric must be
 * one the daemon exports and whose every query must run on the real Prometheus.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ConfigError, loadConfig } from '../../src/config/settings.js';
import { type Daemon, gql, killedAfterwards, message, sendUdp, waitFor } from '../helpers/daemon.js';
import { startServedBinary } from '../helpers/served-binary.js';

const PROMETHEUS = '/usr/bin/prometheus';
const PROMTOOL = '/usr/bin/promtool';
/** Grafana's reference to the dashboard's datasource variable (a literal `${...}`, not a template). */
const DATASOURCE_UID = ['$', '{datasource}'].join('');
const DASHBOARD = join(import.meta.dirname, '..', '..', 'deploy', 'grafana-dashboard.json');
const start = killedAfterwards(test);

// Where Prometheus is not installed the test says so; in CI it runs, and fails on the missing binary.
const installed = existsSync(PROMETHEUS) && existsSync(PROMTOOL);
const prometheusTest = installed || process.env.CI ? test : test.skip;
if (!installed && !process.env.CI) console.warn(`metrics-prometheus: the Prometheus tests are skipped: ${PROMETHEUS} or ${PROMTOOL} is missing (apt-get install prometheus)`);

const READ = `r${randomBytes(20).toString('hex')}`;
const WRITE = `w${randomBytes(20).toString('hex')}`;

interface Fleet {
  d: Daemon;
  root: string;
}

/** A service name with what the exposition format must escape (and what PromQL must quote). */
const ODD = 'm-odd "quoted" back\\slash {x=1} ü';

/** One daemon with API tokens, fed three services, an accepted course-format message and four rejections. */
const fleet: Promise<Fleet> = (async () => {
  const root = await mkdtemp(join(tmpdir(), 'hms-metrics-'));
  await writeFile(join(root, 'tokens'), `read ${READ}\nwrite ${WRITE}\n`, { mode: 0o600 });
  const d = await start(['--batch-schedule', 'off', '--api-tokens', join(root, 'tokens'), '--compat', 'course'], join(root, 'data'));
  const now = Date.now() / 1000 - 5;
  await sendUdp(d.udpPort, [
    message('m-alpha', now, 42.5, 4, 30),
    message('m-beta', now, 7.25, 12, 80.5),
    message(ODD, now, 1.5),
    "{'serviceName': 'm-course', 'Timestamp': " + now + ", 'CPU': 0.5, 'RAM': {'Total': 16, 'Free': 8}, 'Disk': {'Total': 100, 'Free': 50}}",
    'not json',
    '{"unclosed": ',
    JSON.stringify({ serviceName: 'm-schema' }),
    message('m-range', now, 150),
  ]);
  await waitFor('8 datagrams counted', async () => (await pipeline(d)).received >= 8);
  return { d, root };
})();
test.after.always(async () => {
  const { root } = await fleet.catch(() => ({ root: '' }));
  if (root) await rm(root, { recursive: true, force: true });
});

type Pipeline = { received: number; accepted: number; rejected: number; rejectedBy: { reason: string; count: number }[]; compat: { reason: string; count: number }[] };
const pipeline = async (d: Daemon) =>
  (await gql<{ pipeline: Pipeline }>(d.url, '{ pipeline { received accepted rejected rejectedBy { reason count } compat { reason count } } }', {}, READ)).pipeline;
type Service = { service: string; health: string; lastSeen: string; cpu: number; ramUsed: number; diskUsed: number; diskFreeGb: number };
const services = async (d: Daemon) =>
  (await gql<{ services: Service[] }>(d.url, '{ services { service health lastSeen cpu ramUsed diskUsed diskFreeGb } }', {}, READ)).services;

/** One GET over node:http (fetch may not set Host): status, headers and body. */
function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET') {
  return new Promise<{ status: number; type: string; body: string; challenge?: string }>((resolve, reject) =>
    request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body, challenge: res.headers['www-authenticate'] }));
    })
      .on('error', reject)
      .end(),
  );
}
const scrape = async (d: Daemon, token = READ) => {
  const r = await get(d.httpPort, '/metrics', { authorization: `Bearer ${token}` });
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}: ${r.body}`);
  return r.body;
};

/** The samples of an exposition text: `name{labels}` to value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    out.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return out;
}
/** The names a scrape exports: its samples' (`_bucket` too) and its families' (also those without a sample now). */
const exportedNames = (text: string) =>
  new Set([...[...samples(text).keys()].map((k) => k.replace(/\{.*$/, '')), ...[...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1])]);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Runs promtool check metrics on a body: its exit code and everything it printed. */
function promtoolCheck(body: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(PROMTOOL, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    p.stdout.on('data', (c) => (output += c));
    p.stderr.on('data', (c) => (output += c));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, output }));
    p.stdin.on('error', () => {}); // promtool gone early (EPIPE): its exit code and output say why
    p.stdin.end(body);
  });
}

interface Prometheus {
  proc: ChildProcess;
  /** Runs an instant PromQL query: the API's status and result vector. */
  query(expr: string): Promise<{ status: string; error?: string; result: { metric: Record<string, string>; value: [number, string] }[] }>;
}

/** Debian's prometheus on a free port, with a config scraping the daemon every second with the read token. */
async function startPrometheus(t: { teardown(fn: () => Promise<void>): void }, root: string, target: number): Promise<Prometheus> {
  const port = await freePort();
  const config = join(root, 'prometheus.yml');
  await writeFile(join(root, 'token'), READ, { mode: 0o600 });
  await writeFile(
    config,
    [
      'global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      '  - job_name: hms',
      '    authorization:',
      `      credentials_file: ${join(root, 'token')}`,
      '    static_configs:',
      `      - targets: ['127.0.0.1:${target}']`,
      '',
    ].join('\n'),
  );
  const base = `http://127.0.0.1:${port}`;
  const proc = await startServedBinary(
    t,
    PROMETHEUS,
    [`--config.file=${config}`, `--web.listen-address=127.0.0.1:${port}`, `--storage.tsdb.path=${join(root, 'tsdb')}`, '--log.level=warn'],
    `${base}/-/ready`,
  );
  return {
    proc,
    async query(expr) {
      const res = await fetch(`${base}/api/v1/query?${new URLSearchParams({ query: expr })}`);
      const body = (await res.json()) as { status: string; error?: string; data?: { result: [] } };
      return { status: body.status, error: body.error, result: body.data?.result ?? [] };
    },
  };
}

/** Polls a PromQL query until its one sample has the value wanted; returns the value seen last. */
async function settled(p: Prometheus, expr: string, want: number): Promise<number> {
  let seen = Number.NaN;
  await waitFor(`${expr} == ${want} in Prometheus`, async () => {
    const r = await p.query(expr);
    if (r.result.length === 1) seen = Number(r.result[0].value[1]);
    return seen === want;
  }).catch(() => undefined);
  return seen;
}

prometheusTest('a real Prometheus scrapes /metrics with the bearer token; PromQL gives what GraphQL reports; promtool lints the body clean', async (t) => {
  t.true(installed, `Prometheus is required in CI: ${PROMETHEUS} and ${PROMTOOL} (apt-get install prometheus)`);
  const { d, root } = await fleet;
  const body = await scrape(d);
  const lint = await promtoolCheck(body);
  t.is(lint.code, 0, lint.output);
  t.is(lint.output, '', 'promtool has nothing to say');

  const p = await startPrometheus(t, root, d.httpPort);
  t.is(await settled(p, 'up{job="hms"}', 1), 1, 'the scrape with the token succeeds');
  const [pipe, health] = [await pipeline(d), await services(d)];
  const alpha = health.find((s) => s.service === 'm-alpha')!;
  t.is(alpha.cpu, 42.5);
  t.is(await settled(p, 'hms_service_cpu_percent{service="m-alpha"}', alpha.cpu), 42.5);
  t.is(await settled(p, 'hms_service_cpu_percent{service="m-beta"}', 7.25), 7.25);
  t.is(await settled(p, 'hms_service_cpu_percent{service="m-course"}', 50), 50, 'the course format rescaled from 0.5');
  t.is(await settled(p, 'hms_service_ram_used_percent{service="m-alpha"}', alpha.ramUsed), 75);
  t.is(await settled(p, 'hms_service_disk_used_percent{service="m-beta"}', 19.5), 19.5);
  t.is(await settled(p, 'hms_service_disk_free_bytes{service="m-beta"}', 80.5 * 2 ** 30), 80.5 * 2 ** 30);
  t.is(await settled(p, 'hms_service_health{service="m-alpha"}', 0), 0);
  t.is(alpha.health, 'OK');
  const lastSeen = await waitFor('last seen in Prometheus', async () => (await p.query('hms_service_last_seen_timestamp_seconds{service="m-alpha"}')).result[0]);
  t.true(Math.abs(Number(lastSeen.value[1]) - Date.parse(alpha.lastSeen) / 1000) < 0.001, `last seen ${lastSeen.value[1]} vs ${alpha.lastSeen}`);
  t.is(await settled(p, `hms_service_cpu_percent{service=${JSON.stringify(ODD)}}`, 1.5), 1.5, 'a name with quotes, a backslash and braces');
  t.is(await settled(p, 'hms_services', 4), health.length);

  const rejected = Object.fromEntries(pipe.rejectedBy.map((r) => [r.reason, r.count]));
  t.like(rejected, { malformed_json: 2, schema: 1, range: 1 });
  t.is(pipe.accepted, 4);
  t.is(await settled(p, 'hms_ingest_received_total', pipe.received), 8);
  t.is(await settled(p, 'hms_ingest_accepted_total', pipe.accepted), 4);
  t.is(await settled(p, 'hms_ingest_rejected_total{reason="malformed_json"}', rejected.malformed_json), 2);
  t.is(await settled(p, 'sum(hms_ingest_rejected_total)', pipe.rejected), 4);
  t.is(await settled(p, 'hms_ingest_rejected_total{reason="too_large"}', 0), 0, 'every reason is a series from the start');
  t.is(await settled(p, 'hms_ingest_compat_total{mode="course"}', 1), 1);
  t.is(await settled(p, 'hms_job_duration_seconds_count{task="batch"}', 0), 0, '--batch-schedule off: no runs');
  const speedRuns = await p.query('hms_job_duration_seconds_count{task="speed"}');
  t.true(Number(speedRuns.result[0]?.value[1]) > 0, 'the speed tick has run and been timed');
  t.deepEqual((await p.query('hms_watermark_age_seconds')).result, [], 'no watermark before the first batch run: no sample, not 0');

  // Every query of the Grafana dashboard runs on this Prometheus, with Grafana's variables filled in.
  const grafana = (expr: string) => expr.replaceAll('$__rate_interval', '1m').replaceAll('$instance', '.*').replaceAll('$service', '.*');
  for (const expr of dashboardQueries(JSON.parse(await readFile(DASHBOARD, 'utf8')))) {
    const r = await p.query(grafana(expr.replace(/^label_values\((.*), \w+\)$/, '$1')));
    t.is(r.status, 'success', `${expr}: ${r.error}`);
  }
  const fleetCpu = await p.query(grafana('hms_service_cpu_percent{instance=~"$instance", service=~"$service"}'));
  t.deepEqual(fleetCpu.result.map((r) => r.metric.service).sort(), ['m-alpha', 'm-beta', 'm-course', ODD]);
});

test('/metrics needs a token when --api-tokens is set (any role), obeys the Host check and takes GET only; GET / names the endpoints', async (t) => {
  const { d } = await fleet;
  const none = await get(d.httpPort, '/metrics');
  t.is(none.status, 401);
  t.regex(none.challenge ?? '', /^Bearer/);
  t.regex(none.body, /UNAUTHENTICATED/);
  t.is((await get(d.httpPort, '/metrics', { authorization: `Bearer ${'x'.repeat(41)}` })).status, 401, 'a token the file lacks');
  t.is((await get(d.httpPort, '/metrics', { authorization: READ })).status, 401, 'a token without "Bearer"');
  const read = await get(d.httpPort, '/metrics', { authorization: `Bearer ${READ}` });
  t.is(read.status, 200);
  t.is(read.type, 'text/plain; version=0.0.4; charset=utf-8');
  t.is(samples(read.body).get('hms_ingest_received_total'), 8);
  t.is((await get(d.httpPort, '/metrics', { authorization: `Bearer ${WRITE}` })).status, 200);
  const foreign = await get(d.httpPort, '/metrics', { authorization: `Bearer ${READ}`, host: 'evil.example' });
  t.is(foreign.status, 421, 'DNS rebinding: a foreign Host is refused before the token is looked at');
  t.is((await get(d.httpPort, '/metrics', { authorization: `Bearer ${READ}`, host: `localhost:${d.httpPort}` })).status, 200);
  t.is((await get(d.httpPort, '/metrics', { authorization: `Bearer ${READ}` }, 'POST')).status, 405);

  const index = await get(d.httpPort, '/');
  t.is(index.status, 200);
  t.is(index.type, 'text/html; charset=utf-8');
  for (const path of ['/graphql', '/metrics', '/health', '/ready']) t.true(index.body.includes(`href="${path}"`), path);
  t.is((await get(d.httpPort, '/', { host: 'evil.example' })).status, 421);
  t.is((await get(d.httpPort, '/', {}, 'DELETE')).status, 405);
  t.is((await get(d.httpPort, '/nothing-here')).status, 404);
  t.false(d.logs.some((l) => l.includes(READ)), 'no token in the log');
});

test('--metrics-max-services: the first services by name are exported, the rest counted in hms_services_omitted', async (t) => {
  const d = await start(['--batch-schedule', 'off', '--metrics-max-services', '3']);
  const now = Date.now() / 1000 - 5;
  const names = ['cap-e', 'cap-a', 'cap-d', 'cap-b', 'cap-c'];
  await sendUdp(
    d.udpPort,
    names.map((s, i) => message(s, now, 10 + i)),
  );
  await waitFor('5 services', async () => (await gql<{ services: unknown[] }>(d.url, '{ services { service } }')).services.length === 5);
  const body = await scrape(d);
  const s = samples(body);
  t.is(s.get('hms_services'), 5);
  t.is(s.get('hms_services_omitted'), 2);
  for (const metric of ['cpu_percent', 'ram_used_percent', 'disk_used_percent', 'disk_free_bytes', 'health', 'last_seen_timestamp_seconds']) {
    const exported = [...s.keys()].filter((k) => k.startsWith(`hms_service_${metric}{`)).map((k) => /service="([^"]+)"/.exec(k)![1]);
    t.deepEqual(exported, ['cap-a', 'cap-b', 'cap-c'], metric);
  }
  t.is(s.get('hms_service_cpu_percent{service="cap-a"}'), 11);
  t.is(s.get('hms_service_cpu_percent{service="cap-c"}'), 14);
  if (installed) t.is((await promtoolCheck(body)).code, 0);

  // The worst values of the setting: not a count, or negative, names the setting; 0 exports no service.
  for (const bad of ['-1', 'lots', '2.5']) {
    t.throws(() => loadConfig({ flags: { metricsMaxServices: bad }, env: {} }), { instanceOf: ConfigError, message: /--metrics-max-services \/ HMS_METRICS_MAX_SERVICES/ });
  }
  t.is(loadConfig({ flags: {}, env: {} }).metricsMaxServices, 1000);
});

/** Every PromQL expression of the dashboard: its panels' targets and its query variables. */
function dashboardQueries(dashboard: Dashboard): string[] {
  const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
  const variables = dashboard.templating.list.filter((v) => v.type === 'query').map((v) => (typeof v.query === 'string' ? v.query : v.query.query));
  return [...panels.flatMap((p) => (p.targets ?? []).map((x) => x.expr)), ...variables];
}

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: { expr: string; datasource?: { uid: string } }[];
  panels?: Panel[];
}
interface Dashboard {
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: string | { query: string } }[] };
}

test('the Grafana dashboard uses only metrics the daemon exports, through its Prometheus datasource variable', async (t) => {
  const { d } = await fleet;
  const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as Dashboard;
  t.true(dashboard.schemaVersion >= 36, `schemaVersion ${dashboard.schemaVersion}`);
  t.like(
    dashboard.templating.list.find((v) => v.type === 'datasource'),
    { name: 'datasource', query: 'prometheus' },
  );
  const panels = dashboard.panels.filter((p) => p.type !== 'row');
  t.is(new Set(dashboard.panels.map((p) => p.id)).size, dashboard.panels.length, 'panel ids are unique');
  for (const p of panels) {
    t.deepEqual(p.datasource, { type: 'prometheus', uid: DATASOURCE_UID }, p.title);
    t.true((p.targets ?? []).length > 0, `${p.title} has a query`);
    for (const x of p.targets ?? []) t.is(x.datasource?.uid, DATASOURCE_UID, p.title);
  }

  const exported = exportedNames(await scrape(d));
  const used = new Set(dashboardQueries(dashboard).flatMap((e) => e.match(/\bhms_[a-z0-9_]+/g) ?? []));
  for (const name of used) t.true(exported.has(name), `the dashboard uses ${name}, which /metrics does not export`);
  // The panels the issue asks for are there.
  for (const name of ['hms_ingest_rejected_total', 'hms_udp_kernel_drops_total', 'hms_backlog_segments', 'hms_job_duration_seconds_bucket', 'hms_service_cpu_percent', 'hms_service_ram_used_percent', 'hms_service_disk_used_percent']) {
    t.true(used.has(name), `the dashboard shows ${name}`);
  }
  t.true(dashboardQueries(dashboard).some((e) => /rate\(hms_ingest_rejected_total\{[^}]*\}\[\$__rate_interval\]\)/.test(e)), 'ingest by reason via rate()');
});
