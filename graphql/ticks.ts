/**
 * The clock behind the `services` and `pipeline` subscriptions: pull-based, so a slow client or a slow core
 * never piles up pushes, and abortable, so neither a departing client nor a stopping server waits out an interval.
 */

/** Resolves after `ms`, or at once when `signal` aborts; never rejects, so an abort ends a loop instead of throwing. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Yields 0 at once, then 1, 2, ... every `intervalMs` after the previous value was taken, until `return()`
 * is called (client gone) or `shutdown` aborts (server stopping).
 */
export function ticks(intervalMs: number, shutdown?: AbortSignal): AsyncGenerator<number, void, unknown> {
  const stop = new AbortController();
  const signal = shutdown ? AbortSignal.any([stop.signal, shutdown]) : stop.signal;
  async function* run(): AsyncGenerator<number, void, unknown> {
    for (let n = 0; !signal.aborted; n++) {
      yield n;
      await pause(intervalMs, signal);
    }
  }
  const gen = run();
  const finish = gen.return.bind(gen);
  // An async generator queues return() behind a pending next(), which here sits in pause(): abort the pause first.
  gen.return = (value) => {
    stop.abort();
    return finish(value);
  };
  return gen;
}
