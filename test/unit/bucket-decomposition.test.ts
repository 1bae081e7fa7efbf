import test from 'ava';
import { MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_MINUTE } from '../../src/core/time.js';
import { decompose } from '../../src/serving/bucket-decomposition.js';
import { alignWindow } from '../../src/serving/query-service.js';

const at = (iso: string) => Date.parse(iso) * 1000;
const STEP = { minute: MICROS_PER_MINUTE, hour: MICROS_PER_HOUR, day: MICROS_PER_DAY };

test('a window across a month end uses whole days, then hours, then minutes', (t) => {
  const pieces = decompose(at('2026-10-30T22:45:00Z'), at('2026-11-02T01:10:00Z'));
  t.deepEqual(
    pieces.map((p) => [p.granularity, new Date(p.from / 1000).toISOString(), new Date(p.to / 1000).toISOString()]),
    [
      ['minute', '2026-10-30T22:45:00.000Z', '2026-10-30T23:00:00.000Z'],
      ['hour', '2026-10-30T23:00:00.000Z', '2026-10-31T00:00:00.000Z'],
      ['day', '2026-10-31T00:00:00.000Z', '2026-11-02T00:00:00.000Z'],
      ['hour', '2026-11-02T00:00:00.000Z', '2026-11-02T01:00:00.000Z'],
      ['minute', '2026-11-02T01:00:00.000Z', '2026-11-02T01:10:00.000Z'],
    ],
  );
});

test('inside one hour only minutes; exact hours only hours; exact days only days', (t) => {
  t.deepEqual(decompose(at('2026-11-27T10:05:00Z'), at('2026-11-27T10:55:00Z')), [
    { granularity: 'minute', from: at('2026-11-27T10:05:00Z'), to: at('2026-11-27T10:55:00Z') },
  ]);
  t.deepEqual(decompose(at('2026-11-27T10:00:00Z'), at('2026-11-27T13:00:00Z')), [
    { granularity: 'hour', from: at('2026-11-27T10:00:00Z'), to: at('2026-11-27T13:00:00Z') },
  ]);
  t.deepEqual(decompose(at('2024-02-28T00:00:00Z'), at('2024-03-01T00:00:00Z')), [
    { granularity: 'day', from: at('2024-02-28T00:00:00Z'), to: at('2024-03-01T00:00:00Z') },
  ]);
  t.deepEqual(decompose(at('2026-11-27T10:00:00Z'), at('2026-11-27T10:00:00Z')), []);
});

test('property: pieces are aligned, ordered, contiguous and tile the window exactly', (t) => {
  let seed = 7;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const base = at('2026-01-01T00:00:00Z');
  for (let i = 0; i < 2000; i++) {
    const a = base + Math.floor(rnd() * 60 * 24 * 90) * MICROS_PER_MINUTE;
    const b = a + Math.floor(rnd() * 60 * 24 * 10) * MICROS_PER_MINUTE;
    const pieces = decompose(a, b);
    let cursor = a;
    for (const p of pieces) {
      t.is(p.from, cursor);
      t.true(p.to > p.from);
      t.is(p.from % STEP[p.granularity], 0);
      t.is(p.to % STEP[p.granularity], 0);
      cursor = p.to;
    }
    if (cursor !== Math.max(a, b)) t.fail(`gap at ${a}..${b}`);
    t.true(pieces.filter((p) => p.granularity === 'day').length <= 1);
    t.true(pieces.filter((p) => p.granularity === 'hour').length <= 2);
    t.true(pieces.filter((p) => p.granularity === 'minute').length <= 2);
  }
});

test('unaligned windows widen to whole minutes; empty windows are a BAD_WINDOW error', (t) => {
  t.deepEqual(alignWindow(at('2026-11-27T10:05:30Z'), at('2026-11-27T10:07:01Z')), [at('2026-11-27T10:05:00Z'), at('2026-11-27T10:08:00Z')]);
  const err = t.throws(() => alignWindow(at('2026-11-27T10:05:00Z'), at('2026-11-27T10:05:00Z')));
  t.is((err as { code?: string }).code, 'BAD_WINDOW');
});
