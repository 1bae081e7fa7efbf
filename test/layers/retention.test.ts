import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { type Step, UserError } from '../../src/api.js';
import type { HealthMessage } from '../../src/core/message.js';
import { ceilTo, floorTo, MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_MINUTE } from '../../src/core/time.js';
import { quantize } from '../../src/serving/view-sql.js';
import { buildPipeline, dumpTable, random, randomMessages, withoutLayers } from '../helpers/pipeline.js';

const DAY = MICROS_PER_DAY;
const HOUR = MICROS_PER_HOUR;
const MIN = MICROS_PER_MINUTE;
const RETENTION = { rawUs: 3 * DAY, minuteUs: DAY, hourUs: 5 * DAY, dayUs: 10 * DAY, sizeBytes: 0 };

type P = Awaited<ReturnType<typeof buildPipeline>>;

/** What the answer over [from, to) of one service must be, computed from the messages themselves. */
function expected(msgs: HealthMessage[], service: string, from: number, to: number) {
  const inside = msgs.filter((m) => m.service === service && m.ts >= from && m.ts < to);
  const cpu = inside.map((m) => quantize(m.cpu));
  return { count: inside.length, cpuMax: Math.max(...cpu) / 1e6 };
}

async function walk(dir: string): Promise<{ path: string; entries: number }[]> {
  const out: { path: string; entries: number }[] = [];
  const entries = await readdir(dir, { withFileTypes: true });
  out.push({ path: dir, entries: entries.length });
  for (const e of entries) if (e.isDirectory()) out.push(...(await walk(join(dir, e.name))));
  return out;
}

async function minBucket(p: P, table: string): Promise<number> {
  const conn = await p.db.connect();
  try {
    return Number((await conn.runAndReadAll(`SELECT min(bucket) FROM ${table}`)).getRows()[0][0]);
  } finally {
    conn.closeSync();
  }
}

test('retention: each tier keeps what it should, the disk loses the rest, and older windows are answered from coarser views, saying so', async (t) => {
  const p = await buildPipeline({ retention: RETENTION });
  try {
    const now = p.clock.now; // 2026-11-27T12:00Z
    const rnd = random(12);
    const msgs = randomMessages(rnd, 8000, now - 12 * DAY, now - MIN);
    p.ingest(msgs);
    await p.ship();
    t.is((await p.batch.run()).status, 'SUCCEEDED');

    const windows = {
      recent: [now - 20 * HOUR + 7 * MIN, now - 3 * HOUR + 11 * MIN],
      hours: [now - 2 * DAY + 17 * MIN, now - 30 * HOUR + 5 * MIN],
      days: [now - 8 * DAY + 3 * HOUR + 5 * MIN, now - 6 * DAY + 2 * HOUR],
      span: [now - 9 * DAY, now],
    } satisfies Record<string, [number, number]>;
    for (const [from, to] of Object.values(windows)) {
      const [s] = await p.query.stats(from, to, 'orders');
      t.is(s.resolution, 'MINUTE', 'every tier is whole before retention');
      t.is(s.count, expected(msgs, 'orders', from, to).count);
    }

    const r = await p.lifecycle.applyRetention();
    const rawFrom = now - 3 * DAY;
    t.deepEqual(r.tiers, { rawFrom, minuteFrom: now - DAY, hourFrom: floorTo(now - 5 * DAY, DAY), dayFrom: floorTo(now - 10 * DAY, DAY) });
    const goneHours = new Set(msgs.filter((m) => m.ts < rawFrom).map((m) => floorTo(m.ts, HOUR)));
    t.is(r.partitions.length, goneHours.size);
    t.deepEqual(r.partitions, [...r.partitions].sort());
    t.true((await p.store.list()).every((f) => f.hour >= rawFrom));
    t.is((await p.store.list()).length > 0, true);
    // No empty directory is left behind: every date has hours, every hour has files.
    for (const d of await walk(join(p.root, 'master'))) t.true(d.entries > 0, `${d.path} is empty`);
    t.true((await minBucket(p, 'batch_minute')) >= now - DAY);
    t.true((await minBucket(p, 'batch_hour')) >= floorTo(now - 5 * DAY, DAY));
    t.true((await minBucket(p, 'batch_day')) >= floorTo(now - 10 * DAY, DAY));

    const check = async (name: keyof typeof windows, from: number, to: number, resolution: Step) => {
      const [s] = await p.query.stats(...windows[name], 'orders');
      t.is(s.resolution, resolution, name);
      t.deepEqual([s.coveredFrom, s.coveredTo], [from, to], name);
      const want = expected(msgs, 'orders', from, to);
      t.is(s.count, want.count, name);
      t.is(s.cpu.max, want.cpuMax, name);
    };
    await check('recent', floorTo(windows.recent[0], MIN), ceilTo(windows.recent[1], MIN), 'MINUTE');
    await check('hours', floorTo(windows.hours[0], HOUR), ceilTo(windows.hours[1], HOUR), 'HOUR');
    await check('days', floorTo(windows.days[0], DAY), ceilTo(windows.days[1], DAY), 'DAY');
    await check('span', floorTo(windows.span[0], DAY), now, 'DAY');
    // Before the day views' horizon there is nothing: a clear refusal, not an empty answer.
    const past = await t.throwsAsync(p.query.stats(now - 12 * DAY, now - 11 * DAY));
    t.true(past instanceof UserError && past.code === 'WINDOW_PAST_RETENTION');

    // A series across the minute horizon: hour buckets before it, minute buckets after, adding up to stats.
    const seriesWindow: [number, number] = [now - 26 * HOUR, now - 22 * HOUR];
    const buckets = await p.query.series('orders', ...seriesWindow, 'MINUTE');
    t.true(buckets.filter((b) => b.start < now - DAY).every((b) => b.resolution === 'HOUR' && b.start % HOUR === 0));
    t.true(buckets.filter((b) => b.start >= now - DAY).every((b) => b.resolution === 'MINUTE'));
    t.true(buckets.some((b) => b.resolution === 'HOUR') && buckets.some((b) => b.resolution === 'MINUTE'));
    t.is(
      buckets.reduce((n, b) => n + b.count, 0),
      (await p.query.stats(...seriesWindow, 'orders'))[0].count,
    );

    // The views of hours past the raw horizon are final: a full recompute (from what is left) keeps them.
    const answers = async () => withoutLayers(await p.query.stats(...windows.span));
    const kept = await answers();
    t.is((await p.batch.run({ full: true })).status, 'SUCCEEDED');
    t.deepEqual(await answers(), kept);

    // A late message inside the raw retention but past the minute views: exact before and after it is absorbed.
    const late: HealthMessage = { ...msgs[0], service: 'orders', ts: now - 2 * DAY + 5 * MIN + 7, cpu: 100 };
    p.ingest([late]);
    await p.speed.tick();
    const withLate = await answers();
    t.is(withLate.find((s) => s.service === 'orders')!.count, kept.find((s) => s.service === 'orders')!.count + 1);
    t.is((await p.batch.run()).status, 'SUCCEEDED');
    t.deepEqual(await answers(), withLate);
    const [hourOfLate] = await p.query.stats(now - 2 * DAY, now - 2 * DAY + HOUR, 'orders');
    t.is(hourOfLate.resolution, 'HOUR');
    t.is(hourOfLate.cpu.max, 100);
  } finally {
    await p.close();
  }
});

test('retention by size: the oldest partitions the batch holds leave first, until the master dataset fits', async (t) => {
  const seed = await buildPipeline();
  const now = seed.clock.now;
  const rnd = random(4);
  const msgs = randomMessages(rnd, 3000, now - 10 * HOUR, now - MIN);
  seed.ingest(msgs);
  await seed.ship();
  t.is((await seed.batch.run()).status, 'SUCCEEDED');
  const files = await seed.store.list();
  const total = files.reduce((n, f) => n + f.bytes, 0);
  await seed.close();

  const p = await buildPipeline({ retention: { ...RETENTION, rawUs: 30 * DAY, sizeBytes: Math.floor(total / 2) } });
  try {
    p.ingest(msgs);
    await p.ship();
    t.is((await p.batch.run()).status, 'SUCCEEDED');
    const before = await p.store.list();
    const r = await p.lifecycle.applyRetention();
    const left = await p.store.list();
    const bytes = left.reduce((n, f) => n + f.bytes, 0);
    t.true(bytes <= total / 2, `${bytes} bytes left, limit ${total / 2}`);
    // Oldest first: every partition removed is older than every one left, and one fewer would not have fit.
    const oldestLeft = Math.min(...left.map((f) => f.hour));
    t.true(r.partitions.length > 0);
    t.true(before.filter((f) => r.partitions.includes(f.partition)).every((f) => f.hour < oldestLeft));
    const lastRemoved = before.filter((f) => f.partition === r.partitions.at(-1));
    t.true(bytes + lastRemoved.reduce((n, f) => n + f.bytes, 0) > total / 2);
    t.is(r.tiers.rawFrom, oldestLeft);
    // The hours removed are still answered, from the batch views.
    const [s] = await p.query.stats(now - 10 * HOUR, now, 'orders');
    t.is(s.count, msgs.filter((m) => m.service === 'orders').length);
    const views = await dumpTable(p.db, 'batch_hour');
    t.is((await p.batch.run({ full: true })).status, 'SUCCEEDED');
    t.deepEqual(await dumpTable(p.db, 'batch_hour'), views, 'a full recompute keeps the views of the removed hours');
  } finally {
    await p.close();
  }
});
