import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { roundDerived } from '../../src/core/derived-precision.js';
import { usedPct } from '../../src/core/message.js';
import { MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_MINUTE } from '../../src/core/time.js';
import { quantize } from '../../src/serving/view-sql.js';
import { chunksOfHours, DuckDBBatchEngine } from '../../src/batch/duckdb-engine.js';
import type { MasterFile } from '../../src/storage/store.js';
import { batchKeepsAnswers, buildPipeline, random, randomMessages, randomWindows } from '../helpers/pipeline.js';

test('invariant 1: random windows give the same answer before and after each batch run, late data included', async (t) => {
  const p = await buildPipeline();
  const rnd = random(42);
  const start = p.clock.now - 2 * MICROS_PER_DAY - 7 * MICROS_PER_HOUR;
  const windows = randomWindows(rnd, start - MICROS_PER_HOUR, p.clock.now + MICROS_PER_HOUR, 40);
  let batches = 0;
  for (let step = 0; step < 4; step++) {
    // Data for the past days arrives in rounds; some of it is late relative to the previous watermark.
    p.ingest(randomMessages(rnd, 1500, start, p.clock.now));
    await p.speed.tick();
    // Messages pushed but not yet ticked must be merged before the swap, not counted twice after it.
    p.ingest(randomMessages(rnd, 200, p.clock.now - 30 * MICROS_PER_MINUTE, p.clock.now));
    await p.speed.tick();
    await batchKeepsAnswers(t, p, windows);
    batches++;
    // The batch layer really took over most of the data.
    const all = await p.query.stats(start - MICROS_PER_HOUR, p.clock.now + MICROS_PER_HOUR);
    t.true(all.every((s) => s.batchCount > s.realtimeCount));
    p.clock.now += 17 * MICROS_PER_MINUTE;
  }
  t.is(batches, 4);
  await p.close();
});

test('views hold the right numbers: per-hour counts, means, max and peak time against a direct computation', async (t) => {
  const p = await buildPipeline();
  const rnd = random(7);
  const msgs = randomMessages(rnd, 3000, p.clock.now - 5 * MICROS_PER_HOUR, p.clock.now - 2 * MICROS_PER_MINUTE, ['orders']);
  p.ingest(msgs);
  const run = await p.batch.run();
  t.is(run.status, 'SUCCEEDED');
  t.is(run.records, msgs.filter((m) => m.ts < run.watermark!).length);
  const hour = Math.floor((p.clock.now - 3 * MICROS_PER_HOUR) / MICROS_PER_HOUR) * MICROS_PER_HOUR;
  const inHour = msgs.filter((m) => m.ts >= hour && m.ts < hour + MICROS_PER_HOUR);
  const [stats] = await p.query.stats(hour, hour + MICROS_PER_HOUR, 'orders');
  t.is(stats.count, inHour.length);
  t.is(stats.batchCount, inHour.length);
  const ram = inHour.map((m) => quantize(usedPct(m.ramTotal, m.ramFree)));
  // The mean to 12 significant digits (derived-precision.ts): the exact quotient without its binary noise.
  t.is(stats.ram.mean, roundDerived(ram.reduce((a, b) => a + b, 0) / ram.length / 1e6));
  const maxCpu = Math.max(...inHour.map((m) => quantize(m.cpu)));
  t.is(stats.cpu.max, maxCpu / 1e6);
  t.is(stats.cpu.peakAt, Math.min(...inHour.filter((m) => quantize(m.cpu) === maxCpu).map((m) => m.ts)));
  t.is(stats.disk.min, Math.min(...inHour.map((m) => quantize(usedPct(m.diskTotal, m.diskFree)))) / 1e6);
  // series by hour agrees with stats for that hour
  const series = await p.query.series('orders', hour, hour + MICROS_PER_HOUR, 'HOUR');
  t.is(series.length, 1);
  t.is(series[0].count, inHour.length);
  t.deepEqual(series[0].cpu, stats.cpu);
  await p.close();
});

test('invariant 2: incremental runs give exactly the views of a full recompute', async (t) => {
  const p = await buildPipeline();
  const rnd = random(99);
  for (let step = 0; step < 5; step++) {
    p.ingest(randomMessages(rnd, 1200, p.clock.now - 3 * MICROS_PER_DAY, p.clock.now));
    const run = await p.batch.run();
    t.is(run.status, 'SUCCEEDED');
    t.is(run.mode, step === 0 ? 'FULL' : 'INCREMENTAL');
    p.clock.now += 23 * MICROS_PER_MINUTE;
  }
  // The clock stands still for the full run so that both see the same watermark.
  p.clock.now -= 23 * MICROS_PER_MINUTE;
  const incremental = await p.batchViews();
  const last = await p.batch.run();
  t.is(last.mode, 'INCREMENTAL');
  t.true(last.partitions! < 10, 'an incremental run with nothing new touches few partitions');
  const full = await p.batch.run({ full: true });
  t.is(full.mode, 'FULL');
  t.is(full.watermark, last.watermark);
  t.true(incremental.minute.length > 1000);
  t.deepEqual(await p.batchViews(), incremental);
  await p.close();
});

test('invariant 5: a failed batch run leaves views, watermark and realtime rows unchanged', async (t) => {
  const p = await buildPipeline();
  const rnd = random(5);
  p.ingest(randomMessages(rnd, 2000, p.clock.now - 6 * MICROS_PER_HOUR, p.clock.now));
  t.is((await p.batch.run()).status, 'SUCCEEDED');
  p.clock.now += 30 * MICROS_PER_MINUTE;
  p.ingest(randomMessages(rnd, 500, p.clock.now - 40 * MICROS_PER_MINUTE, p.clock.now));
  await p.speed.tick();
  const w = p.batch.watermark;
  const tables = { minute: await p.dump('batch_minute'), rt: await p.dump('rt_minute'), meta: await p.dump('meta') };
  const window: [number, number] = [p.clock.now - 7 * MICROS_PER_HOUR, p.clock.now];
  const before = await p.query.stats(...window);
  // A master "file" in a partition the run must read that no engine can read (a directory): the store fails,
  // not a record, so there is nothing to quarantine and the run fails.
  const hour = new Date(Math.floor((p.clock.now - 20 * MICROS_PER_MINUTE) / 1000)).toISOString();
  const dir = join(p.root, 'master', `date=${hour.slice(0, 10)}`, `hour=${hour.slice(11, 13)}`);
  await mkdir(join(dir, 'seg-000000000000.jsonl'), { recursive: true });
  const run = await p.batch.run();
  t.is(run.status, 'FAILED');
  // The answer has a code and a fixed sentence; the file and DuckDB's words went to the log.
  t.is(run.errorCode, 'ENGINE_FAILED');
  t.is(run.error, 'ENGINE_FAILED: the engine failed; see the daemon log');
  t.is(p.batch.watermark, w);
  t.deepEqual(await p.dump('batch_minute'), tables.minute);
  t.deepEqual(await p.dump('rt_minute'), tables.rt);
  t.deepEqual(await p.dump('meta'), tables.meta);
  t.deepEqual(await p.query.stats(...window), before);
  const conn = await p.db.connect();
  const recorded = (await conn.runAndReadAll('SELECT status, error FROM batch_runs WHERE id = $id', { id: run.id })).getRows();
  conn.closeSync();
  t.deepEqual(recorded[0], ['FAILED', run.error]);
  await p.close();
});

test('realtime views rebuilt from segments equal the live ones', async (t) => {
  const p = await buildPipeline();
  const rnd = random(11);
  p.ingest(randomMessages(rnd, 1500, p.clock.now - 3 * MICROS_PER_HOUR, p.clock.now));
  t.is((await p.batch.run()).status, 'SUCCEEDED');
  p.ingest(randomMessages(rnd, 800, p.clock.now - 2 * MICROS_PER_HOUR, p.clock.now));
  await p.speed.tick();
  const live = await p.dump('rt_minute');
  t.true(live.length > 50);
  // From the master files not absorbed (batch ran once, new data since) and the local segments.
  t.true((await p.speed.rebuild({ full: true })) > 800);
  t.deepEqual(await p.dump('rt_minute'), live);
  await p.close();
});

test('history: minute buckets of every service in one answer equal each service series, across W', async (t) => {
  const p = await buildPipeline();
  const rnd = random(23);
  p.ingest(randomMessages(rnd, 2000, p.clock.now - 50 * MICROS_PER_MINUTE, p.clock.now));
  t.is((await p.batch.run()).status, 'SUCCEEDED');
  p.ingest(randomMessages(rnd, 500, p.clock.now - 5 * MICROS_PER_MINUTE, p.clock.now));
  await p.speed.tick();
  const from = p.clock.now - 30 * MICROS_PER_MINUTE;
  const history = await p.query.history(from, p.clock.now);
  t.deepEqual(
    history.map((h) => h.service),
    ['orders', 'payments', 'search'],
  );
  for (const h of history) t.deepEqual(h.buckets, await p.query.series(h.service, from, p.clock.now, 'MINUTE'));
  t.true(history[0].buckets.length >= 28);
  const some = await p.query.history(from, p.clock.now, ['search']);
  t.deepEqual(some, history.filter((h) => h.service === 'search'));
  const err = await t.throwsAsync(p.query.history(from - 7 * MICROS_PER_HOUR, p.clock.now));
  t.is((err as { code?: string }).code, 'WINDOW_TOO_LARGE');
  await p.close();
});

test('the duckdb engine aggregates a chunk of hours at a time: any chunk size gives the same views', async (t) => {
  const rnd = random(31);
  const msgs = randomMessages(rnd, 3000, Date.UTC(2026, 10, 26, 1) * 1000, Date.UTC(2026, 10, 27, 11) * 1000);
  const views = [];
  for (const chunk of [Number.MAX_SAFE_INTEGER, 50, 1]) {
    const p = await buildPipeline({ engine: (store) => new DuckDBBatchEngine(store, chunk) });
    p.ingest(msgs);
    await p.ship();
    const run = await p.batch.run();
    t.is(run.status, 'SUCCEEDED');
    t.is(run.records, msgs.length);
    views.push(await p.batchViews());
    await p.close();
  }
  t.deepEqual(views[1], views[0]);
  t.deepEqual(views[2], views[0]);
});

test('chunks of hours: an hour is never split, hours go in time order, and a chunk holds about the messages asked', (t) => {
  const file = (hour: number, n: number, format: 'jsonl' | 'parquet' = 'jsonl'): MasterFile => ({
    partition: `h${hour}`,
    hour: hour * MICROS_PER_HOUR,
    segment: n,
    first: n,
    format,
    name: `f${hour}-${n}`,
    bytes: n * (format === 'jsonl' ? 150 : 13),
  });
  const files = [file(3, 400), file(1, 300), file(1, 300), file(2, 500, 'parquet'), file(4, 2000)];
  const chunks = chunksOfHours(files, 1000);
  t.deepEqual(
    chunks.map((c) => c.map((f) => f.name)),
    [['f1-300', 'f1-300'], ['f2-500', 'f3-400'], ['f4-2000']],
  );
  t.deepEqual(chunksOfHours(files, Number.MAX_SAFE_INTEGER).length, 1);
  t.deepEqual(chunksOfHours([], 10), []);
});
