/**
 * The mapreduce batch engine with Hadoop's LocalJobRunner on local files (`fsUri` file:///): the engine as
 * `--storage local --batch-engine mapreduce` would use it. The same engine against a real HDFS is in
 * mapreduce-hdfs.test.ts. Each job costs a JVM start (seconds): three jobs here (one fails on a bad record, one
 * reads the compacted Parquet).
 */
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { pino } from 'pino';
import { MICROS_PER_HOUR } from '../../src/core/time.js';
import { MapReduceBatchEngine } from '../../src/batch/mapreduce-engine.js';
import { registerUnavailable } from '../helpers/hadoop-cluster.js';
import { compiledTaskDir, mapreduceAvailable } from '../helpers/mapreduce-env.js';
import { buildMrPipeline } from '../helpers/mapreduce-pipeline.js';
import { insertLine } from '../helpers/garbage.js';
import { random, randomMessages } from '../helpers/pipeline.js';

const avail = await mapreduceAvailable();

if (!avail.ok) {
  registerUnavailable(test, 'mapreduce engine on local files', avail.why);
} else {
  test('local files: a batch run on the mapreduce engine gives the duckdb engine views; progress reported; temp dirs removed', async (t) => {
    const p = await buildMrPipeline();
    t.teardown(() => p.close());
    const tmpRoot = join(p.root, 'tmp', 'mapreduce');
    const scratch = join(p.root, 'mr-scratch');
    await mkdir(scratch);
    const { progress } = p.engine;
    const mrEngine = new MapReduceBatchEngine({
      submit: 'local',
      jarsDir: avail.jars,
      store: p.store,
      localTmp: scratch,
      taskDir: await compiledTaskDir(),
      nodeBin: process.execPath,
      log: pino({ level: 'silent' }),
    });
    p.engine.current = mrEngine;
    const rnd = random(21);
    p.ingest(randomMessages(rnd, 4000, p.clock.now - 5 * MICROS_PER_HOUR, p.clock.now));
    await p.ship();
    p.ingest(randomMessages(rnd, 2000, p.clock.now - 2 * MICROS_PER_HOUR, p.clock.now + 10 * 60_000_000));
    // An unreadable line in a master file the job reads: its map task fails, the line is quarantined and the
    // job runs again; the views then hold exactly the records around it.
    await p.ship();
    const [victim] = await p.store.list();
    await insertLine(join(p.localMaster, victim.partition, victim.name), '{"service":"x","ts":"not a time"}\n');
    const mr = await p.batch.run();
    t.is(mr.status, 'SUCCEEDED', mr.error ?? '');
    t.is(p.quarantine.lines, 1);
    t.is(mr.engine, 'mapreduce');
    const views = await p.batchViews();
    t.true(views.minute.length > 500);
    t.is(progress.at(-1), '100/100');

    await p.duckdbAgrees(t, mr, views);

    // Compacted into Parquet, the same master dataset gives the job the same records (HmsMasterInputFormat).
    const compacted = await p.lifecycle.compact();
    t.true(compacted.partitions >= 3);
    t.true((await p.store.list()).some((f) => f.format === 'parquet'));
    p.engine.current = mrEngine;
    const again = await p.batch.run({ full: true });
    t.is(again.status, 'SUCCEEDED', again.error ?? '');
    t.is(again.engine, 'mapreduce');
    t.is(again.records, mr.records);
    t.deepEqual(await p.batchViews(), views);

    t.deepEqual(await readdir(tmpRoot), [], 'run directory deleted');
    t.deepEqual(await readdir(scratch), [], 'local scratch deleted');
  });
}
