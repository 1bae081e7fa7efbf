/**
 * The Spark speed engine against real Apache Spark (local[2], one driver for this file) over a local master
 * dataset read through file:// URIs. The HDFS twin of this file is spark-hdfs.test.ts.
 */
import { join } from 'node:path';
import test from 'ava';
import { MICROS_PER_HOUR, MICROS_PER_MINUTE } from '../../src/core/time.js';
import { batchKeepsAnswers, buildPipeline, random, randomMessages, randomWindows } from '../helpers/pipeline.js';
import { buildSparkPipeline, dumpTable, registerSparkUnavailable, sharedDriver, sparkAvailable, twins } from '../helpers/spark-pipeline.js';
import { boundaryMessages, straddling } from '../helpers/spark-data.js';
import { insertLine } from '../helpers/garbage.js';
import { acceptedMessages } from '../helpers/hostile.js';

const avail = await sparkAvailable();

if (!avail.ok) {
  registerSparkUnavailable(test, 'Spark speed engine (local files)', avail.why);
} else {
  const driver = sharedDriver(avail.runtime);
  test.before(async () => {
    await driver.start();
  });
  test.after.always(() => driver.stop());

  test.serial('invariant 3: duckdb and spark speed engines give identical realtime rows, data straddling W included', async (t) => {
    const duck = await buildPipeline();
    t.teardown(() => duck.close());
    const spark = await buildSparkPipeline({ driver });
    t.teardown(() => spark.close());
    const rnd = random(3);
    const { both, tickBoth } = twins(duck, spark);
    const compare = async (what: string) => {
      const rows = await dumpTable(spark.db, 'rt_minute');
      t.deepEqual(rows, await dumpTable(duck.db, 'rt_minute'), what);
      return rows;
    };

    // Round 1: no batch yet, hours of data and the quantisation edge cases.
    both([...randomMessages(rnd, 3000, duck.clock.now - 3 * MICROS_PER_HOUR, duck.clock.now + 30_000_000), ...boundaryMessages(duck.clock.now - 90 * MICROS_PER_MINUTE)]);
    await tickBoth();
    t.true((await compare('before any batch run')).length > 300);

    // A batch run fixes W and expires what it absorbed, identically in both.
    for (const p of [duck, spark]) t.is((await p.batch.run()).status, 'SUCCEEDED');
    t.is(spark.batch.watermark, duck.batch.watermark);
    const w = spark.batch.watermark!;
    await spark.speed.tick(); // recomputed from the master dataset under the new W
    await compare('after the batch run');

    // Round 2: late rows below W in new segments, rows around W, and rows already shipped before W moved.
    both(straddling(rnd, w, 1500));
    await tickBoth();
    const rows = await compare('data straddling W');
    const buckets = rows.map((r) => Number(r.split(',')[1]));
    t.true(buckets.some((b) => b < w), 'late rows below W stay realtime until a batch absorbs them');
    t.true(buckets.some((b) => b >= w));

    // Round 3: messages pushed but not ticked when the batch runs; then a tick.
    for (const p of [duck, spark]) p.clock.now += 11 * MICROS_PER_MINUTE;
    both(randomMessages(rnd, 800, duck.clock.now - 25 * MICROS_PER_MINUTE, duck.clock.now + 20_000_000));
    for (const p of [duck, spark]) t.is((await p.batch.run()).status, 'SUCCEEDED');
    await tickBoth();
    await compare('after a second batch run');
    t.deepEqual(await dumpTable(spark.db, 'batch_minute'), await dumpTable(duck.db, 'batch_minute'));
    t.is(spark.speed.status().failures, 0);
    t.true(spark.speed.status().lastTick!.sparkMs > 0);
  });

  test.serial('whatever the decoder accepts, Spark reads as DuckDB does: generated names and numbers, identical realtime rows', async (t) => {
    const duck = await buildPipeline();
    t.teardown(() => duck.close());
    const spark = await buildSparkPipeline({ driver });
    t.teardown(() => spark.close());
    // Names of every script, emoji, combining marks, quotes and backslashes; 5e-324, 1e308, -0; the times
    // are moved into the last three hours (the decoder's own property test covers times).
    const msgs = acceptedMessages(2000, 99).map((m, i) => ({ ...m, ts: duck.clock.now - ((m.ts + i) % (3 * MICROS_PER_HOUR)) }));
    t.true(new Set(msgs.map((m) => m.service)).size > 300);
    t.true(msgs.filter((m) => /[^ -~]/.test(m.service)).length > 200, 'many names beyond ASCII');
    const { both, tickBoth } = twins(duck, spark);
    both(msgs);
    await tickBoth();
    const rows = await dumpTable(spark.db, 'rt_minute');
    t.deepEqual(rows, await dumpTable(duck.db, 'rt_minute'));
    const stats = await spark.query.stats(duck.clock.now - 4 * MICROS_PER_HOUR, duck.clock.now + MICROS_PER_HOUR);
    t.is(stats.reduce((n, s) => n + s.count, 0), msgs.length);
  });

  test.serial('a job over files whose rows the batch absorbed gives empty realtime views (an empty output is loaded)', async (t) => {
    const p = await buildSparkPipeline({ driver });
    t.teardown(() => p.close());
    // All in the current hour and before W: the file is read (its hour reaches W), every row is filtered out.
    p.clock.now += 30 * MICROS_PER_MINUTE;
    const hour = Math.floor(p.clock.now / MICROS_PER_HOUR) * MICROS_PER_HOUR;
    p.ingest(randomMessages(random(9), 300, hour, p.clock.now - 5 * MICROS_PER_MINUTE));
    await p.speed.tick();
    t.true((await dumpTable(p.db, 'rt_minute')).length > 0);
    t.is((await p.batch.run()).status, 'SUCCEEDED');
    await p.speed.tick();
    const timing = p.speed.status().lastTick!;
    t.is(timing.files, 1);
    t.false(timing.skipped);
    t.is(timing.rows, 0);
    t.deepEqual(await dumpTable(p.db, 'rt_minute'), []);
    // Nothing new: the next tick runs no job.
    await p.speed.tick();
    t.true(p.speed.status().lastTick!.skipped);
  });


  test.serial('invariant 1 with --speed-engine spark: answers are the same before and after each batch run', async (t) => {
    const p = await buildSparkPipeline({ driver });
    t.teardown(() => p.close());
    const rnd = random(42);
    const start = p.clock.now - 5 * MICROS_PER_HOUR;
    const windows = randomWindows(rnd, start - MICROS_PER_HOUR, p.clock.now + 2 * MICROS_PER_HOUR, 30);
    for (let step = 0; step < 3; step++) {
      p.ingest(randomMessages(rnd, 1500, start, p.clock.now));
      await p.speed.tick();
      p.ingest(randomMessages(rnd, 200, p.clock.now - 30 * MICROS_PER_MINUTE, p.clock.now));
      await p.speed.tick();
      const after = await batchKeepsAnswers(t, p, windows);
      // ...and a Spark tick after the swap recomputes the same realtime part.
      await p.speed.tick();
      const ticked = await p.answers(windows);
      t.deepEqual(ticked, after);
      const all = await p.query.stats(start - MICROS_PER_HOUR, p.clock.now + MICROS_PER_HOUR);
      t.true(all.every((s) => s.batchCount > s.realtimeCount && s.realtimeCount > 0));
      p.clock.now += 17 * MICROS_PER_MINUTE;
    }
  });

  test.serial('an unreadable master line is quarantined and the tick retried; a failed job keeps the views and the next tick retries', async (t) => {
    const p = await buildSparkPipeline({ driver });
    t.teardown(() => p.close());
    const rnd = random(5);
    p.ingest(randomMessages(rnd, 1000, p.clock.now - 2 * MICROS_PER_HOUR, p.clock.now));
    await p.speed.tick();
    const rt = await dumpTable(p.db, 'rt_minute');
    const window: [number, number] = [p.clock.now - 3 * MICROS_PER_HOUR, p.clock.now + MICROS_PER_HOUR];
    const before = await p.query.stats(...window);
    t.true(rt.length > 100);

    // A garbage line in a master file: Spark's reader fails on it (FAILFAST, as DuckDB does); the line goes
    // to the quarantine and the job runs again over the rest.
    const [victim] = await p.store.list();
    await insertLine(join(p.root, 'master', victim.partition, victim.name), '{"service": "x", "ts": not json\n');
    const ingested = randomMessages(rnd, 50, p.clock.now - MICROS_PER_MINUTE, p.clock.now);
    p.ingest(ingested);
    await p.speed.tick();
    t.is(p.quarantine.lines, 1);
    t.is(p.speed.status().failures, 0);
    const count = (s: typeof before) => s.reduce((n, x) => n + x.count, 0);
    const after = await p.query.stats(...window);
    t.is(count(after), count(before) + ingested.length, 'every record but the garbage is counted');
    const [orders] = after.filter((s) => s.service === 'orders');

    // A driver that dies in the middle of a job: that tick fails, the views stay, the next tick starts a new one.
    p.ingest(randomMessages(rnd, 50, p.clock.now - MICROS_PER_MINUTE, p.clock.now));
    const rt2 = await dumpTable(p.db, 'rt_minute');
    const starts = driver.starts;
    const ticking = p.speed.tick();
    let settled = false;
    ticking.then(
      () => (settled = true),
      () => (settled = true),
    );
    while (!driver.busy && !settled) await new Promise((r) => setTimeout(r, 10));
    driver.kill();
    const died = await t.throwsAsync(ticking);
    t.regex(died.message, /driver exited/);
    const status = p.speed.status();
    t.is(status.engine, 'spark');
    t.is(status.failures, 1);
    t.is(status.consecutiveFailures, 1);
    t.is(status.lastError, died.message);
    t.deepEqual(await dumpTable(p.db, 'rt_minute'), rt2);
    await p.speed.tick();
    t.is(driver.starts, starts + 1);
    t.is(p.speed.status().failures, 1);
    t.is(p.speed.status().consecutiveFailures, 0);
    t.true((await p.query.stats(...window, 'orders'))[0].count > orders.count);
  });
}
