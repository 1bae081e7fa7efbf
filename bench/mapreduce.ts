/**
 * Batch engines compared: one full batch run over the same master dataset (1M messages by default) with
 * the duckdb engine and with the mapreduce engine (Hadoop Streaming in local mode over local files, the
 * JVM and the task processes on this machine), each in its own process. Prints seconds, peak memory and
 * whether both produced identical views. Asserts nothing (machines are shared and noisy).
 *
 *   node --import tsx bench/mapreduce.ts [messages]
 *
 * Memory: duckdb's is the peak RSS of its process (Node + DuckDB). For mapreduce the process tree is
 * sampled every 100 ms: the tree's peak total RSS (submitting process + JVM + task processes running at
 * once) and the peaks of the JVM and of the largest task process.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { MICROS_PER_HOUR } from '../src/core/time.js';
import { LocalStore } from '../src/storage/local-store.js';
import { encodeLine, segmentName } from '../src/core/master-record.js';
import { splitByPartition } from '../src/storage/store.js';
import { DuckDBBatchEngine } from '../src/batch/duckdb-engine.js';
import type { BatchEngine } from '../src/batch/engine.js';
import { MapReduceBatchEngine } from '../src/batch/mapreduce-engine.js';
import { openPipeline } from '../src/daemon/pipeline.js';
import { DuckDBSpeedLayer } from '../src/speed/duckdb-speed.js';
import { compiledTaskDir, mapreduceAvailable } from '../test/helpers/mapreduce-env.js';
import { random, randomMessages } from '../test/helpers/pipeline.js';

const END = Date.UTC(2026, 10, 27, 0, 0, 0) * 1000;
const SEGMENTS = 10;
const SERVICES = Array.from({ length: 20 }, (_, i) => `svc-${String(i).padStart(2, '0')}`);

type Variant = 'duckdb' | 'mapreduce' | 'mapreduce-no-inmapper';

interface ChildResult {
  seconds: number;
  records: number;
  status: string;
  error: string | null;
  views: string;
  peakMb: number;
}

/** Writes `n` messages over the day before END as SEGMENTS segments, split into hour partitions. */
async function generate(root: string, n: number): Promise<{ bytes: number; files: number }> {
  const store = new LocalStore(join(root, 'master'));
  const rnd = random(2026);
  let bytes = 0;
  let files = 0;
  for (let seg = 1; seg <= SEGMENTS; seg++) {
    const msgs = randomMessages(rnd, Math.ceil(n / SEGMENTS), END - 24 * MICROS_PER_HOUR, END, SERVICES);
    const data = Buffer.from(msgs.map((m) => encodeLine(m, m.ts)).join(''));
    bytes += data.length;
    for (const [partition, lines] of splitByPartition(data).parts) {
      await store.put(partition, segmentName(seg, 'jsonl'), Buffer.concat(lines));
      files++;
    }
  }
  return { bytes, files };
}

// ---- child: one batch run with one engine ----

async function child(variant: Variant, root: string): Promise<void> {
  const log = pino({ level: 'silent' });
  // Each variant has a data dir (and a DuckDB file) of its own over the one master dataset.
  const store = new LocalStore(join(root, 'master'), join(root, variant, 'quarantine'), join(root, variant, 'tmp'));
  let engine: BatchEngine = new DuckDBBatchEngine(store);
  if (variant !== 'duckdb') {
    const avail = await mapreduceAvailable();
    if (!avail.ok) throw new Error(avail.why);
    engine = new MapReduceBatchEngine({
      submit: 'local',
      jarsDir: avail.jars,
      store,
      taskDir: await compiledTaskDir(),
      nodeBin: process.execPath,
      mapKeys: variant === 'mapreduce-no-inmapper' ? 0 : undefined,
      log,
    });
  }
  await mkdir(join(root, variant), { recursive: true });
  const p = await openPipeline({
    dataDir: join(root, variant),
    store,
    batchEngine: engine,
    speedEngine: (deps) => DuckDBSpeedLayer.create(deps),
    segments: { flushIntervalMs: 60_000, maxBytes: 1 << 30, maxAgeMs: 3_600_000, maxUnflushedBytes: 64 << 20 },
    allowedLatenessUs: 60_000_000,
    now: () => END + 2 * 60_000_000,
    log,
  });
  const { batch, db } = p;
  // Opening rebuilt the realtime views from the whole dataset: the peak measured below is the batch run's.
  await writeFile('/proc/self/clear_refs', '5').catch(() => undefined);
  const t0 = performance.now();
  const run = await batch.run({ full: true });
  const seconds = (performance.now() - t0) / 1000;
  const conn = await db.connect();
  const hash = createHash('sha256');
  for (const t of ['batch_minute', 'batch_hour', 'batch_day']) {
    for (const r of (await conn.runAndReadAll(`SELECT * FROM ${t} ORDER BY ALL`)).getRows()) hash.update(`${t}:${r.map(String).join(',')}\n`);
  }
  conn.closeSync();
  const status = await readFile('/proc/self/status', 'utf8');
  const peakMb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  const result: ChildResult = { seconds, records: run.records ?? 0, status: run.status, error: run.error, views: hash.digest('hex').slice(0, 16), peakMb };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  await p.close();
}

// ---- parent: run the children, sample their process trees ----

interface TreePeaks {
  totalMb: number;
  jvmMb: number;
  taskMb: number;
}

async function procStatus(pid: string): Promise<{ ppid: number; name: string; rssKb: number; hwmKb: number } | undefined> {
  try {
    const s = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0);
    return { ppid: kb('PPid'), name: /Name:\s+(\S+)/.exec(s)?.[1] ?? '', rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
  } catch {
    return undefined; // exited between readdir and read
  }
}

/** Samples the tree under `root` until `stop()`; peaks in MB. */
function sampleTree(root: number) {
  const peaks: TreePeaks = { totalMb: 0, jvmMb: 0, taskMb: 0 };
  let running = true;
  const loop = (async () => {
    while (running) {
      const all = new Map<number, NonNullable<Awaited<ReturnType<typeof procStatus>>>>();
      for (const pid of (await readdir('/proc')).filter((d) => /^\d+$/.test(d))) {
        const s = await procStatus(pid);
        if (s) all.set(Number(pid), s);
      }
      const tree = new Set([root]);
      for (let grew = true; grew; ) {
        grew = false;
        for (const [pid, s] of all) {
          if (!tree.has(pid) && tree.has(s.ppid)) {
            tree.add(pid);
            grew = true;
          }
        }
      }
      let total = 0;
      for (const pid of tree) {
        const s = all.get(pid);
        if (!s) continue;
        total += s.rssKb;
        if (s.name === 'java') peaks.jvmMb = Math.max(peaks.jvmMb, s.hwmKb / 1024);
        else if (pid !== root) peaks.taskMb = Math.max(peaks.taskMb, s.hwmKb / 1024);
      }
      peaks.totalMb = Math.max(peaks.totalMb, total / 1024);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return async () => {
    running = false;
    await loop;
    return peaks;
  };
}

function runChild(variant: Variant, root: string): Promise<{ result: ChildResult; tree: TreePeaks }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, '--child', variant, root], { stdio: ['ignore', 'pipe', 'inherit'] });
    const stop = sampleTree(p.pid!);
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
    });
    p.on('error', reject);
    p.on('close', async (code) => {
      const tree = await stop();
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || !line.startsWith('{')) return reject(new Error(`${variant} child exited with ${code}: ${out}`));
      resolve({ result: JSON.parse(line), tree });
    });
  });
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 1_000_000);
  const root = await mkdtemp(join(tmpdir(), 'hms-bench-mr-'));
  try {
    console.log(`## Batch engines: one full batch run over ${n.toLocaleString('en')} messages (${SERVICES.length} services, one day)`);
    const t0 = performance.now();
    const data = await generate(root, n);
    console.log(`master dataset: ${(data.bytes / 2 ** 20).toFixed(0)} MiB in ${data.files} files (generated in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    const avail = await mapreduceAvailable();
    const variants: Variant[] = avail.ok ? ['duckdb', 'mapreduce', 'mapreduce-no-inmapper'] : ['duckdb'];
    if (!avail.ok) console.log(`mapreduce skipped: ${avail.why}`);
    console.log('engine | status | records | seconds | peak memory | views');
    const hashes = new Set<string>();
    for (const v of variants) {
      const { result: r, tree } = await runChild(v, root);
      hashes.add(r.views);
      const mem =
        v === 'duckdb'
          ? `${r.peakMb.toFixed(0)} MB (process)`
          : `${tree.totalMb.toFixed(0)} MB total (JVM ${tree.jvmMb.toFixed(0)} MB, largest task ${tree.taskMb.toFixed(0)} MB, submitting process ${r.peakMb.toFixed(0)} MB)`;
      console.log(`${v} | ${r.status}${r.error ? ` ${r.error}` : ''} | ${r.records} | ${r.seconds.toFixed(1)} | ${mem} | ${r.views}`);
    }
    console.log(hashes.size === 1 ? 'identical views from every engine' : 'VIEWS DIFFER between engines');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') await child(process.argv[3] as Variant, process.argv[4]);
else await main();
