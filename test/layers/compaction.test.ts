import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { sample } from '../../mock/behaviours.js';
import type { HealthMessage } from '../../src/core/message.js';
import { MICROS_PER_HOUR, MICROS_PER_MINUTE } from '../../src/core/time.js';
import { LocalStore } from '../../src/storage/local-store.js';
import { type MasterFile, partitionOf } from '../../src/storage/store.js';
import { buildPipeline, random, randomMessages, randomWindows, withoutLayers } from '../helpers/pipeline.js';

type P = Awaited<ReturnType<typeof buildPipeline>>;

/** Every answer a client could ask of a window set: stats (not which layer answered), and series of one service at each step. */
async function everything(p: P, windows: [number, number][]) {
  const series = [];
  for (const [a, b] of windows.slice(0, 6)) for (const step of ['MINUTE', 'HOUR', 'DAY'] as const) series.push(await p.query.series('orders', a, b, step));
  return { stats: (await p.answers(windows)).map(withoutLayers), series };
}

const byPartition = (files: MasterFile[]) => {
  const out = new Map<string, MasterFile[]>();
  for (const f of files) out.set(f.partition, [...(out.get(f.partition) ?? []), f]);
  return out;
};

test('compaction: each closed hour becomes one Parquet file; every answer, and a full recompute from the Parquet, stay the same', async (t) => {
  const p = await buildPipeline();
  try {
    const rnd = random(3);
    const now = p.clock.now;
    const from = now - 6 * MICROS_PER_HOUR;
    const msgs: HealthMessage[] = [];
    // Four shipped segments, so each hour has several files.
    for (let i = 0; i < 4; i++) {
      const batch = randomMessages(rnd, 800, from, now - MICROS_PER_MINUTE);
      msgs.push(...batch);
      p.ingest(batch);
      await p.ship();
    }
    const run = await p.batch.run();
    t.is(run.status, 'SUCCEEDED');
    const windows = randomWindows(rnd, from - MICROS_PER_HOUR, now + MICROS_PER_HOUR, 20);
    const before = await everything(p, windows);
    const views = await p.batchViews();
    const listed = await p.store.list();

    const result = await p.lifecycle.compact();
    // Closed hours: the hour ends at or before W (12:00 - 1 min lateness): 06:00 to 10:00.
    const closed = [...byPartition(listed).entries()].filter(([, fs]) => fs[0].hour + MICROS_PER_HOUR <= run.watermark!);
    t.is(result.partitions, closed.length);
    t.is(closed.length, 5);
    t.is(
      result.filesBefore,
      closed.reduce((n, [, fs]) => n + fs.length, 0),
    );
    t.is(
      result.records,
      msgs.filter((m) => m.ts < Math.floor(run.watermark! / MICROS_PER_HOUR) * MICROS_PER_HOUR).length,
    );
    const after = byPartition(await p.store.list());
    for (const [partition, fs] of closed) {
      const now = after.get(partition)!;
      t.is(now.length, 1, partition);
      t.is(now[0].format, 'parquet');
      t.is(now[0].first, Math.min(...fs.map((f) => f.first)));
      t.is(now[0].segment, Math.max(...fs.map((f) => f.segment)));
    }
    t.true([...after.values()].some((fs) => fs.every((f) => f.format === 'jsonl')), 'the open hour is left as it is');
    t.deepEqual(await everything(p, windows), before);

    // The batch engine reads Parquet: a full recompute gives the very same views.
    t.is((await p.batch.run({ full: true })).status, 'SUCCEEDED');
    t.deepEqual(await p.batchViews(), views);
    t.deepEqual(await everything(p, windows), before);

    // A late message for a compacted hour: an incremental run reads the Parquet and the new file together.
    const late = { ...msgs[0], ts: from + 2 * MICROS_PER_HOUR + 123, cpu: 99.5 };
    p.ingest([late]);
    await p.speed.tick();
    const withLate = await everything(p, windows);
    t.is((await p.batch.run()).status, 'SUCCEEDED');
    t.deepEqual(await everything(p, windows), withLate);
    const incremental = await p.batchViews();
    t.is((await p.batch.run({ full: true })).status, 'SUCCEEDED');
    t.deepEqual(await p.batchViews(), incremental);
    // ...and the next compaction folds the late file into a new Parquet file for that hour.
    const lateHour = partitionOf(late.ts);
    t.is(byPartition(await p.store.list()).get(lateHour)!.length, 2);
    const again = await p.lifecycle.compact();
    t.true(again.partitions >= 1);
    const merged = byPartition(await p.store.list()).get(lateHour)!;
    t.is(merged.length, 1);
    t.is(merged[0].format, 'parquet');
    t.deepEqual(await everything(p, windows), withLate);
    t.is((await p.batch.run({ full: true })).status, 'SUCCEEDED');
    t.deepEqual(await p.batchViews(), incremental);
  } finally {
    await p.close();
  }
});

test('compaction killed between the swap and the removal: no record is seen twice, and the next run tidies up', async (t) => {
  let failRemove = false;
  const p = await buildPipeline({
    store: (root) => {
      const store = new LocalStore(join(root, 'master'));
      const remove = store.remove.bind(store);
      store.remove = async (files) => {
        if (failRemove) throw new Error('killed (injected)');
        return remove(files);
      };
      return store;
    },
  });
  try {
    const rnd = random(8);
    const now = p.clock.now;
    for (let i = 0; i < 3; i++) {
      p.ingest(randomMessages(rnd, 500, now - 4 * MICROS_PER_HOUR, now - MICROS_PER_MINUTE));
      await p.ship();
    }
    t.is((await p.batch.run()).status, 'SUCCEEDED');
    const windows = randomWindows(rnd, now - 5 * MICROS_PER_HOUR, now, 10);
    const before = await everything(p, windows);
    const views = await p.batchViews();
    // A crash before the swap leaves a temporary file in a partition: no reader takes it for data.
    const partition = (await p.store.list())[0].partition;
    await writeFile(join(p.root, 'master', partition, '.compact-000000000001-000000000003.parquet.tmp'), 'half a file');

    failRemove = true;
    await t.throwsAsync(p.lifecycle.compact(), { message: 'killed (injected)' });
    const visible = byPartition(await p.store.list());
    const swapped = [...visible.values()].filter((fs) => fs.some((f) => f.format === 'parquet'));
    t.is(swapped.length, 1, 'the first partition was swapped in before the kill');
    t.is(swapped[0].length, 1, 'and its merged files, still on disk, are not listed');
    t.true((await p.store.list({ overshadowed: true })).length >= 3);
    t.deepEqual(await everything(p, windows), before);
    t.is((await p.batch.run({ full: true })).status, 'SUCCEEDED');
    t.deepEqual(await p.batchViews(), views);

    failRemove = false;
    const next = await p.lifecycle.compact();
    t.true(next.leftovers >= 3);
    t.deepEqual(await p.store.list({ overshadowed: true }), []);
    t.deepEqual(await everything(p, windows), before);
    t.is((await p.batch.run({ full: true })).status, 'SUCCEEDED');
    t.deepEqual(await p.batchViews(), views);
  } finally {
    await p.close();
  }
});

test('compacted, the master dataset takes under 30 bytes a message (a mock fleet of 100 services)', async (t) => {
  const p = await buildPipeline();
  try {
    const now = p.clock.now;
    const start = now - 3 * MICROS_PER_HOUR;
    const msgs: HealthMessage[] = [];
    // 100 services, one message every 26 s each, as the dataset has them.
    for (let s = 0; s < 100; s++) {
      for (let t = 0; start + t * 1e6 < now - MICROS_PER_HOUR; t += 26) {
        const r = sample(s, t, 1);
        if (!r) continue;
        msgs.push({ service: r.serviceName, ts: start + t * 1e6 + s * 1000 + 17, cpu: r.CPU, ramTotal: r.RAM.Total, ramFree: r.RAM.Free, diskTotal: r.Disk.Total, diskFree: r.Disk.Free });
      }
    }
    msgs.sort((a, b) => a.ts - b.ts);
    p.ingest(msgs);
    await p.ship();
    t.is((await p.batch.run()).status, 'SUCCEEDED');
    const jsonBytes = (await p.store.list()).reduce((n, f) => n + f.bytes, 0);
    const r = await p.lifecycle.compact();
    t.is(r.records, msgs.length);
    const perMessage = r.bytesAfter / r.records;
    t.log(`${msgs.length} messages: ${(jsonBytes / msgs.length).toFixed(1)} bytes a message as JSON lines, ${perMessage.toFixed(1)} compacted`);
    t.true(perMessage < 30, `${perMessage} bytes a message`);
    const files = await p.store.list();
    t.is(
      files.reduce((n, f) => n + f.bytes, 0),
      r.bytesAfter,
    );
    // Nothing else is left in the partitions: no temporary files, no merged files.
    for (const f of files) t.deepEqual(await readdir(join(p.root, 'master', f.partition)), [f.name]);
  } finally {
    await p.close();
  }
});
