// Must stay the first import: forces colour on and pins TZ before ink/chalk load.
import './helpers/tui-env.js';
import test from 'ava';
import { render } from 'ink-testing-library';
import { Dashboard } from '../tui/Dashboard.js';
import { ErrorBoundary } from '../tui/ErrorBoundary.js';
import { colorEnabled } from '../tui/theme.js';
import type { ConnectionState, ServiceRow } from '../tui/types.js';
import { FakeClient } from './helpers/tui-fake-client.js';
import { measureFrameTimes } from './helpers/tui-frame-time.js';
import { clock, NOW, ORDERS_STATS, ordersSeries, pipeline, row } from './helpers/tui-fixtures.js';

const URL = 'http://127.0.0.1:4000/graphql';
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching ANSI escapes is the point
const ANSI = /\u001B\[[0-9;]*m/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: foreground colour codes (30-37, 90-97, 38;...)
const COLOUR = /\u001B\[(?:3[0-8]|9[0-7])[;m]/;
const plain = (s: string | undefined): string => (s ?? '').replace(ANSI, '');
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Waits for the frame an event causes: the next frame (up to 300 ms), then until no frame follows for a few ticks. */
async function settle(frames: string[], before: number): Promise<void> {
  const start = Date.now();
  while (frames.length === before && Date.now() - start < 300) await tick();
  let seen = -1;
  while (seen !== frames.length) {
    seen = frames.length;
    for (let i = 0; i < 5; i++) await tick();
  }
}

interface Mounted {
  client: FakeClient;
  exits: number[];
  frame: () => string;
  raw: () => string;
  press: (...keys: string[]) => Promise<void>;
  push: (rows: ServiceRow[]) => Promise<void>;
  connection: (state: ConnectionState) => Promise<void>;
  unmount: () => void;
}

async function mount(services: ServiceRow[], opts: { color?: boolean; columns?: number; rows?: number } = {}): Promise<Mounted> {
  const client = new FakeClient();
  const exits: number[] = [];
  const ui = render(
    <Dashboard
      client={client}
      url={URL}
      onExit={(code) => exits.push(code)}
      clock={clock}
      color={opts.color ?? true}
      size={{ columns: opts.columns ?? 80, rows: opts.rows ?? 24 }}
    />,
  );
  const before = ui.frames.length;
  client.pushPipeline(pipeline());
  client.pushServices(services);
  await settle(ui.frames, before);
  return {
    client,
    exits,
    frame: () => plain(ui.lastFrame()),
    raw: () => ui.lastFrame() ?? '',
    press: async (...keys) => {
      for (const k of keys) {
        const before = ui.frames.length;
        ui.stdin.write(k);
        await settle(ui.frames, before);
      }
    },
    push: async (rows) => {
      const before = ui.frames.length;
      client.pushServices(rows);
      await settle(ui.frames, before);
    },
    connection: async (state) => {
      const before = ui.frames.length;
      client.setConnection(state);
      await settle(ui.frames, before);
    },
    unmount: () => {
      ui.unmount();
      ui.cleanup();
    },
  };
}

/** Service names in the order the table shows them. */
const tableOrder = (frame: string, names: string[]): string[] =>
  frame
    .split('\n')
    .map((line) => names.find((n) => new RegExp(`\\s${n}\\s`).test(line)))
    .filter((n): n is string => n !== undefined);

const FLEET = [
  row('zeta-ok', 'OK', { cpu: 5 }),
  row('billing', 'CRIT', { cpu: 99, reasons: ['cpu 99% >= 90%'] }),
  row('search', 'WARN', { cpu: 80 }),
  row('alpha-ok', 'OK', { cpu: 50 }),
  row('mailer', 'SILENT', { cpu: 1, lastSeen: NOW - 125_000 }),
  row('auth', 'CRIT', { cpu: 20, diskUsed: 97 }),
  row('payments', 'WARN', { cpu: 70 }),
  row('payouts', 'OK', { cpu: 30 }),
];
const NAMES = FLEET.map((r) => r.service);

test.serial('the table lists the worst health first, then by name', async (t) => {
  const m = await mount(FLEET);
  t.deepEqual(tableOrder(m.frame(), NAMES), ['auth', 'billing', 'mailer', 'payments', 'search', 'alpha-ok', 'payouts', 'zeta-ok']);
  // The cursor starts on the worst service.
  t.regex(m.frame(), /› ✖ CRIT\s+auth /);
  // Header counts come from the same push.
  t.regex(m.frame(), /CRIT 2 SILENT 1 WARN 2 OK 3/);
  m.unmount();
});

test.serial('a row shows its numbers: cpu, ram, disk, free GB and last seen', async (t) => {
  const m = await mount([row('orders', 'WARN', { cpu: 42.6, ramUsed: 61.2, diskUsed: 88.4, diskFreeGb: 12.34, lastSeen: NOW - 4000 })]);
  const line = m.frame().split('\n').find((l) => l.includes('orders'))!;
  t.regex(line, /▲ WARN\s+orders\s+43%\s+61%\s+88%\s+12\.3\s+4s ago/);
  m.unmount();
});

test.serial('health reads without colour: NO_COLOR drops every colour code but keeps symbol and word', async (t) => {
  t.false(colorEnabled({ NO_COLOR: '1' }));
  t.true(colorEnabled({ NO_COLOR: '' }), 'an empty NO_COLOR does not count (no-color.org)');
  t.true(colorEnabled({}));

  const coloured = await mount(FLEET, { color: true });
  // The control: with colour on, CRIT is red (SGR 31), so the NO_COLOR check below can fail.
  t.true(coloured.raw().includes('\u001B[31m✖ CRIT'), 'CRIT is red with colour on');
  coloured.unmount();

  const mono = await mount(FLEET, { color: colorEnabled({ NO_COLOR: '1' }) });
  const raw = mono.raw();
  t.notRegex(raw, COLOUR);
  for (const [name, look] of [
    ['billing', '✖ CRIT'],
    ['mailer', '○ SILENT'],
    ['search', '▲ WARN'],
    ['zeta-ok', '✔ OK'],
  ]) {
    const line = plain(raw)
      .split('\n')
      .find((l) => l.includes(` ${name} `));
    t.truthy(line?.includes(look), `${name} shows "${look}" in: ${line}`);
  }
  mono.unmount();
});

test.serial('the detail view shows the fixture stats for the window, and w moves to 24h', async (t) => {
  const m = await mount(FLEET.concat(row('orders', 'OK', { ramFreeGb: 12.5, diskFreeGb: 210.3 })));
  m.client.statsFixture = [ORDERS_STATS, { ...ORDERS_STATS, service: 'other', count: 1 }];
  m.client.seriesFixture = ordersSeries();
  await m.press('/', 'orders', '\r', '\r');
  const f = m.frame();
  t.regex(f, /^orders {2}✔ OK/m);
  t.regex(f, /CPU %\s+42\.1\s+3\.0\s+97\.5\s+09:12:34/);
  t.regex(f, /RAM used %\s+61\.0\s+55\.5\s+70\.3\s+09:40:05/);
  t.regex(f, /Disk used %\s+59\.0\s+58\.1\s+59\.9\s+09:59:59/);
  t.regex(f, /window 1h · 3,600 messages: batch 3,000 \+ realtime 600/);
  t.regex(f, /RAM 20% free 12\.5 GB {2}disk 30% free 210 GB/);
  // The window sent to the daemon: the hour before the fixed now, for this service, per minute.
  const stats = m.client.queries.filter((q) => q.kind === 'stats');
  t.deepEqual(stats.at(-1), { kind: 'stats', service: 'orders', from: NOW - 3_600_000, to: NOW });
  t.is(m.client.queries.filter((q) => q.kind === 'series').at(-1)?.step, 'MINUTE');
  // The chart rises left to right (CPU climbs 0 -> 59 % in the fixture): its top row is filled only at the right.
  const top = f.split('\n').find((l) => l.startsWith(' 60% ┤'))!;
  t.truthy(top, 'chart scaled to 60 %');
  const bars = top.slice(' 60% ┤'.length);
  t.is(bars.slice(0, 10).trim(), '');
  t.not(bars.slice(-3).trim(), '');

  await m.press('w');
  t.regex(m.frame(), /w window:24h/);
  const day = m.client.queries.filter((q) => q.kind === 'series').at(-1)!;
  t.is(day.to - day.from, 24 * 3_600_000);
  t.is(day.step, 'HOUR');
  await m.press('\u001B');
  t.regex(m.frame(), /HEALTH\s+SERVICE/);
  m.unmount();
});

test.serial('the detail view says so when the window holds no message', async (t) => {
  const m = await mount(FLEET);
  await m.press('\r');
  t.regex(m.frame(), /no messages from auth in the last 1h/);
  m.unmount();
});

test.serial('/ filters by name as you type; Esc clears it', async (t) => {
  const m = await mount(FLEET);
  await m.press('/', 'p', 'a', 'y');
  t.deepEqual(tableOrder(m.frame(), NAMES), ['payments', 'payouts']);
  t.regex(m.frame(), /\/pay█ {2}2 of 8 match/);
  await m.press('\u007F'); // backspace: "pa" still matches the same two
  t.deepEqual(tableOrder(m.frame(), NAMES), ['payments', 'payouts']);
  await m.press('\r');
  t.regex(m.frame(), /1-2 of 2 matching \/pa/);
  await m.press('\u001B');
  t.is(tableOrder(m.frame(), NAMES).length, 8);
  // A health word filters by health.
  await m.press('/', 'crit', '\r');
  t.deepEqual(tableOrder(m.frame(), NAMES), ['auth', 'billing']);
  m.unmount();
});

test.serial('s cycles the sort: cpu puts the busiest first', async (t) => {
  const m = await mount(FLEET);
  await m.press('s');
  t.regex(m.frame(), /sort:cpu/);
  t.deepEqual(tableOrder(m.frame(), NAMES), ['billing', 'search', 'payments', 'alpha-ok', 'payouts', 'auth', 'zeta-ok', 'mailer']);
  await m.press('s', 's', 's');
  t.regex(m.frame(), /sort:free disk/);
  await m.press('s');
  t.regex(m.frame(), /sort:last seen/);
  t.is(tableOrder(m.frame(), NAMES)[0], 'mailer');
  m.unmount();
});

test.serial('the cursor follows its service when a push re-sorts the table', async (t) => {
  const m = await mount(FLEET);
  await m.press('j', 'j'); // auth -> billing -> mailer
  t.regex(m.frame(), /› ○ SILENT\s+mailer/);
  await m.push(FLEET.map((r) => (r.service === 'zeta-ok' ? { ...r, health: 'CRIT' as const } : r)));
  t.regex(m.frame(), /› ○ SILENT\s+mailer/);
  t.deepEqual(tableOrder(m.frame(), NAMES).slice(0, 4), ['auth', 'billing', 'zeta-ok', 'mailer']);
  m.unmount();
});

test.serial('losing the connection keeps the data on screen, marked stale', async (t) => {
  const m = await mount(FLEET);
  await m.connection({ status: 'reconnecting', attempt: 3, nextRetryAt: NOW + 4000, lastError: 'connect ECONNREFUSED 127.0.0.1:4000' });
  const f = m.frame();
  t.regex(f, /STALE/);
  t.regex(f, /STALE 0s ↻ reconnecting, retry in 4s \(#3\)/);
  t.regex(f, /connect ECONNREFUSED 127\.0\.0\.1:4000 · last data kept, marked STALE/);
  t.is(tableOrder(f, NAMES).length, 8, 'rows still shown');
  await m.connection({ status: 'connected', since: NOW });
  t.notRegex(m.frame(), /STALE/);
  t.regex(m.frame(), /● live/);
  m.unmount();
});

test.serial('b asks before running a batch; n cancels, y runs an incremental one', async (t) => {
  const m = await mount(FLEET);
  m.client.batchResult = { ...pipeline().lastBatch!, id: 'b-18', records: 4200 };
  await m.press('b');
  t.regex(m.frame(), /Run a batch now\? y = incremental, f = full recompute, n = cancel/);
  await m.press('n');
  t.deepEqual(m.client.batchCalls, []);
  await m.press('b', 'y');
  t.deepEqual(m.client.batchCalls, [false]);
  t.regex(m.frame(), /batch b-18 SUCCEEDED · INCREMENTAL · duckdb · 4\.20k records/);
  m.client.batchResult = new Error('not connected to the daemon');
  await m.press('b', 'f');
  t.deepEqual(m.client.batchCalls, [false, true]);
  t.regex(m.frame(), /batch not run: not connected to the daemon/);
  m.unmount();
});

test.serial('? opens help, Esc closes it, q quits with 0', async (t) => {
  const m = await mount(FLEET);
  await m.press('?');
  t.regex(m.frame(), /Health, worst first/);
  await m.press('\u001B');
  t.regex(m.frame(), /HEALTH\s+SERVICE/);
  t.deepEqual(m.exits, []);
  await m.press('q');
  t.deepEqual(m.exits, [0]);
  m.unmount();
});

test.serial('Ctrl-C quits, also while typing a filter', async (t) => {
  const m = await mount(FLEET);
  await m.press('/', 'x', '\u0003');
  t.deepEqual(m.exits, [0]);
  m.unmount();
});

test.serial('80x24: the frame fits, 23 lines of at most 80 columns, in every view', async (t) => {
  const long = row('a-service-name-much-longer-than-the-name-column-allows', 'CRIT');
  const m = await mount([...FLEET, long, ...Array.from({ length: 40 }, (_, i) => row(`filler-${i}`, 'OK'))]);
  m.client.statsFixture = [ORDERS_STATS];
  m.client.seriesFixture = ordersSeries();
  const check = (view: string): void => {
    const lines = m.frame().split('\n');
    t.is(lines.length, 23, `${view}: lines`);
    const widest = Math.max(...lines.map((l) => Array.from(l).length));
    t.true(widest <= 80, `${view}: widest line is ${widest}`);
  };
  check('table');
  t.regex(m.frame(), /a-service-name…/);
  t.regex(m.frame(), /1-17 of 49 services/);
  await m.press('\r');
  check('detail');
  await m.press('?');
  check('help');
  m.unmount();
});

test.serial('1000 services: only the visible rows are drawn and a frame stays fast', async (t) => {
  const small = await measureFrameTimes(40, 20);
  const big = await measureFrameTimes(1000, 40);
  const ms = (x: number): string => `${x.toFixed(1)} ms`;
  t.log(
    `frame time, 120x40 terminal, React ${process.env['NODE_ENV'] === 'production' ? 'production' : 'development'} build: ` +
      `1000 services: push→frame median ${ms(big.push.median)} p95 ${ms(big.push.p95)} max ${ms(big.push.max)}; ` +
      `key→frame median ${ms(big.key.median)} p95 ${ms(big.key.p95)} | ` +
      `40 services (also a full screen): push median ${ms(small.push.median)}, key median ${ms(small.key.median)}`,
  );
  t.is(big.frameLines, 39, 'the frame is the screen height');
  t.is(big.rowsDrawn, 33, 'rows drawn: what fits, not the fleet');
  t.true(big.push.median < 100, `push median ${ms(big.push.median)}`);
  t.true(big.key.median < 100, `key median ${ms(big.key.median)}`);
});

test.serial('a render bug shows one line and a way out, never a stack trace', async (t) => {
  const client = new FakeClient();
  const exits: number[] = [];
  const onExit = (code: number): void => {
    exits.push(code);
  };
  const ui = render(
    <ErrorBoundary onExit={onExit}>
      <Dashboard client={client} url={URL} onExit={onExit} clock={clock} size={{ columns: 80, rows: 24 }} />
    </ErrorBoundary>,
  );
  // React reports the caught error on console.error; keep the test output clean.
  const original = console.error;
  console.error = () => {};
  try {
    const before = ui.frames.length;
    // A row without a name cannot come through GraphQL (String!), which makes it a way to break a render.
    client.pushServices([{ ...row('x', 'OK'), service: undefined as unknown as string }]);
    await settle(ui.frames, before);
  } finally {
    console.error = original;
  }
  const f = plain(ui.lastFrame());
  t.regex(f, /^The dashboard hit an internal error\. Press any key to quit\.\n\S.*is not iterable/);
  t.notRegex(f, /\n\s+at /, 'no stack frames');
  const before = ui.frames.length;
  ui.stdin.write('x');
  await settle(ui.frames, before);
  t.deepEqual(exits, [1]);
  ui.unmount();
  ui.cleanup();
});
