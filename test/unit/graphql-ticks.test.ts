/** The subscription clock on its own: prompt first value, pacing, and prompt stop from either side. */
import test from 'ava';
import { ticks } from '../../graphql/ticks.js';

test('yields at once, then every interval', async (t) => {
  // Wide margins: the machine is shared, only "at once" versus "after the interval" is checked.
  const clock = ticks(2000);
  const began = Date.now();
  t.deepEqual(await clock.next(), { value: 0, done: false });
  t.true(Date.now() - began < 1000);
  t.deepEqual(await clock.next(), { value: 1, done: false });
  t.true(Date.now() - began >= 1950);
  await clock.return();
});

test('return() while waiting ends it at once, not after the interval', async (t) => {
  const clock = ticks(10_000);
  await clock.next();
  const pending = clock.next();
  const began = Date.now();
  t.deepEqual(await clock.return(), { value: undefined, done: true });
  t.deepEqual(await pending, { value: undefined, done: true });
  t.true(Date.now() - began < 5000);
  t.deepEqual(await clock.next(), { value: undefined, done: true });
});

test('the shutdown signal ends every clock, including ones created after it', async (t) => {
  const shutdown = new AbortController();
  const clock = ticks(10_000, shutdown.signal);
  await clock.next();
  const pending = clock.next();
  shutdown.abort();
  t.deepEqual(await pending, { value: undefined, done: true });
  t.deepEqual(await ticks(10, shutdown.signal).next(), { value: undefined, done: true });
});
