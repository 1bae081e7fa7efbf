/**
 * `npm run bench [name]`: prints numbers, asserts nothing (machines are shared and noisy).
 * - throughput: for 1, 2 and the default number of ingest workers, the highest rate sustained for 10 s with
 *   zero loss (kernel and application) while every accepted message is persisted, the saturation rate, and
 *   CPU per million messages over the daemon and its workers; the sender is a separate process.
 * - memory: RSS of the daemon and its workers with 1,000 services at 1 message/s each.
 * - freshness: time from a datagram's arrival to its visibility in `stats`, idle and at 50,000 and 100,000 msg/s.
 * - signed, globs, hdfs, mapreduce, spark, scale: see each.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { MAX_AUTO_INGEST_WORKERS } from '../src/config/settings.js';
import { compileGlob } from '../src/core/glob.js';
import { signDatagram } from '../src/core/sign.js';
import { DatagramAuth, parseAuthKeys } from '../src/ingest/datagram-auth.js';
import { ALL_TIME, CLI, type Daemon, gql, message, sendUdp, startDaemon } from '../test/helpers/daemon.js';

const PIPELINE = '{ pipeline { accepted received rejected kernelDrops recvBufferBytes } }';
type P = { pipeline: { accepted: number; received: number; rejected: number; kernelDrops: number | null; recvBufferBytes: number } };

async function countLines(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && /^seg-\d+\.(jsonl|open)$/.test(e.name)) {
      const data = await readFile(join(e.parentPath, e.name));
      for (let i = 0; i < data.length; i++) if (data[i] === 10) n++;
    }
  }
  return n;
}

function runMock(port: number, services: number, ratePerService: number, seconds: number, extra: string[] = []): Promise<number> {
  return new Promise((resolve, reject) => {
    const args = ['--target', `127.0.0.1:${port}`, '--services', String(services), '--rate', String(ratePerService), '--duration', String(seconds), ...extra];
    const p = spawn(process.execPath, ['--import', 'tsx', CLI, 'mock', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (d) => {
      err += d;
    });
    p.on('exit', () => {
      const m = /sent (\d+) messages/.exec(err);
      if (m) resolve(Number(m[1]));
      else reject(new Error(`mock failed: ${err}`));
    });
  });
}

const rss = async (pid: number) => {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
};

/** A UDP collector at 100k msg/s needs a receive buffer beyond the usual 4 MiB cap: raise the cap if allowed. */
async function raiseRmemMax(bytes: number): Promise<void> {
  const path = '/proc/sys/net/core/rmem_max';
  const current = Number(await readFile(path, 'utf8').catch(() => '0'));
  if (current >= bytes) return;
  try {
    await writeFile(path, String(bytes));
    console.log(`raised net.core.rmem_max from ${current} to ${bytes}`);
  } catch {
    console.log(`net.core.rmem_max is ${current} and could not be raised (not root?): expect kernel drops at high rates`);
  }
}

/**
 * The sender: the side-by-side benchmark's C sender (sendmmsg, about 5 µs of mostly kernel time a datagram
 * here) when ../shared/bench/blast.c and gcc are there, else bench/udp-sender.ts. `send(port, rate, s)`
 * resolves with the number sent.
 */
async function sender(): Promise<{ name: string; send(port: number, rate: number, seconds: number): Promise<number> }> {
  const source = join(import.meta.dirname, '..', '..', 'shared', 'bench', 'blast.c');
  const binary = join(homedir(), '.cache', 'hms-bench', 'blast');
  const run = (cmd: string, args: string[]) =>
    new Promise<string>((resolve, reject) => {
      const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      p.stdout.on('data', (c) => {
        out += c;
      });
      p.on('error', reject);
      p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited with ${code}`))));
    });
  const sent = (out: string) => Number(/sent (\d+)/.exec(out)?.[1]);
  try {
    await mkdir(dirname(binary), { recursive: true });
    await run('gcc', ['-O2', '-o', binary, source]);
    return { name: 'C sender (sendmmsg), 1,000 services', send: async (port, rate, seconds) => sent(await run(binary, [String(port), String(rate), String(seconds), 'json', '1000'])) };
  } catch {
    const script = join(import.meta.dirname, 'udp-sender.ts');
    return {
      name: 'Node sender (bench/udp-sender.ts), 100 services',
      send: async (port, rate, seconds) => sent(await run(process.execPath, ['--import', 'tsx', script, String(port), String(rate), String(seconds)])),
    };
  }
}

type Readers = { pipeline: { ingestWorkers: { pid: number }[] } };
/** The daemon and its ingest workers, as they are now. */
const readerPids = async (url: string) => (await gql<Readers>(url, '{ pipeline { ingestWorkers { pid } } }')).pipeline.ingestWorkers.map((r) => r.pid);
const sum = async (pids: number[], f: (pid: number) => Promise<number>) => (await Promise.all(pids.map(f))).reduce((a, b) => a + b, 0);

async function throughput(): Promise<void> {
  const send = await sender();
  const cores = availableParallelism();
  const counts = [...new Set([1, 2, Math.min(cores, MAX_AUTO_INGEST_WORKERS)])];
  console.log(`## Sustained ingest, 10 s per rate, ${send.name}, ${cores} cores, --ingest-workers ${counts.join(', ')} (the default here: ${counts.at(-1)})`);
  await raiseRmemMax(64 * 1024 * 1024);
  console.log('workers | offered/s | sent | accepted | kernel drops | persisted | loss | CPU s per million accepted (daemon + workers)');
  for (const workers of counts) {
    let zeroLoss = 0;
    let saturation = 0;
    for (const rate of [50_000, 75_000, 100_000, 125_000, 150_000, 200_000]) {
      const d = await startDaemon(['--batch-schedule', 'off', '--recv-buffer', '32MiB', '--ingest-workers', String(workers)]);
      try {
        const pids = await readerPids(d.url);
        const cpu0 = await sum(pids, cpuSeconds);
        const sent = await send.send(d.udpPort, rate, 10);
        await new Promise((r) => setTimeout(r, 2000)); // the workers' last batches, a flush interval and more
        const cpu = (await sum(pids, cpuSeconds)) - cpu0;
        const { pipeline } = await gql<P>(d.url, PIPELINE);
        // Counted once the daemon has stopped: while it runs, a segment being shipped is in both places.
        await d.stop();
        const persisted = await countLines(d.dataDir);
        const loss = sent - pipeline.accepted;
        const cpuPerM = (cpu / pipeline.accepted) * 1e6;
        console.log(`${workers} | ${rate} | ${sent} | ${pipeline.accepted} | ${pipeline.kernelDrops} | ${persisted} | ${((loss / sent) * 100).toFixed(1)} % | ${cpuPerM.toFixed(1)}`);
        if (loss === 0 && persisted === pipeline.accepted && sent >= rate * 10 * 0.98) zeroLoss = Math.max(zeroLoss, rate);
        saturation = Math.max(saturation, pipeline.accepted / 10);
        if (loss / sent > 0.25) break; // saturated: higher rates only lose more
      } finally {
        await d.stop();
      }
    }
    console.log(`--ingest-workers ${workers}: zero loss (everything persisted) up to ${zeroLoss} msg/s; saturation ${Math.round(saturation)} msg/s accepted`);
  }
  console.log('');
}

/** CPU seconds (user + system) a process has used, from /proc/PID/stat. */
async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/** The cost of signatures: the same traffic, signed and checked (--auth-mode required) against unsigned. */
async function signed(): Promise<void> {
  console.log('## Signed datagrams: verify cost in-process, and the daemon with --auth-mode required against off');
  const key = { id: 'bench', secret: randomBytes(32) };
  const keysText = JSON.stringify({ keys: [{ id: key.id, secret: key.secret.toString('hex') }] });
  const auth = new DatagramAuth(parseAuthKeys(keysText, 'bench'), { mode: 'required', windowUs: 60e6 });
  const now = Date.now();
  const datagrams = Array.from({ length: 200_000 }, (_, i) => signDatagram(key, message(`svc-${i % 100}`, now / 1000, i % 100), now));
  const t0 = performance.now();
  for (const d of datagrams) if (!auth.verify(d, now * 1000).ok) throw new Error('a bench datagram did not verify');
  console.log(`verify: ${(((performance.now() - t0) * 1000) / datagrams.length).toFixed(2)} µs a datagram (HMAC-SHA256 and the replay filter)`);

  const keysDir = await mkdtemp(join(tmpdir(), 'hms-bench-keys-'));
  const keys = join(keysDir, 'keys.json');
  await writeFile(keys, keysText);
  console.log('auth mode | rate offered/s | sent | accepted | loss | daemon CPU s per million');
  for (const rate of [50_000, 100_000]) {
    for (const mode of ['off', 'required'] as const) {
      const d = await startDaemon(['--batch-schedule', 'off', '--recv-buffer', '32MiB', ...(mode === 'required' ? ['--auth-mode', mode, '--auth-keys', keys] : [])]);
      try {
        // Unsigned traffic to auth off, signed to auth required, from a sender that signs before it starts sending.
        const args = [String(d.udpPort), String(rate), '5', ...(mode === 'required' ? [key.secret.toString('hex'), key.id] : [])];
        const sender = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'udp-sender.ts'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        sender.stdout.on('data', (c) => {
          out += c;
        });
        const pids = await readerPids(d.url);
        const cpu0 = await sum(pids, cpuSeconds);
        await new Promise((resolve) => sender.once('exit', resolve));
        await new Promise((r) => setTimeout(r, 1500));
        const { pipeline } = await gql<P>(d.url, PIPELINE);
        const cpu = (await sum(pids, cpuSeconds)) - cpu0;
        const sent = Number(/sent (\d+)/.exec(out)?.[1]);
        console.log(`${mode} | ${rate} | ${sent} | ${pipeline.accepted} | ${(((sent - pipeline.accepted) / sent) * 100).toFixed(1)} % | ${((cpu / pipeline.accepted) * 1e6).toFixed(1)}`);
      } finally {
        await d.stop();
      }
    }
  }
  console.log('');
}

/** The glob that backtracked for 22 s as a regex, through the matcher silences and rules use now. */
function globs(): void {
  console.log('## Globs: the backtracking case');
  const name = 'a'.repeat(200);
  const matches = compileGlob('*a*a*a*a*b');
  const t0 = performance.now();
  for (let i = 0; i < 10_000; i++) matches(name);
  console.log(`*a*a*a*a*b against 200 characters: ${(((performance.now() - t0) * 1000) / 10_000).toFixed(1)} µs a match\n`);
}

async function memory(): Promise<void> {
  console.log('## 1,000 services at 1 msg/s each for 60 s (RSS summed over the daemon and its ingest workers)');
  const d = await startDaemon([]);
  try {
    const pids = await readerPids(d.url);
    const sent = await runMock(d.udpPort, 1000, 1, 60);
    const rssMb = await sum(pids, async (pid) => (await rss(pid)).rssMb);
    const peakMb = await sum(pids, async (pid) => (await rss(pid)).peakMb);
    const { pipeline } = await gql<P>(d.url, PIPELINE);
    console.log(`${pids.length} processes; sent ${sent}, accepted ${pipeline.accepted}, RSS ${rssMb.toFixed(0)} MB, peak RSS ${peakMb.toFixed(0)} MB\n`);
  } finally {
    await d.stop();
  }
}

/** Datagram sent -> visible in stats, for a fresh service each time. */
async function probeFreshness(d: Daemon, probes: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < probes; i++) {
    const service = `fresh-${i}`;
    const t0 = performance.now();
    await sendUdp(d.udpPort, [message(service, Date.now() / 1000, 50)]);
    for (let tries = 0; ; tries++) {
      // Under load the kernel may drop the probe itself: after 10 s it is sent again, and the wait shows it.
      if (tries > 0 && tries % 500 === 0) await sendUdp(d.udpPort, [message(service, Date.now() / 1000, 50)]);
      const { stats } = await gql<{ stats: { service: string }[] }>(d.url, 'query($from: DateTime!, $to: DateTime!, $s: String) { stats(from: $from, to: $to, service: $s) { service } }', {
        ...ALL_TIME,
        s: service,
      });
      if (stats.length) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    times.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 137 * (i % 7)));
  }
  return times.sort((a, b) => a - b);
}

async function freshness(): Promise<void> {
  console.log('## Freshness: datagram sent -> visible in stats (speed tick every 1 s), idle and under load');
  const send = await sender();
  for (const load of [0, 50_000, 100_000]) {
    const d = await startDaemon(['--batch-schedule', 'off', '--recv-buffer', '32MiB']);
    try {
      const loading = load ? send.send(d.udpPort, load, 20) : Promise.resolve(0);
      if (load) await new Promise((r) => setTimeout(r, 2000));
      const times = await probeFreshness(d, 12);
      await loading;
      const { kernelDrops } = (await gql<P>(d.url, PIPELINE)).pipeline;
      const under = load ? `under ${load} msg/s (${send.name})` : 'idle';
      console.log(`${under}: median ${times[times.length >> 1].toFixed(0)} ms, max ${times[times.length - 1].toFixed(0)} ms${load ? `, kernel drops ${kernelDrops}` : ''}`);
    } finally {
      await d.stop();
    }
  }
  console.log('');
}

/** The scale-out benchmarks live in their own files (they need a JDK and the cached jars). */
function runBenchFile(file: string, args: string[] = []): Promise<void> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, file), ...args], { stdio: 'inherit' });
    p.on('exit', () => resolve());
  });
}

const only = process.argv[2];
if (!only || only === 'throughput') await throughput();
if (!only || only === 'signed') await signed();
if (!only || only === 'globs') globs();
if (!only || only === 'freshness') await freshness();
if (!only || only === 'memory') await memory();
if (!only || only === 'hdfs') {
  console.log('## Shipping to a real HDFS (one-machine MiniDFSCluster)');
  await runBenchFile('hdfs.ts', ['128']);
}
if (!only || only === 'mapreduce') {
  console.log('## Batch run over 1M messages: duckdb and mapreduce engines');
  await runBenchFile('mapreduce.ts');
}
if (!only || only === 'spark') {
  console.log('## Spark speed engine: start-up, tick, freshness');
  await runBenchFile('spark.ts');
}
if (!only || only === 'scale') {
  console.log('## Data at scale: 10M messages imported, batch runs, compaction, start-up, stats latency');
  await runBenchFile('scale.ts');
}
