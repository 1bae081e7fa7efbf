import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { MICROS_PER_HOUR } from '../../src/core/time.js';
import { readMeta } from '../../src/serving/database.js';
import { LocalStore } from '../../src/storage/local-store.js';
import type { MasterFile } from '../../src/storage/store.js';
import { buildPipeline, random, randomMessages } from '../helpers/pipeline.js';

/** A local store that records which master files an engine stages (what a start-up reads). */
function countingStore(root: string) {
  const store = new LocalStore(join(root, 'master'));
  const staged: MasterFile[] = [];
  const stage = store.stage.bind(store);
  store.stage = (files) => {
    staged.push(...files);
    return stage(files);
  };
  return { store, staged };
}

const savedProgress = async (p: Awaited<ReturnType<typeof buildPipeline>>) => {
  const conn = await p.db.connect();
  try {
    return await readMeta(conn, 'speed_segment');
  } finally {
    conn.closeSync();
  }
};

test('a restart reads only the segments after the realtime views saved progress, and answers as a full rebuild does', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hms-progress-'));
  const rnd = random(5);
  try {
    const first = await buildPipeline({ dir });
    const now = first.clock.now;
    const window: [number, number] = [now - 4 * MICROS_PER_HOUR, now + MICROS_PER_HOUR];
    // Shipped segments the batch never absorbed: before, a start-up read every one of them again.
    for (let i = 0; i < 6; i++) {
      first.ingest(randomMessages(rnd, 300, now - 3 * MICROS_PER_HOUR, now));
      await first.ship();
      await first.speed.tick();
    }
    const merged = await savedProgress(first);
    t.is(merged, first.segments.sealedUpTo, 'each tick saves the last sealed segment it holds');
    // Lines of the open segment that a tick merged, then more of it, sealed and shipped with no tick after.
    first.ingest(randomMessages(rnd, 100, now - MICROS_PER_HOUR, now));
    await first.speed.tick();
    t.is(await savedProgress(first), merged, 'a segment still open is not held in full');
    first.ingest(randomMessages(rnd, 200, now - MICROS_PER_HOUR, now));
    await first.ship();
    // Pushed and never merged: a restart finds them in the open segment's file.
    first.ingest(randomMessages(rnd, 50, now - MICROS_PER_HOUR, now));
    await first.close();

    const { store, staged } = countingStore(dir);
    const again = await buildPipeline({ dir, store: () => store });
    try {
      t.true(staged.length > 0);
      t.deepEqual(
        [...new Set(staged.map((f) => f.segment))],
        [merged! + 1],
        'only the master files of the segment shipped after the saved progress are read again',
      );
      const stats = await again.query.stats(...window);
      t.is(
        stats.reduce((n, r) => n + r.count, 0),
        6 * 300 + 100 + 200 + 50,
      );
      const rows = await again.dump('rt_minute');
      await again.speed.rebuild({ full: true });
      t.deepEqual(await again.dump('rt_minute'), rows, 'the same rows as reading everything again');
      t.deepEqual(await again.query.stats(...window), stats);
    } finally {
      await again.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
