/**
 * The engine's cluster mode (a configured submit command) with a stand-in for `hadoop jar` (no JVM): the
 * command it runs, progress, loading the output, Hadoop's error text, the timeout, release, and that
 * temporary directories go in every case.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import test, { type ExecutionContext } from 'ava';
import { pino } from 'pino';
import { LocalStore } from '../../src/storage/local-store.js';
import type { MasterFile } from '../../src/storage/store.js';
import { MapReduceBatchEngine, type MapReduceBatchEngineOptions } from '../../src/batch/mapreduce-engine.js';
import { AGG_COLUMN_DDL } from '../../src/serving/view-sql.js';
import { compiledTaskDir } from '../helpers/mapreduce-env.js';

const FAKE = join(import.meta.dirname, '..', 'helpers', 'mapreduce-fake-hadoop.ts');
const FILE: MasterFile = { partition: 'date=2026-11-27/hour=10', hour: 0, segment: 1, first: 1, format: 'jsonl', name: 'seg-000000000001.jsonl', bytes: 10 };

async function setup(t: ExecutionContext, mode: string, over: Partial<MapReduceBatchEngineOptions> = {}) {
  const root = await mkdtemp(join(tmpdir(), 'hms-mr-submit-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const scratch = join(root, 'scratch');
  await mkdir(scratch);
  const progress: string[] = [];
  const engine = new MapReduceBatchEngine({
    submit: [process.execPath, '--import', 'tsx', FAKE],
    env: { FAKE_HADOOP: mode, FAKE_HADOOP_ARGS: join(root, 'args.json') },
    store: new LocalStore('/data/master', join(root, 'quarantine'), join(root, 'tmp')),
    localTmp: scratch,
    taskDir: await compiledTaskDir(),
    log: pino({ level: 'silent' }),
    ...over,
  });
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  await conn.run(`CREATE TEMP TABLE stage_minute (service VARCHAR, bucket BIGINT, ${AGG_COLUMN_DDL})`);
  const leftovers = async () => [...(await readdir(join(root, 'tmp', 'mapreduce')).catch(() => [])), ...(await readdir(scratch))];
  const report = (m: number, r: number) => progress.push(`${m}/${r}`);
  return { root, engine, conn, progress, report, leftovers };
}

test('cluster mode: the submit command gets the streaming arguments; output rows land in stage_minute; progress; cleanup', async (t) => {
  const { root, engine, conn, progress, report, leftovers } = await setup(t, 'ok');
  await engine.computeMinutes(conn, [FILE], 120_000_000, report);
  const rows = (await conn.runAndReadAll('SELECT * FROM stage_minute ORDER BY bucket')).getRows().map((r) => r.map(String).join(','));
  t.deepEqual(rows, ['a\tb,0,2,10,4,6,1,20,9,11,2,30,14,16,3', 'c,60000000,2,10,4,6,60000001,20,9,11,60000002,30,14,16,60000003']);
  t.deepEqual(progress, ['50/0', '100/0', '100/100']);
  const args: string[] = JSON.parse(await readFile(join(root, 'args.json'), 'utf8'));
  t.is(args[args.indexOf('-input') + 1], 'file:///data/master/date=2026-11-27/hour=10/seg-000000000001.jsonl');
  t.true(args.includes('HMS_WATERMARK=120000000'));
  t.false(args.some((a) => a.startsWith('mapreduce.framework.name')), 'a cluster runs on its own framework');
  t.deepEqual(await leftovers(), []);
  conn.closeSync();
});

test("cluster mode: a failed job throws Hadoop's lines (no stack frames); nothing is loaded; cleanup", async (t) => {
  const { engine, conn, leftovers } = await setup(t, 'fail');
  const err = await t.throwsAsync(engine.computeMinutes(conn, [FILE], 120_000_000));
  t.regex(err.message, /^MapReduce job job_1700000000000_0042 failed \(exit code 1\):/);
  t.regex(err.message, /Status : FAILED/);
  t.regex(err.message, /Error: java.lang.RuntimeException: PipeMapRed.waitOutputThreads\(\): subprocess failed with code 3/);
  t.regex(err.message, /failed with state FAILED due to: Task failed/);
  t.regex(err.message, /Streaming Command Failed!/);
  t.notRegex(err.message, /\tat org/);
  t.is((await conn.runAndReadAll('SELECT count(*) FROM stage_minute')).getRows()[0][0], 0n);
  t.deepEqual(await leftovers(), []);
  conn.closeSync();
});

test('two rows for one (service, minute) in the output are refused rather than loaded', async (t) => {
  const { engine, conn } = await setup(t, 'duplicate');
  await t.throwsAsync(engine.computeMinutes(conn, [FILE], 120_000_000), { message: /more than one row for service "c" minute 60000000/ });
  conn.closeSync();
});

test('a job past its timeout is killed, and release() kills a job in progress', async (t) => {
  const killed = join(tmpdir(), `hms-mr-killed-${process.pid}`);
  // The job on the cluster is killed too (`mapred job -kill <id>`): here a script that records the id.
  const killCommand = [process.execPath, '-e', 'require("node:fs").writeFileSync(process.argv[1], process.argv[2])', killed];
  const timed = await setup(t, 'hang', { timeoutMs: 1500, killCommand });
  const err = await t.throwsAsync(timed.engine.computeMinutes(timed.conn, [FILE], 1));
  t.regex(err.message, /failed \(killed after 1500 ms\)/);
  t.regex(err.message, /map 50% reduce 0%/, 'the last words when nothing explains the failure');
  t.deepEqual(await timed.leftovers(), []);
  for (let i = 0; i < 100 && !existsSync(killed); i++) await new Promise((r) => setTimeout(r, 50));
  t.is(await readFile(killed, 'utf8'), 'job_1700000000000_0042');
  await rm(killed);

  const released = await setup(t, 'hang');
  const running = released.engine.computeMinutes(released.conn, [FILE], 1, released.report);
  while (released.progress.length === 0) await new Promise((r) => setTimeout(r, 50));
  await released.engine.release();
  t.regex((await t.throwsAsync(running)).message, /killed: engine released/);
  await t.throwsAsync(released.engine.computeMinutes(released.conn, [FILE], 1), { message: /released/ });
  timed.conn.closeSync();
  released.conn.closeSync();
});

test('a submit command that cannot start fails the run saying so', async (t) => {
  const { engine, conn, leftovers } = await setup(t, 'ok', { submit: ['/nonexistent/hadoop', 'jar'] });
  await t.throwsAsync(engine.computeMinutes(conn, [FILE], 1), { message: /cannot run \/nonexistent\/hadoop: spawn \/nonexistent\/hadoop ENOENT/ });
  t.deepEqual(await leftovers(), []);
  conn.closeSync();
});

test('no files: no job at all', async (t) => {
  const { root, engine, conn } = await setup(t, 'fail');
  await engine.computeMinutes(conn, [], 1);
  await t.throwsAsync(readFile(join(root, 'args.json')));
  conn.closeSync();
});
