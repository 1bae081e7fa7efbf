/**
 * `hms agent` through the real process against the real daemon: its values against /proc and statfs of this
 * host read at the same time, signed datagrams, the daemon away and back, a name that does not resolve, a disk
 * path that disappears. Each problem must be one log line when it starts and one when it clears.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { readFileSync, statfsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import test from 'ava';
import { parseMeminfo } from '../../src/agent/host.js';
import { ALL_TIME, CLI, gql, killedAfterwards, message, sendUdp, waitFor } from '../helpers/daemon.js';

const startDaemon = killedAfterwards(test);
const GIB = 1024 ** 3;
const round3 = (x: number) => Math.round(x * 1000) / 1000;
const STATS = 'query($from: DateTime!, $to: DateTime!) { stats(from: $from, to: $to) { service count batchCount } }';

interface LogLine {
  level: number;
  msg: string;
  problem?: string;
  code?: string;
  sent?: number;
  unsent?: number;
}

interface Agent {
  proc: ChildProcess;
  lines: LogLine[];
  /** stderr lines that are not JSON log lines (config errors). */
  text: string[];
  /** Warnings and their clearing, for one problem kind. */
  problemLines(kind: string): { started: LogLine[]; cleared: LogLine[] };
  stop(): Promise<number | null>;
}

const agents: Agent[] = [];
test.after.always(() => {
  for (const a of agents) a.proc.kill('SIGKILL');
});

function tryJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

function startAgent(args: string[]): Agent {
  const proc = spawn(process.execPath, ['--import', 'tsx', CLI, 'agent', '--interval', '1s', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const lines: LogLine[] = [];
  const text: string[] = [];
  createInterface({ input: proc.stderr! }).on('line', (line) => {
    // Parsed here, in an event handler: a line that only looks like JSON must not become an uncaught exception.
    const parsed = line.startsWith('{') ? tryJson(line) : undefined;
    if (parsed) lines.push(parsed as LogLine);
    else text.push(line);
  });
  const agent: Agent = {
    proc,
    lines,
    text,
    problemLines: (kind) => ({
      started: lines.filter((l) => l.problem === kind && l.level === 40),
      cleared: lines.filter((l) => l.problem === kind && l.level === 30 && l.msg.startsWith('cleared: ')),
    }),
    async stop() {
      proc.kill('SIGTERM');
      return exited;
    },
  };
  agents.push(agent);
  return agent;
}

type ServiceRow = { service: string; cpu: number; ramUsed: number; diskUsed: number; ramFreeGb: number; diskFreeGb: number };
const services = async (url: string) => (await gql<{ services: ServiceRow[] }>(url, '{ services { service cpu ramUsed diskUsed ramFreeGb diskFreeGb } }')).services;
const serviceOf = (url: string, name: string) => waitFor(`service ${name} in the daemon`, async () => (await services(url)).find((s) => s.service === name));

/** The daemon's own record lines for a service, as written to its write-ahead segments. */
async function recordsOf(dataDir: string, service: string): Promise<Record<string, number>[]> {
  const dir = join(dataDir, 'segments');
  const out = [];
  for (const f of await readdir(dir)) {
    for (const line of (await readFile(join(dir, f), 'utf8')).split('\n')) {
      if (line.includes(`"service":${JSON.stringify(service)}`)) out.push(JSON.parse(line));
    }
  }
  return out;
}

/** A UDP port nobody listens on (bound, read and released). */
async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise<void>((resolve) => s.close(resolve));
  return port;
}

test("the daemon's answer for the agent's service is this host's /proc/meminfo and statfs, read at the same time", async (t) => {
  const d = await startDaemon(['--batch-schedule', 'off']);
  const name = `host-${randomBytes(3).toString('hex')}`;
  const agent = startAgent(['--service', name, '--target', `127.0.0.1:${d.udpPort}`]);
  await serviceOf(d.url, name);
  // Two datagrams in, so the one answered is a delta over a whole interval.
  await waitFor('a second report', async () => (await recordsOf(d.dataDir, name)).length >= 2);
  // This host, read by the test just before and just after the query: the daemon's answer is within a tolerance
  // of either read. Other processes move RAM and disk meanwhile; a few tries allow for a jump between the two.
  const host = () => {
    const mem = parseMeminfo(readFileSync('/proc/meminfo', 'latin1'));
    const fs = statfsSync('/');
    const disk = fs.blocks * fs.bsize;
    return { ramUsed: ((mem.total - mem.available) / mem.total) * 100, ramFreeGb: mem.available / GIB, diskUsed: ((disk - fs.bavail * fs.bsize) / disk) * 100, diskFreeGb: (fs.bavail * fs.bsize) / GIB };
  };
  const tolerance = { ramUsed: 3, ramFreeGb: 0.75, diskUsed: 1, diskFreeGb: 0.5 };
  const misses: string[] = [];
  for (let attempt = 0; attempt < 5; attempt++) {
    const before = host();
    const row = (await services(d.url)).find((s) => s.service === name)!;
    const after = host();
    t.true(row.cpu >= 0 && row.cpu <= 100, `cpu ${row.cpu}`);
    const off = (Object.keys(tolerance) as (keyof typeof tolerance)[]).filter((k) => Math.min(Math.abs(row[k] - before[k]), Math.abs(row[k] - after[k])) >= tolerance[k]);
    if (off.length === 0) break;
    misses.push(off.map((k) => `${k} ${row[k]} vs ${before[k]}..${after[k]}`).join(', '));
  }
  t.true(misses.length < 5, `the daemon's answer is not this host's: ${misses.join('; ')}`);
  const mem = parseMeminfo(readFileSync('/proc/meminfo', 'latin1'));
  const fs = statfsSync('/');
  const diskTotal = fs.blocks * fs.bsize;
  // The totals do not move: what the daemon stored is this host's, exact to the wire format's rounding (GiB to 3 places).
  for (const r of await recordsOf(d.dataDir, name)) {
    t.is(r.ram_total, round3(mem.total / GIB));
    t.is(r.disk_total, round3(diskTotal / GIB));
    t.true(r.cpu >= 0 && r.cpu <= 100);
  }
  t.is(await agent.stop(), 0, 'SIGTERM: exit 0');
  t.deepEqual(
    agent.lines.filter((l) => l.level >= 40),
    [],
    'no problem reported',
  );
  t.true(agent.lines.at(-1)!.msg === 'agent stopped' && agent.lines.at(-1)!.unsent === 0);
});

test('signed: a daemon with --auth-mode required accepts every report, and a key that may not send for the service is refused at start', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hms-agent-keys-'));
  const keys = join(dir, 'keys.json');
  const secret = () => randomBytes(32).toString('hex');
  await writeFile(keys, JSON.stringify({ keys: [{ id: 'hosts', secret: secret(), services: ['host-*'] }] }), { mode: 0o600 });
  const d = await startDaemon(['--batch-schedule', 'off', '--auth-mode', 'required', '--auth-keys', keys]);
  const agent = startAgent(['--service', 'host-signed', '--target', `127.0.0.1:${d.udpPort}`, '--auth-keys', keys, '--key-id', 'hosts']);
  await serviceOf(d.url, 'host-signed');
  const { pipeline } = await gql<{ pipeline: { accepted: number; acceptedSigned: number; rejected: number } }>(d.url, '{ pipeline { accepted acceptedSigned rejected } }');
  t.true(pipeline.accepted >= 1);
  t.is(pipeline.acceptedSigned, pipeline.accepted, 'every accepted datagram was signed');
  t.is(pipeline.rejected, 0);
  t.is(await agent.stop(), 0);

  const refused = startAgent(['--service', 'db-1', '--target', `127.0.0.1:${d.udpPort}`, '--auth-keys', keys, '--key-id', 'hosts']);
  t.is(await new Promise((resolve) => refused.proc.once('exit', resolve)), 2);
  t.regex(refused.text.join('\n'), /--key-id \/ HMS_AGENT_KEY_ID \/ "keyId": key hosts may send only for host-\*, not for "db-1"/);
});

test('the daemon away, then started: the agent keeps going, one line when the problem starts and one when it clears', async (t) => {
  const port = await freeUdpPort();
  const agent = startAgent(['--service', 'host-patient', '--target', `127.0.0.1:${port}`, '--log-level', 'debug']);
  await waitFor('the refusal logged', async () => agent.problemLines('send').started.length > 0);
  // Several more reports refused while nobody listens: still the one line.
  const reportsBefore = agent.lines.filter((l) => l.msg === 'report').length;
  await waitFor('three more reports', async () => agent.lines.filter((l) => l.msg === 'report').length >= reportsBefore + 3);
  t.is(agent.problemLines('send').started.length, 1);
  t.is(agent.problemLines('send').started[0].code, 'ECONNREFUSED');
  const d = await startDaemon(['--batch-schedule', 'off', '--udp-port', String(port)]);
  await serviceOf(d.url, 'host-patient');
  await waitFor('the problem cleared', async () => agent.problemLines('send').cleared.length > 0);
  const { started, cleared } = agent.problemLines('send');
  t.is(started.length, 1, 'one line when it started');
  t.is(cleared.length, 1, 'one line when it cleared');
  t.is(await agent.stop(), 0);
});

test('a target that does not resolve: one problem line however many reports, retried, no crash, SIGTERM exits 0', async (t) => {
  const agent = startAgent(['--service', 'host-lost', '--target', 'no-such-host.invalid:3500', '--log-level', 'debug']);
  await waitFor('four reports not sent', async () => agent.lines.filter((l) => l.msg === 'report' && (l.unsent ?? 0) >= 4).length > 0);
  const { started, cleared } = agent.problemLines('resolve');
  t.is(started.length, 1, JSON.stringify(agent.lines));
  t.regex(started[0].msg, /cannot resolve no-such-host\.invalid \(--target\): (ENOTFOUND|EAI_AGAIN)/);
  t.is(cleared.length, 0);
  t.is(agent.proc.exitCode, null, 'still running');
  t.is(await agent.stop(), 0);
  t.true(agent.lines.at(-1)!.msg === 'agent stopped' && agent.lines.at(-1)!.sent === 0);
});

test('a --disk path that disappears: no report without a disk, one line, and reports again when it is back', async (t) => {
  const rx = createSocket('udp4');
  const received: string[] = [];
  rx.on('message', (m) => received.push(m.toString()));
  await new Promise<void>((resolve) => rx.bind(0, '127.0.0.1', resolve));
  t.teardown(() => rx.close());
  const disk = await mkdtemp(join(tmpdir(), 'hms-agent-disk-'));
  const agent = startAgent(['--service', 'host-disk', '--target', `127.0.0.1:${rx.address().port}`, '--disk', disk]);
  await waitFor('a report', async () => received.length > 0);
  await rmdir(disk);
  await waitFor('the disk problem logged', async () => agent.problemLines('read').started.length > 0);
  const whileGone = received.length;
  // Three intervals pass with the path gone (each agent interval is 1 s; the reports say nothing, so wait on a clock).
  await new Promise((r) => setTimeout(r, 3500));
  t.true(received.length <= whileGone + 1, 'at most the report already on its way');
  t.is(agent.problemLines('read').started.length, 1);
  t.regex(agent.problemLines('read').started[0].msg, /cannot read this host \(--disk .*\): ENOENT/);
  await mkdir(disk);
  await waitFor('reports again', async () => received.length > whileGone + 1);
  await waitFor('the problem cleared', async () => agent.problemLines('read').cleared.length > 0);
  t.is(agent.problemLines('read').cleared.length, 1);
  t.is(JSON.parse(received.at(-1)!).serviceName, 'host-disk');
  t.is(await agent.stop(), 0);
});

test('settings are checked at start, naming the setting: exit 2', async (t) => {
  const cases: [string[], RegExp][] = [
    [[], /--service \/ HMS_AGENT_SERVICE \/ "service": required/],
    [['--service', 'a\u202eb'], /--service .*invisible, formatting or unassigned character \(U\+202E\)/],
    [['--service', 'x'.repeat(201)], /--service .*longer than 200/],
    [['--service', 'h', '--interval', '100ms'], /--interval .*expected 1s to 1h, got 0\.1 s/],
    [['--service', 'h', '--interval', '2h'], /--interval .*expected 1s to 1h/],
    [['--service', 'h', '--target', 'monitor'], /--target .*expected HOST:PORT/],
    [['--service', 'h', '--disk', '/no/such/path'], /--disk .*ENOENT/],
    [['--service', 'h', '--key-id', 'k'], /--auth-keys .*--auth-keys and --key-id go together/],
    [['--service', 'h', '--servce', 'h'], /unknown option --servce; did you mean --service\?/],
  ];
  for (const [args, message] of cases) {
    const a = startAgent(args);
    const code = await new Promise((resolve) => a.proc.once('exit', resolve));
    t.is(code, 2, args.join(' '));
    t.regex(a.text.join('\n'), message, args.join(' '));
  }
});

test('Deploying, restore: master/ alone in an empty data dir answers every message, and a full batch rebuilds the batch views', async (t) => {
  const d = await startDaemon(['--batch-schedule', 'off', '--segment-max-age', '1s', '--ship-schedule', '* * * * * *']);
  const now = Math.floor(Date.now() / 1000);
  await sendUdp(d.udpPort, Array.from({ length: 300 }, (_, i) => message(`restore-${i % 3}`, now - 900 + i, i % 100)));
  const masterLines = async (dir: string) => {
    const files = await readdir(join(dir, 'master'), { recursive: true }).catch(() => []);
    let n = 0;
    for (const f of files.filter((f) => f.endsWith('.jsonl'))) n += (await readFile(join(dir, 'master', f), 'utf8')).split('\n').filter(Boolean).length;
    return n;
  };
  await waitFor('every message shipped to master/', async () => (await masterLines(d.dataDir)) === 300);
  await d.stop();
  const restored = await mkdtemp(join(tmpdir(), 'hms-restored-'));
  await cp(join(d.dataDir, 'master'), join(restored, 'master'), { recursive: true });
  const d2 = await startDaemon(['--batch-schedule', 'off'], restored);
  const counts = async () => {
    const { stats } = await gql<{ stats: { service: string; count: number; batchCount: number }[] }>(d2.url, STATS, ALL_TIME);
    return stats.map((s) => [s.service, s.count, s.batchCount]);
  };
  t.deepEqual(await counts(), [
    ['restore-0', 100, 0],
    ['restore-1', 100, 0],
    ['restore-2', 100, 0],
  ]);
  const { runBatch } = await gql<{ runBatch: { status: string } }>(d2.url, 'mutation { runBatch(full: true) { status } }');
  t.is(runBatch.status, 'SUCCEEDED');
  t.deepEqual(await counts(), [
    ['restore-0', 100, 100],
    ['restore-1', 100, 100],
    ['restore-2', 100, 100],
  ]);
});
