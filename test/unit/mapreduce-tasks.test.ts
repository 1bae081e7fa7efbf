/**
 * The MapReduce job's own code without Hadoop: the mapper, combiner and reducer logic on small inputs
 * with known answers, the compiled scripts as Streaming runs them (processes, stdin/stdout, exit codes)
 * against DuckDB's minuteAggregate on the same lines, the Streaming command line, and the reading of
 * Hadoop's client output.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, LIST, listValue, VARCHAR } from '@duckdb/node-api';
import test from 'ava';
import { MapAggregate, MergeAggregate, minuteOf, quantize as taskQuantize } from '../../jobs/mapreduce/task/aggregate.mjs';
import { RecordMapper, SortedMerger } from '../../jobs/mapreduce/task/stages.mjs';
import { JobLog } from '../../src/batch/mapreduce/job-log.js';
import { inputListConf, streamingArgs } from '../../src/batch/mapreduce/streaming.js';
import type { HealthMessage } from '../../src/core/message.js';
import { encodeLine } from '../../src/core/master-record.js';
import { minuteAggregate, quantize, readSegments } from '../../src/serving/view-sql.js';
import { compiledTaskDir } from '../helpers/mapreduce-env.js';
import { random, randomMessages } from '../helpers/pipeline.js';

const MIN = 60_000_000;
const T0 = Date.UTC(2026, 10, 27, 10, 0, 0) * 1000;

const msg = (over: Partial<HealthMessage>): HealthMessage => ({
  service: 'orders',
  ts: T0,
  cpu: 50,
  ramTotal: 16,
  ramFree: 8,
  diskTotal: 100,
  diskFree: 25,
  ...over,
});
const line = (m: HealthMessage) => encodeLine(m, m.ts).trimEnd();

function mapAll(lines: string[], watermark: number, maxKeys = 50_000) {
  const out: string[] = [];
  const mapper = new RecordMapper({ watermark, maxKeys }, (r) => out.push(r));
  for (const l of lines) mapper.push(l);
  mapper.flush();
  return { out, counts: mapper.counts };
}

/** What Hadoop does between map and reduce: sort rows by key bytes (Text's raw comparator). */
const shuffle = (rows: string[]) => {
  const key = (r: string) => Buffer.from(r.split('\t', 2).join('\t'));
  return [...rows].sort((a, b) => Buffer.compare(key(a), key(b)));
};

function mergeAll(sorted: string[]): string[] {
  const out: string[] = [];
  const m = new SortedMerger((r) => out.push(r));
  for (const l of sorted) m.push(l);
  m.end();
  return out;
}

test('quantize in the task scripts is view-sql.ts quantize (also on x.5 micro-unit boundaries)', (t) => {
  const rnd = random(3);
  const values = [0, 100, 50.0000005, 12.3456785, 0.0000005, 99.9999995, 1e-7, 33.3333335];
  for (let i = 0; i < 20000; i++) values.push(rnd() * 100, Math.round(rnd() * 1e8) / 1e6 + 5e-7, ((16 - rnd() * 16) / 16) * 100);
  for (const v of values) t.is(taskQuantize(v), quantize(v), String(v));
});

test('minuteOf is DuckDB integer division: ts // 60000000 * 60000000, negatives truncated toward zero', async (t) => {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  const ts = [0, 1, -1, MIN - 1, MIN, -MIN - 1, T0 + 59_999_999, 2 ** 53 - 1, -(2 ** 53) + 1];
  const rnd = random(4);
  for (let i = 0; i < 200; i++) ts.push(Math.floor((rnd() - 0.5) * 2 ** 53));
  const rows = (await conn.runAndReadAll(`SELECT t // ${MIN} * ${MIN} FROM unnest([${ts.join(',')}]::BIGINT[]) AS u(t)`)).getRows();
  t.deepEqual(
    ts.map((v) => minuteOf(v)),
    rows.map((r) => Number(r[0])),
  );
  conn.closeSync();
});

test('mapper: watermark holds back ts >= W; sums, mins, maxes in micro-units; a max tie keeps the earliest time', (t) => {
  const w = T0 + 2 * MIN;
  const lines = [
    // Minute 0: cpu max 80 reached at +30 s and at +10 s (given later): the peak is +10 s.
    line(msg({ ts: T0 + 30_000_000, cpu: 80, ramFree: 4 })),
    line(msg({ ts: T0 + 20_000_000, cpu: 10.5, ramFree: 12 })),
    line(msg({ ts: T0 + 10_000_000, cpu: 80, ramFree: 8 })),
    // Minute 1, other service.
    line(msg({ service: 'pay"ments', ts: T0 + MIN, cpu: 1e-7 })),
    // At and after the watermark: held back.
    line(msg({ ts: w, cpu: 99 })),
    line(msg({ ts: w + 1, cpu: 99 })),
    '',
  ];
  const { out, counts } = mapAll(lines, w);
  t.deepEqual(counts, { kept: 4, heldBack: 2 });
  t.deepEqual(shuffle(out), [
    ['"orders"', T0, 3, 170_500_000, 10_500_000, 80_000_000, T0 + 10_000_000, 150_000_000, 25_000_000, 75_000_000, T0 + 30_000_000, 225_000_000, 75_000_000, 75_000_000, T0 + 10_000_000].join('\t'),
    ['"pay\\"ments"', T0 + MIN, 1, 0, 0, 0, T0 + MIN, 50_000_000, 50_000_000, 50_000_000, T0 + MIN, 75_000_000, 75_000_000, 75_000_000, T0 + MIN].join('\t'),
  ]);
});

test('mapper: maxKeys 0 emits a row per record; a small bound flushes and the merge still gives the same rows', (t) => {
  const rnd = random(5);
  const lines = randomMessages(rnd, 2000, T0, T0 + 30 * MIN).map(line);
  const all = mapAll(lines, T0 + 20 * MIN, 50_000);
  const perRecord = mapAll(lines, T0 + 20 * MIN, 0);
  const bounded = mapAll(lines, T0 + 20 * MIN, 7);
  t.is(perRecord.out.length, all.counts.kept);
  t.true(bounded.out.length > all.out.length && bounded.out.length < perRecord.out.length);
  const expected = mergeAll(shuffle(all.out));
  t.is(expected.length, all.out.length, 'without a bound every key is emitted once');
  t.deepEqual(mergeAll(shuffle(perRecord.out)), expected);
  t.deepEqual(mergeAll(shuffle(bounded.out)), expected);
});

test('mapper: failure marker, malformed lines, missing fields and non-finite values fail with the line', (t) => {
  const fail = (l: string, marker?: string) =>
    t.throws(() => new RecordMapper({ watermark: Number.MAX_SAFE_INTEGER, maxKeys: 10, failMarker: marker }, () => {}).push(l));
  t.regex(fail(line(msg({ service: 'boom-now' })), 'boom-now')?.message ?? '', /failure marker "boom-now" in input line 1: .*boom-now/);
  t.regex(fail('{"service": "x", "ts": not json')?.message ?? '', /invalid master record at input line 1: malformed JSON/);
  t.regex(fail('{"service":"x","ts":1,"cpu":1}')?.message ?? '', /invalid master record .*recv undefined/);
  t.regex(fail(line(msg({ ramTotal: 0, ramFree: 0 })))?.message ?? '', /invalid master record .*RAM.Total 0 must be > 0/);
  t.regex(fail(line(msg({ service: 'a\u009bb' })))?.message ?? '', /service has control characters/);
  t.regex(fail(line(msg({ ts: -1 })))?.message ?? '', /ts -1 is not an epoch time/);
  t.regex(fail(line(msg({})).replace('"cpu":', '"cpu":1e400,"x":'))?.message ?? '', /CPU Infinity is not a finite number/);
});

test('a sum never leaves the exact integer range: the mapper splits it, the merge adds in BigInt', (t) => {
  const agg = new MapAggregate('s', 0, [100_000_000, 1, 1], 5);
  agg.sums[0] = Number.MAX_SAFE_INTEGER - 50_000_000;
  t.false(agg.fits([100_000_000, 1, 1]));
  t.true(agg.fits([50_000_000, 1, 1]));
  const big = '9007199254740991'; // 2^53 - 1
  const row = (sum: string, max: number, peak: number) => ['"s"', 0, big, sum, 1, max, peak, sum, 1, max, peak, sum, 1, max, peak].join('\t');
  const m = new MergeAggregate('"s"\t0', row(big, 7, 20).split('\t'));
  m.merge(row(big, 7, 10).split('\t'));
  m.merge(row('5', 3, 1).split('\t'));
  t.is(m.row(), ['"s"', 0, '27021597764222973', '18014398509481987', 1, 7, 10, '18014398509481987', 1, 7, 10, '18014398509481987', 1, 7, 10].join('\t'));
});

test('combining any split of the rows, in any order and any number of times, gives the reducer the same answer', (t) => {
  const rnd = random(6);
  const rows = shuffle(mapAll(randomMessages(rnd, 3000, T0, T0 + 10 * MIN, ['a', 'b']).map(line), T0 + 10 * MIN, 0).out);
  const expected = mergeAll(rows);
  for (let round = 0; round < 20; round++) {
    // Map tasks get random subsets; each subset is combined (maybe twice, as spills can be); reduce merges.
    const tasks: string[][] = [[], [], [], []];
    for (const r of rows) tasks[Math.floor(rnd() * tasks.length)].push(r);
    const combined = tasks.flatMap((rs) => (rnd() < 0.5 ? mergeAll(mergeAll(rs)) : mergeAll(rs)));
    t.deepEqual(mergeAll(shuffle(combined)), expected);
  }
});

// ---- the compiled scripts, as Hadoop Streaming runs them ----

async function runScript(script: string, input: string, env: Record<string, string> = {}) {
  const path = join(await compiledTaskDir(), script);
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const p = spawn(process.execPath, [path], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    // Decoded as a stream: a multi-byte character may be split across chunks.
    p.stdout.setEncoding('utf8');
    p.stderr.setEncoding('utf8');
    p.stdout.on('data', (d) => {
      stdout += d;
    });
    p.stderr.on('data', (d) => {
      stderr += d;
    });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
    p.stdin.on('error', () => {}); // a script that fails early closes its stdin: EPIPE is expected then
    p.stdin.end(input);
  });
}

test('compiled scripts: mapper | sort | combiner | reducer equals DuckDB minuteAggregate on the same master lines', async (t) => {
  const rnd = random(7);
  const services = ['orders', 'pay ments', 'quote"and\\back', 'ünï-cødé ✓', '東京 🚀', 'x'];
  const msgs = randomMessages(rnd, 20_000, T0, T0 + 3 * 60 * MIN, services);
  const w = T0 + 2 * 60 * MIN + 17 * MIN;
  const input = msgs.map((m) => encodeLine(m, m.ts)).join('');

  const mapped = await runScript('mapper.mjs', input, { HMS_WATERMARK: String(w), HMS_MR_MAP_KEYS: '0' });
  t.is(mapped.code, 0, mapped.stderr);
  t.regex(mapped.stderr, new RegExp(`reporter:counter:hms,map_records_kept,${msgs.filter((m) => m.ts < w).length}\n`));
  const rows = shuffle(mapped.stdout.trimEnd().split('\n'));
  // Two map tasks' worth, each combined, then reduced.
  const half = Math.floor(rows.length / 2);
  const c1 = await runScript('combiner.mjs', `${rows.slice(0, half).join('\n')}\n`);
  const c2 = await runScript('combiner.mjs', `${rows.slice(half).join('\n')}\n`);
  t.is(c1.code, 0, c1.stderr);
  const reduced = await runScript('reducer.mjs', `${shuffle([...c1.stdout.trimEnd().split('\n'), ...c2.stdout.trimEnd().split('\n')]).join('\n')}\n`);
  t.is(reduced.code, 0, reduced.stderr);

  // The same lines through DuckDB, as the duckdb engine reads them.
  const dir = await mkdtemp(join(tmpdir(), 'hms-mr-tasks-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'seg-000000000001.jsonl'), input);
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  const duck = (
    await conn.runAndReadAll(minuteAggregate(readSegments(), [], 'ts < $w'), { files: listValue([join(dir, 'seg-000000000001.jsonl')]), w: BigInt(w) }, { files: LIST(VARCHAR) })
  ).getRows();
  const asText = (rows: unknown[][]) => rows.map((r) => r.map(String).join(',')).sort();
  const mr = reduced.stdout
    .trimEnd()
    .split('\n')
    .map((l) => {
      const [service, ...rest] = l.split('\t');
      return [JSON.parse(service), ...rest];
    });
  t.true(duck.length > 500);
  t.is(new Set(mr.map((r) => r[0])).size, services.length, 'every service name survives the line format');
  t.deepEqual(asText(mr), asText(duck));
  conn.closeSync();
});

test('compiled scripts: a marked or malformed line and a missing watermark exit non-zero saying why', async (t) => {
  const good = encodeLine(msg({}), 0);
  const marked = await runScript('mapper.mjs', good + encodeLine(msg({ service: 'fail-here' }), 0), { HMS_WATERMARK: '1', HMS_MR_FAIL_MARKER: 'fail-here' });
  t.is(marked.code, 3);
  t.regex(marked.stderr, /^hms-mr mapper failed: failure marker "fail-here" in input line 2/m);
  const bad = await runScript('mapper.mjs', 'not json\n', { HMS_WATERMARK: '1' });
  t.is(bad.code, 3);
  t.regex(bad.stderr, /invalid master record at input line 1: malformed JSON/);
  const noW = await runScript('mapper.mjs', good, { HMS_WATERMARK: '' });
  t.is(noW.code, 2);
  t.regex(noW.stderr, /HMS_WATERMARK is not set/);
  const badRow = await runScript('reducer.mjs', '"a"\t1\t2\n');
  t.is(badRow.code, 3);
  t.regex(badRow.stderr, /hms-mr reducer failed: expected 15 tab-separated fields, got 3/);
});

// ---- submitting side ----

test('streaming command: generic options first, every input exactly once, key fields for map and combine output', (t) => {
  const inputs = ['hdfs://nn:8020/m/date=2026-11-27/hour=10/seg-000000000001.jsonl', 'hdfs://nn:8020/m/a,b/seg-000000000002.jsonl', 'hdfs://nn:8020/m/x/seg-3.jsonl'];
  const args = streamingArgs({
    inputs,
    output: 'hdfs://nn:8020/tmp/run-1/out',
    taskDir: '/opt/hms/dist/jobs/mapreduce/task',
    nodeBin: 'node',
    watermark: 123,
    inputListFile: '/tmp/x/inputs.xml',
    reduces: 2,
    splitBytes: 1000,
    mapKeys: 0,
    failMarker: 'boom',
    taskHeapMb: 200,
    local: { fsUri: 'hdfs://nn:8020', scratchDir: '/tmp/x/hadoop', mapSlots: 2 },
    jobName: 'j',
    conf: { 'mapreduce.job.reduces': '3' },
    inputFormat: 'HmsMasterInputFormat',
    libjars: ['/c/hms-mr-input.jar', '/c/parquet-hadoop-1.15.2.jar'],
  });
  const firstStreaming = args.indexOf('-inputformat');
  t.is(args[firstStreaming + 1], 'HmsMasterInputFormat');
  t.is(args[args.indexOf('-libjars') + 1], '/c/hms-mr-input.jar,/c/parquet-hadoop-1.15.2.jar');
  const lastGeneric = Math.max(args.lastIndexOf('-D'), args.indexOf('-files'), args.indexOf('-conf'), args.indexOf('-libjars'));
  t.true(lastGeneric < firstStreaming);
  const props = args.flatMap((a, i) => (args[i - 1] === '-D' ? [a] : []));
  t.true(props.includes('stream.num.map.output.key.fields=2'));
  t.true(props.includes('stream.num.reduce.output.key.fields=2'));
  t.true(props.includes('mapreduce.framework.name=local'));
  t.true(props.includes('fs.defaultFS=hdfs://nn:8020'));
  t.is(props.filter((p) => p.startsWith('mapreduce.job.reduces=')).length, 1, 'conf overrides, not duplicates');
  t.true(props.includes('mapreduce.job.reduces=3'));
  t.deepEqual(args.filter((_, i) => args[i - 1] === '-input'), [inputs[0]]);
  t.is(args[args.indexOf('-files') + 1], '/opt/hms/dist/jobs/mapreduce/task#hms-mr');
  t.is(args[args.indexOf('-combiner') + 1], 'node hms-mr/combiner.mjs');
  t.deepEqual(
    args.filter((_, i) => args[i - 1] === '-cmdenv'),
    ['HMS_WATERMARK=123', 'NODE_OPTIONS=--max-old-space-size=200', 'HMS_MR_MAP_KEYS=0', 'HMS_MR_FAIL_MARKER=boom'],
  );
  t.notRegex(inputListConf(inputs.slice(0, 1)), /inputdir/, 'one input: nothing to add to -input');
  const xml = inputListConf(inputs);
  t.false(xml.includes(inputs[0]));
  t.true(xml.includes('hdfs://nn:8020/m/a\\,b/seg-000000000002.jsonl,hdfs://nn:8020/m/x/seg-3.jsonl'));
  const cluster = streamingArgs({ inputs, output: 'o', taskDir: 'd', nodeBin: 'node', watermark: 1, inputListFile: 'f', reduces: 1, splitBytes: 1, taskHeapMb: 256, jobName: 'j', inputFormat: 'I' });
  t.false(cluster.includes('-libjars'), 'nothing to ship, no -libjars');
  t.false(cluster.some((a) => a.startsWith('mapreduce.framework.name') || a.startsWith('fs.defaultFS')), 'a cluster uses its own configuration');
  t.throws(() => streamingArgs({ inputs, output: 'o', taskDir: 'd', nodeBin: 'node', watermark: 1, inputListFile: 'f', reduces: 1, splitBytes: 1, taskHeapMb: 256, jobName: 'j', inputFormat: 'I', failMarker: 'a b' }), {
    message: /must not contain spaces/,
  });
});

/** Captured from a real local-mode run of this job with a failure marker (log4j pattern `%p %c{2}: %m%n`). */
const FAILED_RUN = `WARN impl.MetricsSystemImpl: JobTracker metrics system already initialized!
INFO mapreduce.Job: The url to track the job: http://localhost:8080/
INFO mapreduce.Job: Running job: job_local1320243744_0001
INFO mapreduce.Job: Job job_local1320243744_0001 running in uber mode : false
INFO mapreduce.Job:  map 0% reduce 0%
hms-mr mapper failed (map split starting at file:/tmp/mrt/in/b.jsonl): failure marker "ts" in input line 1: "{\\"service\\":\\"a\\"}"
WARN mapred.LocalJobRunner: job_local1320243744_0001
java.lang.Exception: java.lang.RuntimeException: PipeMapRed.waitOutputThreads(): subprocess failed with code 3
	at org.apache.hadoop.mapred.LocalJobRunner$Job.runTasks(LocalJobRunner.java:492)
	at org.apache.hadoop.mapred.LocalJobRunner$Job.run(LocalJobRunner.java:552)
Caused by: java.lang.RuntimeException: PipeMapRed.waitOutputThreads(): subprocess failed with code 3
	at org.apache.hadoop.streaming.PipeMapRed.waitOutputThreads(PipeMapRed.java:326)
	at java.base/java.lang.Thread.run(Thread.java:840)
INFO mapreduce.Job: Job job_local1320243744_0001 failed with state FAILED due to: NA
INFO mapreduce.Job: Counters: 0
ERROR streaming.StreamJob: Job not successful!
Streaming Command Failed!`;

/** Captured from a real YARN run of this job (MiniMRYarnCluster) with a failure marker, via `hadoop jar`'s log format. */
const FAILED_ON_YARN = `2026-11-27 22:42:33,179 INFO mapreduce.Job: Running job: job_1795819313501_0003
2026-11-27 22:42:38,262 INFO mapreduce.Job:  map 0% reduce 0%
2026-11-27 22:42:41,306 INFO mapreduce.Job: Task Id : attempt_1795819313501_0003_m_000000_0, Status : FAILED
Error: java.lang.RuntimeException: PipeMapRed.waitOutputThreads(): subprocess failed with code 3
	at org.apache.hadoop.streaming.PipeMapRed.waitOutputThreads(PipeMapRed.java:326)
	at org.apache.hadoop.mapred.YarnChild.main(YarnChild.java:172)

2026-11-27 22:42:44,331 INFO mapreduce.Job:  map 100% reduce 100%
2026-11-27 22:42:46,348 INFO mapreduce.Job: Job job_1795819313501_0003 failed with state FAILED due to: Task failed task_1795819313501_0003_m_000000
Job failed as tasks failed. failedMaps:1 failedReduces:0 killedMaps:0 killedReduces: 0

2026-11-27 22:42:46,386 INFO mapreduce.Job: Counters: 9
	Job Counters 
2026-11-27 22:42:46,387 ERROR streaming.StreamJob: Job not successful!
Streaming Command Failed!`;

test("job log: progress, job id and counters are read; a failure's text is Hadoop's own lines without stack frames", (t) => {
  const ok = new JobLog();
  const seen: string[] = [];
  for (const l of ['INFO mapreduce.Job: Running job: job_local1_0001', 'INFO mapreduce.Job:  map 0% reduce 0%', 'INFO mapreduce.Job:  map 0% reduce 0%', 'INFO mapreduce.Job:  map 50% reduce 0%', '2026-11-27 10:00:00,123 INFO mapreduce.Job:  map 100% reduce 33%', '\t\tMap input records=5000', '\t\tmap_records_kept=4000']) {
    const p = ok.line(l);
    if (p) seen.push(`${p.map}/${p.reduce}`);
  }
  t.deepEqual(seen, ['50/0', '100/33']);
  t.is(ok.jobId, 'job_local1_0001');
  t.is(ok.counters.get('Map input records'), 5000);
  t.is(ok.counters.get('map_records_kept'), 4000);

  const failed = new JobLog();
  for (const l of FAILED_RUN.split('\n')) failed.line(l);
  const text = failed.errorText('exit code 1');
  t.regex(text, /^MapReduce job job_local1320243744_0001 failed \(exit code 1\):/);
  t.regex(text, /hms-mr mapper failed .*failure marker "ts" in input line 1/);
  t.regex(text, /subprocess failed with code 3/);
  t.regex(text, /failed with state FAILED/);
  t.regex(text, /Job not successful/);
  t.notRegex(text, /\tat org\.apache/);
  const yarn = new JobLog();
  for (const l of FAILED_ON_YARN.split('\n')) yarn.line(l);
  t.is(
    yarn.errorText('exit code 1'),
    `MapReduce job job_1795819313501_0003 failed (exit code 1):
INFO mapreduce.Job: Task Id : attempt_1795819313501_0003_m_000000_0, Status : FAILED
Error: java.lang.RuntimeException: PipeMapRed.waitOutputThreads(): subprocess failed with code 3
INFO mapreduce.Job: Job job_1795819313501_0003 failed with state FAILED due to: Task failed task_1795819313501_0003_m_000000
Job failed as tasks failed. failedMaps:1 failedReduces:0 killedMaps:0 killedReduces: 0
ERROR streaming.StreamJob: Job not successful!
Streaming Command Failed!`,
  );
  const silent = new JobLog();
  silent.line('some unexpected last words');
  t.regex(silent.errorText('signal SIGKILL'), /not started\) failed \(signal SIGKILL\):\nsome unexpected last words/);
});
