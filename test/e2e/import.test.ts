/**
 * `hms import` against the real daemon: straight into a stopped daemon's data dir, and through a running one
 * over GraphQL. Each format (JSON lines, the seed's CSV, the seed client's objects), rejects with their line,
 * exact answers afterwards, and the same answers across the next batch run.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { CLI, gql, killedAfterwards, waitFor } from '../helpers/daemon.js';
import { Tmux } from '../helpers/tmux.js';

const start = killedAfterwards(test);
const run = promisify(execFile);

/** Runs `hms import ...`; resolves with its exit code and output whatever the code. */
async function hmsImport(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', CLI, 'import', ...args], { maxBuffer: 16 << 20 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const STATS = `query($from: DateTime!, $to: DateTime!) { stats(from: $from, to: $to) { service count batchCount realtimeCount
  cpu { mean min max peakAt } ram { mean max } disk { mean max } } }`;
type Stats = { stats: { service: string; count: number; batchCount: number; realtimeCount: number; cpu: { mean: number; min: number; max: number; peakAt: string } }[] };
const WINDOW = { from: new Date(Date.now() - 40 * 86_400_000).toISOString(), to: new Date(Date.now() + 3_600_000).toISOString() };
const withoutLayers = (s: Stats['stats']) => s.map(({ batchCount: _b, realtimeCount: _r, ...rest }) => rest);

interface Row {
  service: string;
  tsS: number;
  cpu: number;
}

/** `n` messages over the last six hours, seconds with a fraction (microseconds survive the trip). */
function rows(n: number, services: string[], seed: number): Row[] {
  const now = Math.floor(Date.now() / 1000) - 120;
  return Array.from({ length: n }, (_, i) => ({
    service: services[i % services.length],
    tsS: now - 6 * 3600 + ((i * 7919 + seed) % (6 * 3600)) + 0.123456,
    cpu: ((i * 37 + seed) % 10000) / 100,
  }));
}

const wire = (r: Row) => JSON.stringify({ serviceName: r.service, Timestamp: r.tsS, CPU: r.cpu, RAM: { Total: 16, Free: 4 }, Disk: { Total: 100, Free: 25 } });

/** What stats must say of a service: its count and CPU extremes, from the rows themselves. */
function expected(all: Row[], service: string) {
  const mine = all.filter((r) => r.service === service);
  const max = Math.max(...mine.map((r) => r.cpu));
  const peak = Math.min(...mine.filter((r) => r.cpu === max).map((r) => r.tsS));
  return { count: mine.length, min: Math.min(...mine.map((r) => r.cpu)), max, peakAt: new Date(Math.round(peak * 1e6) / 1e3).toISOString() };
}

function check(t: import('ava').ExecutionContext, stats: Stats['stats'], all: Row[]) {
  const services = [...new Set(all.map((r) => r.service))].sort();
  t.deepEqual(
    stats.map((s) => s.service),
    services,
  );
  for (const s of stats) {
    const want = expected(all, s.service);
    t.is(s.count, want.count, s.service);
    t.is(s.cpu.min, want.min, s.service);
    t.is(s.cpu.max, want.max, s.service);
    t.is(s.cpu.peakAt.replace(/\.(\d{3})(\d*)Z$/, '.$1Z'), want.peakAt, s.service);
  }
}

test('import --data-dir: JSON lines, CSV and the seed client objects, rejects with their lines; exact answers at start-up and across a batch run', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hms-import-'));
  const dataDir = join(dir, 'data');
  const jsonl = rows(3000, ['orders', 'payments', 'search'], 1);
  const csv = rows(1000, ['orders', 'inventory'], 2);
  const seed = rows(200, ['legacy'], 3);
  const old = (Date.now() - 40 * 86_400_000) / 1000;
  // JSON lines with three bad records: lines 11 (not JSON), 502 (CPU 150) and 1503 (past --retention-raw).
  const jsonLines = jsonl.map(wire);
  jsonLines.splice(10, 0, '{"serviceName": "orders", "Timestamp": oops}');
  jsonLines.splice(501, 0, wire({ service: 'orders', tsS: jsonl[0].tsS, cpu: 150 }));
  jsonLines.splice(1502, 0, wire({ service: 'orders', tsS: old, cpu: 5 }));
  await writeFile(join(dir, 'a.jsonl'), `${jsonLines.join('\n')}\n`);
  // The seed's CSV, with its header, and one row short of a column on line 7.
  const csvLines = ['service,timestamp,CPU,total_ram,free_ram,total_disk,free_disk', ...csv.map((r) => `${r.service},${r.tsS},${r.cpu},16,4,100,25`)];
  csvLines.splice(6, 0, 'orders,1764273214,5,16,4,100');
  await writeFile(join(dir, 'b.csv'), `${csvLines.join('\n')}\n`);
  // The seed client's own objects: multi-line, trailing commas, nanoseconds, CPU a 0-1 fraction.
  const seedText = seed
    .map((r) => `{"serviceName": "${r.service}", "Timestamp": ${Math.round(r.tsS * 1e6)}000, "CPU": ${r.cpu / 100},\n "RAM": {"Total": 16, "Free": 4},\n "Disk": {"Total": 100, "Free": 25},\n},`)
    .join('\n');
  await writeFile(join(dir, 'c.txt'), seedText);

  const a = await hmsImport(['--data-dir', dataDir, join(dir, 'a.jsonl')]);
  t.is(a.code, 0, a.stderr);
  t.regex(a.stderr, /a\.jsonl:11: malformed_json: /);
  t.regex(a.stderr, /a\.jsonl:502: range: CPU 150 outside 0-100/);
  t.regex(a.stderr, /a\.jsonl:1503: expired: Timestamp .* is older than --retention-raw \(30d\)/);
  t.regex(a.stderr, /3,003 records from 1 file in [\d.]+ s \([\d,]+\/s\): 3,000 imported, 3 rejected \(malformed_json 1, range 1, expired 1\)/);
  const b = await hmsImport(['--data-dir', dataDir, '--format', 'csv', join(dir, 'b.csv')]);
  t.is(b.code, 0, b.stderr);
  t.regex(b.stderr, /b\.csv:7: schema: 6 fields; the CSV has 7/);
  t.regex(b.stderr, /1,000 imported, 1 rejected/);
  const c = await hmsImport(['--data-dir', dataDir, '--compat', 'seed', join(dir, 'c.txt')]);
  t.is(c.code, 0, c.stderr);
  t.regex(c.stderr, /200 imported, 0 rejected/);

  const d = await start(['--batch-schedule', 'off', '--compact-schedule', 'off'], dataDir);
  // The imports left the realtime views complete: the daemon's start-up read no file again.
  t.true(d.logs.some((l) => l.includes('saved progress') && l.includes('"files":0')), d.logs.join('\n'));
  // Refused while the daemon holds the data dir.
  const refused = await hmsImport(['--data-dir', dataDir, join(dir, 'a.jsonl')]);
  t.is(refused.code, 2);
  t.regex(refused.stderr, /in use by another process/);

  const all = [...jsonl, ...csv, ...seed];
  const before = (await gql<Stats>(d.url, STATS, WINDOW)).stats;
  check(t, before, all);
  t.true(before.every((s) => s.realtimeCount === s.count), 'not absorbed yet: all realtime');
  const run = await gql<{ runBatch: { status: string } }>(d.url, 'mutation { runBatch { status } }');
  t.is(run.runBatch.status, 'SUCCEEDED');
  const after = (await gql<Stats>(d.url, STATS, WINDOW)).stats;
  t.deepEqual(withoutLayers(after), withoutLayers(before));
  t.true(after.every((s) => s.batchCount > 0));
  await d.stop();
});

test('import --url: through the running daemon, exact at once and across the next batch run', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hms-import-url-'));
  const d = await start(['--batch-schedule', 'off']);
  const data = rows(2500, ['api', 'db'], 9);
  const lines = ['service,timestamp,CPU,total_ram,free_ram,total_disk,free_disk', ...data.map((r) => `${r.service},${new Date(r.tsS * 1000).toISOString()},${r.cpu},16,4,100,25`)];
  lines.push('db,not a time,5,16,4,100,25');
  await writeFile(join(dir, 'x.csv'), `${lines.join('\n')}\n`);
  const r = await hmsImport(['--url', d.url, '--format', 'csv', join(dir, 'x.csv')]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /x\.csv:2502: schema: Timestamp string must be ISO-8601/);
  t.regex(r.stderr, /2,501 records .*: 2,500 imported, 1 rejected \(schema 1\)/);
  // ISO times to the millisecond: the rows as the CSV carries them.
  const sent = data.map((x) => ({ ...x, tsS: Math.floor(x.tsS * 1000) / 1000 }));
  const before = await waitFor('the imported messages in the realtime views', async () => {
    const s = (await gql<Stats>(d.url, STATS, WINDOW)).stats;
    return s.reduce((n, x) => n + x.count, 0) === 2500 && s;
  });
  check(t, before, sent);
  const p = await gql<{ pipeline: { imported: number; received: number } }>(d.url, '{ pipeline { imported received } }');
  t.deepEqual(p.pipeline, { imported: 2500, received: 0 });
  t.is((await gql<{ runBatch: { status: string } }>(d.url, 'mutation { runBatch { status } }')).runBatch.status, 'SUCCEEDED');
  t.deepEqual(withoutLayers((await gql<Stats>(d.url, STATS, WINDOW)).stats), withoutLayers(before));
  // A daemon that is not there: the import says so and fails.
  await d.stop();
  const gone = await hmsImport(['--url', d.url, '--format', 'csv', join(dir, 'x.csv')]);
  t.is(gone.code, 1);
  t.regex(gone.stderr, /cannot reach the daemon/);
});

test('on a terminal the import draws a progress bar with its rate, and ends with the summary', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hms-import-tty-'));
  await writeFile(join(dir, 'h.jsonl'), `${rows(100_000, ['a', 'b'], 5).map(wire).join('\n')}\n`);
  const term = new Tmux('import');
  t.teardown(() => term.kill());
  await term.start(`${process.execPath} --import tsx ${CLI} import --data-dir ${join(dir, 'data')} ${join(dir, 'h.jsonl')}`, 120, 10);
  const screen = await term.waitFor(/EXIT:\d+/);
  t.regex(screen, /EXIT:0/);
  t.regex(screen, /hms import: \[#{30}\] 100% 100,000 records, [\d,]+\/s/);
  t.regex(screen, /100,000 records from 1 file in [\d.]+ s \([\d,]+\/s\): 100,000 imported, 0 rejected/);
});
