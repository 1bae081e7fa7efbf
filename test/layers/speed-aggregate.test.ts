/**
 * The DuckDB speed layer folds messages into minute rows in memory (src/speed/duckdb-speed.ts); the rebuild
 * at start computes the same rows in SQL from the segment files (minuteAggregate). They must agree to the
 * bit, ties of the maximum (the earliest time wins) and extreme values included.
 */
import test from 'ava';
import fc from 'fast-check';
import type { HealthMessage } from '../../src/core/message.js';
import { MICROS_PER_MINUTE } from '../../src/core/time.js';
import { buildPipeline } from '../helpers/pipeline.js';

const T0 = Date.UTC(2026, 10, 27, 11, 0, 0) * 1000;

// Few distinct values and times, so that maxima tie and several messages share a time.
const value = fc.constantFrom(0, 0.1, 0.2, 0.30000000000000004, 33.333333, 50, 99.9999995, 100);
const message = fc.record({
  service: fc.constantFrom('a', 'b', 'ü-ß', 'x "y"'),
  ts: fc.integer({ min: 0, max: 180 }).map((s) => T0 + s * 1_000_000 + (s % 7)),
  cpu: value,
  ramTotal: fc.constantFrom(1, 16, 3.3, 1e-300, 1e300),
  ramUsed: fc.constantFrom(0, 0.5, 1 / 3, 1),
  diskTotal: fc.constantFrom(100, 512, 7),
  diskUsed: fc.constantFrom(0, 0.25, 0.999, 1),
});

test('property: the minute rows folded in memory equal minuteAggregate over the same segment lines', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 300 }), fc.integer({ min: 1, max: 3 }), async (drawn, ticks) => {
      const p = await buildPipeline();
      try {
        p.clock.now = T0 + 10 * MICROS_PER_MINUTE;
        const msgs: HealthMessage[] = drawn.map((m) => ({
          service: m.service,
          ts: m.ts,
          cpu: m.cpu,
          ramTotal: m.ramTotal,
          ramFree: m.ramTotal * (1 - m.ramUsed),
          diskTotal: m.diskTotal,
          diskFree: m.diskTotal * (1 - m.diskUsed),
        }));
        // Merged over several ticks, across a segment seal: rows of one minute merge in rt_minute too.
        const per = Math.ceil(msgs.length / ticks);
        for (let i = 0; i < msgs.length; i += per) {
          p.ingest(msgs.slice(i, i + per));
          if (i > 0) await p.segments.seal();
          await p.speed.tick();
        }
        const live = await p.dump('rt_minute');
        t.is(await p.speed.rebuild({ full: true }), msgs.length);
        t.deepEqual(await p.dump('rt_minute'), live);
      } finally {
        await p.close();
      }
    }),
    { numRuns: 25 },
  );
});

test('a tick that fails keeps its rows; the next tick merges them with its own, keys that come twice included', async (t) => {
  const p = await buildPipeline();
  try {
    p.clock.now = T0 + 10 * MICROS_PER_MINUTE;
    const msg = (i: number): HealthMessage => ({ service: `s${i % 3}`, ts: T0 + i * 7_000_000, cpu: i % 101, ramTotal: 16, ramFree: i % 16, diskTotal: 100, diskFree: 50 });
    const conn = (p.speed as unknown as { conn: { run: (sql: string, ...rest: unknown[]) => Promise<unknown> } }).conn;
    const run = conn.run.bind(conn);
    let failures = 1;
    conn.run = (sql, ...rest) => (sql.startsWith('INSERT INTO rt_minute') && failures-- > 0 ? Promise.reject(new Error('disk full (injected)')) : run(sql, ...rest));
    p.ingest(Array.from({ length: 40 }, (_, i) => msg(i)));
    await t.throwsAsync(p.speed.tick(), { message: 'disk full (injected)' });
    t.true(p.speed.pendingBytes > 0);
    p.ingest(Array.from({ length: 40 }, (_, i) => msg(i + 20))); // the same minutes and services again
    t.is(await p.speed.tick(), 80);
    t.is(p.speed.pendingBytes, 0);
    const live = await p.dump('rt_minute');
    t.is(await p.speed.rebuild({ full: true }), 80);
    t.deepEqual(await p.dump('rt_minute'), live);
  } finally {
    await p.close();
  }
});
