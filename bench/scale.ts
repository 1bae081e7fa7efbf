/**
 * `npm run bench scale`: the data-at-scale numbers (issue 13), printed, not asserted.
 * - A dataset made here: 100 services of the mock fleet, 30 days, a message every 26 s each (about 10M), as JSON
 *   lines in the wire format, imported with `hms import --data-dir` (rate, peak RSS).
 * - The daemon on that data dir: start-up time, full and incremental batch time with peak RSS, bytes a message
 *   of the master dataset before and after compaction and of the whole data dir, `stats` over 30 days for all
 *   services (p50/p99 over GraphQL), and where a `stats` call's time goes (in process).
 * - VictoriaMetrics (when installed) given the same messages: bytes a message, and the same question's latency.
 * - 1,000 services: the same `stats` over views as a 1,000-service fleet leaves them at a message a minute or
 *   more (minute views for 7 days, hour and day views for 30), written straight into the views with SQL.
 * Runs from dist/ (npm run build first), in a temporary directory it removes at the end.
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { sample } from '../mock/behaviours.js';
import { Database } from '../src/serving/database.js';
import { QueryService } from '../src/serving/query-service.js';
import { AGG_COLUMNS } from '../src/serving/view-sql.js';
import { gql, startDaemon } from '../test/helpers/daemon.js';

const DIST_CLI = join(import.meta.dirname, '..', 'dist', 'src', 'cli.js');
const HMS = [process.execPath, DIST_CLI];
const SERVICES = Number(process.env.HMS_BENCH_SERVICES ?? 100);
const DAYS = Number(process.env.HMS_BENCH_DAYS ?? 30);
const EVERY_S = 26;
const DAY_US = 86_400e6;
// The dataset spans 30 days up to now; the raw tier keeps a little more, so none of it expires while the bench runs.
const ENV = { ...process.env, HMS_RETENTION_RAW: `${DAYS + 5}d`, HMS_RETENTION_HOUR: `${DAYS + 60}d` };
const DAEMON_ARGS = ['--batch-schedule', 'off', '--compact-schedule', 'off', '--retention-schedule', 'off', '--retention-raw', `${DAYS + 5}d`, '--retention-hour', `${DAYS + 60}d`];

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;
const fmt = (n: number) => n.toLocaleString('en-US');

async function du(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) n += (await stat(join(e.parentPath, e.name))).size;
  return n;
}

/** The dataset: what the mock fleet's services would have sent, ending ten minutes ago. */
async function generate(file: string): Promise<number> {
  const end = Math.floor(Date.now() / 1000) - 600;
  const start = end - DAYS * 86_400;
  const out = createWriteStream(file);
  let n = 0;
  let chunk = '';
  for (let t = 0; start + t < end; t += EVERY_S) {
    for (let s = 0; s < SERVICES; s++) {
      const offset = t + (s % EVERY_S);
      const r = sample(s, offset, 1);
      if (!r || start + offset >= end) continue;
      chunk += `${JSON.stringify({ ...r, Timestamp: start + offset + ((s * 7919) % 1000) / 1000 })}\n`;
      n++;
    }
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(out, 'finish');
  return n;
}

/** Runs a command to its end, keeping its peak RSS (VmHWM) as last seen. */
async function runMeasured(args: string[]): Promise<{ ms: number; peakMb: number; stderr: string }> {
  const t0 = performance.now();
  const p = spawn(HMS[0], [...HMS.slice(1), ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: ENV });
  let stderr = '';
  p.stderr.on('data', (d) => {
    stderr += d;
  });
  let peakMb = 0;
  const timer = setInterval(async () => {
    const status = await readFile(`/proc/${p.pid}/status`, 'utf8').catch(() => '');
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    peakMb = Math.max(peakMb, kb / 1024);
  }, 250);
  const [code] = await once(p, 'exit');
  clearInterval(timer);
  if (code !== 0) throw new Error(`hms ${args.join(' ')} exited with ${code}: ${stderr}`);
  return { ms: performance.now() - t0, peakMb, stderr };
}

const peakRss = async (pid: number) => Number(/VmHWM:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

/** p50 and p99 of `n` sequential calls, ms. */
async function latency(n: number, call: () => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < 10; i++) await call();
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await call();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(n * 0.5)], p99: times[Math.min(n - 1, Math.floor(n * 0.99))] };
}

const STATS = 'query($from: DateTime!, $to: DateTime!) { stats(from: $from, to: $to) { service count cpu { mean max peakAt } ram { mean max } disk { mean max } resolution } }';

async function statsLatency(url: string, services: number): Promise<string> {
  const vars = () => ({ from: new Date(Date.now() - DAYS * 86_400_000).toISOString(), to: new Date().toISOString() });
  const first = await gql<{ stats: unknown[] }>(url, STATS, vars());
  if (first.stats.length !== services) throw new Error(`stats answered ${first.stats.length} services, not ${services}`);
  const { p50, p99 } = await latency(300, () => gql(url, STATS, vars()));
  return `p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`;
}

/** Where one `stats` call's time goes, in process on the data dir (the daemon stopped). */
async function breakdown(dataDir: string): Promise<void> {
  const db = await Database.open(join(dataDir, 'hms.duckdb'));
  const q = await QueryService.create(db);
  const from = Date.now() * 1000 - DAYS * DAY_US;
  const to = Date.now() * 1000;
  const snapshot = await latency(200, () => q.snapshot(async () => null));
  const stats = await latency(200, () => q.stats(from, to));
  const rows = await q.stats(from, to);
  const json = await latency(200, async () => JSON.stringify(rows));
  console.log(
    `in process: the snapshot alone (BEGIN, W and the horizons, COMMIT) p50 ${snapshot.p50.toFixed(2)} ms; stats() p50 ${stats.p50.toFixed(1)} / p99 ${stats.p99.toFixed(1)} ms; serialising its ${rows.length} rows p50 ${json.p50.toFixed(2)} ms`,
  );
  await q.close();
  db.close();
}

async function withDaemon<T>(dataDir: string, fn: (d: Awaited<ReturnType<typeof startDaemon>>, startMs: number) => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const d = await startDaemon(DAEMON_ARGS, dataDir, HMS);
  const startMs = performance.now() - t0;
  try {
    return await fn(d, startMs);
  } catch (err) {
    console.log(d.logs.filter((l) => /"level":(50|60)/.test(l)).join('\n'));
    throw err;
  } finally {
    await d.stop();
  }
}

type Run = { runBatch: { status: string; startedAt: string; finishedAt: string; records: number; error: string | null } };
const RUN = 'mutation($full: Boolean) { runBatch(full: $full) { status startedAt finishedAt records error } }';
const seconds = (r: Run['runBatch']) => (Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 1000;

async function hundred(root: string): Promise<void> {
  const file = join(root, 'history.jsonl');
  const dataDir = join(root, 'data');
  let t0 = performance.now();
  const n = await generate(file);
  console.log(`dataset: ${fmt(n)} messages, ${SERVICES} services, ${DAYS} days, one every ${EVERY_S} s each: ${mb((await stat(file)).size)} of JSON lines, made in ${((performance.now() - t0) / 1000).toFixed(0)} s`);

  const imp = await runMeasured(['import', '--data-dir', dataDir, file]);
  console.log(`import (hms import --data-dir): ${((n / imp.ms) * 1000).toFixed(0)} messages/s, ${(imp.ms / 1000).toFixed(1)} s, peak RSS ${imp.peakMb.toFixed(0)} MB`);
  console.log(`  ${imp.stderr.trim().split('\n').at(-1)}`);
  await victoriaMetrics(file, n, join(root, 'vm')).catch((err) => console.log(`VictoriaMetrics side by side: not run (${(err as Error).message})`));
  await rm(file);
  const master = join(dataDir, 'master');
  const jsonBytes = await du(master);
  console.log(`master dataset as shipped (JSON lines): ${mb(jsonBytes)}, ${(jsonBytes / n).toFixed(1)} bytes a message`);

  await withDaemon(dataDir, async (d, startMs) => {
    console.log(`start-up after the import (${fmt(n)} messages not yet in any batch): ${(startMs / 1000).toFixed(2)} s to ready`);
    const full = (await gql<Run>(d.url, RUN, { full: true })).runBatch;
    if (full.status !== 'SUCCEEDED') throw new Error(`full batch run failed: ${full.error}`);
    console.log(`full batch over JSON lines: ${seconds(full).toFixed(1)} s, ${fmt(full.records)} records, daemon peak RSS ${(await peakRss(d.proc.pid!)).toFixed(0)} MB (--memory-limit 1GiB)`);
    t0 = performance.now();
    const c = (await gql<{ compact: { partitions: number; records: number; bytesBefore: number; bytesAfter: number } }>(d.url, 'mutation { compact { partitions records bytesBefore bytesAfter } }'))
      .compact;
    console.log(
      `compaction: ${c.partitions} partitions, ${fmt(c.records)} records in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${mb(c.bytesBefore)} -> ${mb(c.bytesAfter)}, ${(c.bytesAfter / c.records).toFixed(1)} bytes a message`,
    );
    // What the retention schedule would do: minute views beyond 7 days go (the raw tier keeps the whole month here).
    const r = (await gql<{ applyRetention: { minuteRows: number } }>(d.url, 'mutation { applyRetention { minuteRows } }')).applyRetention;
    console.log(`retention: ${fmt(r.minuteRows)} minute rows past --retention-minute 7d removed`);
  });

  await withDaemon(dataDir, async (d, startMs) => {
    console.log(`start-up after compaction: ${(startMs / 1000).toFixed(2)} s to ready`);
    const full = (await gql<Run>(d.url, RUN, { full: true })).runBatch;
    console.log(`full batch over Parquet: ${seconds(full).toFixed(1)} s, ${fmt(full.records)} records, daemon peak RSS ${(await peakRss(d.proc.pid!)).toFixed(0)} MB`);
    // An hour of new data from every service, then an incremental run: only the hours that changed.
    const now = Date.now() / 1000;
    const lines: string[] = [];
    for (let s = 0; s < SERVICES; s++) {
      for (let k = 0; k < 40; k++) {
        const r = sample(s, k * 90, 2);
        if (r) lines.push(JSON.stringify({ ...r, Timestamp: now - 3600 + k * 90 }));
      }
    }
    const { importMessages } = await gql<{ importMessages: { accepted: number } }>(d.url, 'mutation($m: [String!]!) { importMessages(messages: $m) { accepted } }', { m: lines });
    const inc = (await gql<Run>(d.url, RUN, { full: false })).runBatch;
    console.log(`incremental batch after ${fmt(importMessages.accepted)} new messages: ${seconds(inc).toFixed(2)} s`);
    console.log(`stats over ${DAYS} days for ${SERVICES} services (GraphQL, 300 calls): ${await statsLatency(d.url, SERVICES)}`);
  });
  // The daemon gave the DuckDB file's free blocks back as it stopped (reclaimSpace).
  const data = await du(dataDir);
  const duck = (await stat(join(dataDir, 'hms.duckdb'))).size;
  const masterNow = await du(master);
  console.log(`at rest: master dataset ${mb(masterNow)} (${(masterNow / n).toFixed(1)} bytes a message), DuckDB file ${mb(duck)}, whole data dir ${mb(data)} (${(data / n).toFixed(1)} bytes a message)`);
  await breakdown(dataDir);
}

/**
 * The peer on its own ground: VictoriaMetrics (Debian's package) given the same messages (Influx line protocol,
 * three gauges a message), its bytes a message once flushed and merged, and the same 30-day question from its raw
 * samples (mean, max and count of the three resources per service: one MetricsQL query, its cache off).
 */
async function victoriaMetrics(file: string, n: number, dir: string): Promise<void> {
  const port = 18428;
  const vm = spawn('victoria-metrics', [`-storageDataPath=${dir}`, `-httpListenAddr=127.0.0.1:${port}`, '-loggerLevel=ERROR', '-retentionPeriod=100y'], { stdio: 'ignore' });
  const base = `http://127.0.0.1:${port}`;
  try {
    for (let i = 0; ; i++) {
      if ((await fetch(`${base}/health`).catch(() => undefined))?.ok) break;
      if (i > 100) throw new Error('did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    const t0 = performance.now();
    let body = '';
    const send = async () => {
      const res = await fetch(`${base}/write`, { method: 'POST', body });
      if (!res.ok) throw new Error(`write: HTTP ${res.status}`);
      body = '';
    };
    for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY })) {
      if (!line) continue;
      const m = JSON.parse(line) as { serviceName: string; Timestamp: number; CPU: number; RAM: { Total: number; Free: number }; Disk: { Total: number; Free: number } };
      const ram = ((m.RAM.Total - m.RAM.Free) / m.RAM.Total) * 100;
      const disk = ((m.Disk.Total - m.Disk.Free) / m.Disk.Total) * 100;
      body += `health,service=${m.serviceName} cpu=${m.CPU},ram=${ram},disk=${disk} ${Math.round(m.Timestamp * 1000)}000000\n`;
      if (body.length > 4 << 20) await send();
    }
    await send();
    await fetch(`${base}/internal/force_flush`);
    const ingestS = (performance.now() - t0) / 1000;
    await fetch(`${base}/internal/force_merge`);
    await new Promise((r) => setTimeout(r, 20_000)); // background merges
    const bytes = await du(dir);
    const q = ['avg_over_time', 'max_over_time', 'count_over_time']
      .flatMap((f) => ['cpu', 'ram', 'disk'].map((r) => `label_set(${f}(health_${r}[${DAYS}d]), "agg", "${f}_${r}")`))
      .join(', ');
    const query = async () => {
      const res = await fetch(`${base}/api/v1/query?nocache=1&time=${Date.now() / 1000}&query=${encodeURIComponent(`union(${q})`)}`);
      const json = (await res.json()) as { data?: { result: unknown[] } };
      if (!json.data || json.data.result.length !== 9 * SERVICES) throw new Error(`VictoriaMetrics answered ${json.data?.result.length} series, not ${9 * SERVICES}`);
    };
    const { p50, p99 } = await latency(30, query);
    console.log(
      `VictoriaMetrics ${await vmVersion()}, same messages: ingested in ${ingestS.toFixed(0)} s (HTTP, one client), ${mb(bytes)} on disk (${(bytes / n).toFixed(1)} bytes a message); mean, max and count of the three resources over ${DAYS} days for ${SERVICES} services from raw samples: p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms`,
    );
  } finally {
    vm.kill('SIGTERM');
    await once(vm, 'exit');
    await rm(dir, { recursive: true, force: true });
  }
}

/** Its binary prints no version: the Debian package's. */
async function vmVersion(): Promise<string> {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax, not a template
  const p = spawn('dpkg-query', ['-W', '--showformat=${Version}', 'victoria-metrics'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  p.stdout.on('data', (d) => {
    out += d;
  });
  await once(p, 'exit');
  return out.split('+')[0] || '(version unknown)';
}

/** Views as 1,000 services sending at least once a minute leave them: minutes for 7 days, hours and days for 30. */
async function thousand(root: string): Promise<void> {
  const dataDir = join(root, 'data-1000');
  // Made by the daemon's own schema, then filled with SQL.
  await withDaemon(dataDir, async () => undefined);
  const db = await Database.open(join(dataDir, 'hms.duckdb'));
  const conn = await db.connect();
  const w = Math.floor((Date.now() * 1000 - 120e6) / 60e6) * 60e6;
  const values = AGG_COLUMNS.map((c) => (c === 'n' ? '2' : c.endsWith('_peak') ? 'b + 1' : c.endsWith('_sum') ? '(s * 7 + b // 60000000) % 100000000 * 2' : '(s * 7 + b // 60000000) % 100000000')).join(', ');
  const t0 = performance.now();
  await conn.run(`INSERT INTO batch_minute SELECT 'svc-' || lpad(s::VARCHAR, 4, '0'), b, ${values}
    FROM range(0, 1000) t(s), range(${w - 7 * DAY_US}, ${w}, 60000000) u(b) ORDER BY b, s`);
  await conn.run(`INSERT INTO batch_hour SELECT 'svc-' || lpad(s::VARCHAR, 4, '0'), b, ${values}
    FROM range(0, 1000) t(s), range(${Math.floor((w - DAYS * DAY_US) / 3600e6) * 3600e6}, ${Math.floor(w / 3600e6) * 3600e6}, 3600000000) u(b) ORDER BY b, s`);
  await conn.run(`INSERT INTO batch_day SELECT 'svc-' || lpad(s::VARCHAR, 4, '0'), b, ${values}
    FROM range(0, 1000) t(s), range(${Math.floor((w - DAYS * DAY_US) / DAY_US) * DAY_US}, ${Math.floor(w / DAY_US) * DAY_US}, ${DAY_US}) u(b) ORDER BY b, s`);
  await conn.run(`INSERT OR REPLACE INTO meta VALUES ('watermark', ${w}), ('batch_segment', 0), ('minute_horizon', ${Math.floor((w - 7 * DAY_US) / 3600e6) * 3600e6})`);
  await conn.run('CHECKPOINT');
  conn.closeSync();
  db.close();
  console.log(`1,000 services: views written with SQL in ${((performance.now() - t0) / 1000).toFixed(1)} s (10.1M minute rows, 720k hour rows, 30k day rows)`);
  await withDaemon(dataDir, async (d, startMs) => {
    console.log(`  start-up: ${(startMs / 1000).toFixed(2)} s`);
    console.log(`  stats over ${DAYS} days for 1,000 services (GraphQL, 300 calls): ${await statsLatency(d.url, 1000)}`);
  });
  await breakdown(dataDir);
}

const root = await mkdtemp(join(process.env.HMS_BENCH_DIR ?? tmpdir(), 'hms-scale-'));
try {
  if (process.argv[2] !== '1000') await hundred(root);
  if (process.argv[2] !== '100') await thousand(root);
} finally {
  await rm(root, { recursive: true, force: true });
}
