// Must stay the first import: forces colour on and pins TZ before ink/chalk load.
import '../helpers/tui-env.js';
import test from 'ava';
import { render } from 'ink-testing-library';
import stringWidth from 'string-width';
import { Dashboard } from '../../tui/Dashboard.js';
import { ErrorBoundary } from '../../tui/ErrorBoundary.js';
import { colorEnabled } from '../../tui/theme.js';
import { tableLayout } from '../../tui/ServiceTable.js';
import type { AlertView, ConnectionState, RejectedView, ServiceRow } from '../../tui/types.js';
import { FakeClient } from '../helpers/tui-fake-client.js';
import { measureFrameTimes } from '../helpers/tui-frame-time.js';
import {
  alert,
  clock,
  longBatch,
  NOW,
  ORDERS_STATS,
  ordersSeries,
  pipeline,
  risingHistory,
  row,
  widestPipeline,
} from '../helpers/tui-fixtures.js';

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
  pushAlert: (a: AlertView) => Promise<void>;
  connection: (state: ConnectionState) => Promise<void>;
  unmount: () => void;
}

interface MountOptions {
  color?: boolean;
  columns?: number;
  rows?: number;
  /** Sets fixtures the dashboard queries as it mounts (history, alerts). */
  prepare?: (client: FakeClient) => void;
}

async function mount(services: ServiceRow[], opts: MountOptions = {}): Promise<Mounted> {
  const client = new FakeClient();
  opts.prepare?.(client);
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
    pushAlert: async (a) => {
      const before = ui.frames.length;
      client.pushAlert(a);
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
  t.regex(m.frame(), /HEALTH▼\s+SERVICE/);
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
  t.regex(m.frame(), /sort: cpu ▼/);
  t.deepEqual(tableOrder(m.frame(), NAMES), ['billing', 'search', 'payments', 'alpha-ok', 'payouts', 'auth', 'zeta-ok', 'mailer']);
  await m.press('s', 's', 's');
  t.regex(m.frame(), /sort: free disk ▲/);
  await m.press('s');
  t.regex(m.frame(), /sort: last seen ▼/);
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
  t.regex(m.frame(), /batch SUCCEEDED · INCREMENTAL · duckdb · 4\.20k records · 3 partitions · in 5s/);
  m.client.batchResult = new Error('not connected to the daemon');
  await m.press('b', 'f');
  t.deepEqual(m.client.batchCalls, [false, true]);
  t.regex(m.frame(), /batch not run: not connected to the daemon/);
  m.unmount();
});

test.serial('? opens help, Esc closes it, q quits with 0', async (t) => {
  const m = await mount(FLEET);
  await m.press('?');
  t.regex(m.frame(), /Health {2}✖ CRIT {2}○ SILENT {2}▲ WARN {2}✔ OK {2}worst first/);
  await m.press('\u001B');
  t.regex(m.frame(), /HEALTH▼\s+SERVICE/);
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
  t.regex(m.frame(), /a-service-n…/);
  t.regex(m.frame(), /1-17 of 49 services/);
  await m.press('\r');
  check('detail');
  await m.press('?');
  check('help');
  m.unmount();
});

// Frame times are printed, not asserted: machines are shared and noisy (the figures go in the notes).
test.serial('1000 services: only the visible rows are drawn', async (t) => {
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
});

/** The line of `name` in the table (space-delimited, so "auth" does not match "oauth"). */
const lineOf = (frame: string, name: string): string => frame.split('\n').find((l) => l.includes(` ${name} `)) ?? '';

test.serial('the table shows the first health reason, readable without colour; 80 columns drop the RAM sparkline, not the reason', async (t) => {
  const fleet = [
    ...FLEET,
    row('disks', 'WARN', { reasons: ['disk 96.2%, alerting at >= 95% for 5m; clears < 90%', 'ram full in 40m at current rate'] }),
  ];
  const m = await mount(fleet, { color: false });
  const raw = m.raw();
  t.notRegex(raw, COLOUR);
  const f = plain(raw);
  t.regex(f, /SEEN CPU 15m\s+REASON/);
  t.notRegex(f, /RAM 15m/, 'the least important column goes first at 80 columns');
  t.regex(lineOf(f, 'billing'), /✖ CRIT\s+billing .* cpu 99% >= 90%\s*$/);
  t.regex(lineOf(f, 'mailer'), /○ SILENT\s+mailer .* silent reason\s*$/);
  // Cut to fit, and the count of the other reasons (all in the detail view) survives the cut.
  t.regex(lineOf(f, 'disks'), /disk 96\.2%, …\s\+1$/);
  t.regex(lineOf(f, 'zeta-ok'), /✔ OK\s+zeta-ok .*4s ago\s+\S+\s*$/, 'an OK row ends with its sparkline: no reason');
  for (const line of f.split('\n')) t.true(Array.from(line).length <= 80, line);
  m.unmount();

  const wide = await mount(fleet, { color: false, columns: 120 });
  t.regex(wide.frame(), /CPU 15m\s+RAM 15m\s+REASON/);
  t.regex(lineOf(wide.frame(), 'disks'), /disk 96\.2%, alerting … \+1$/, 'a wider terminal gives the reason the room');
  wide.unmount();
});

test.serial('the detail view lists every reason and the forecasts; nothing when there is no forecast', async (t) => {
  const reasons = ['disk 96.2% >= 95% for 45s', 'ram 91% >= 85% for 2m', 'disk full in 5h at current rate (+2.1%/h)'];
  const m = await mount([
    row('store', 'CRIT', { reasons, diskFullAt: NOW + 5 * 3_600_000 + 12 * 60_000, ramFullAt: NOW + 40 * 60_000 + 30_000 }),
    row('calm', 'OK'),
    row('later', 'OK', { diskFullAt: NOW + 3 * 86_400_000 }),
  ]);
  await m.press('\r');
  const f = m.frame();
  t.regex(f, /^store {2}✖ CRIT\n/m);
  for (const r of reasons) t.true(f.includes(`  · ${r}`), `"${r}" in:\n${f}`);
  // The fixtures' clock is 10:00 UTC.
  t.regex(f, /^forecast: disk full in 5h \(at 15:12 UTC\) · RAM full in 40m \(at 10:40 UTC\)$/m);
  const lines = f.split('\n');
  t.is(lines.length, 23, 'the reasons and the forecast take lines from the chart, not from the screen');

  await m.press('j');
  t.regex(m.frame(), /^calm {2}✔ OK/m);
  t.notRegex(m.frame(), /forecast|full in/);
  await m.press('j');
  t.regex(m.frame(), /^forecast: disk full in 3d \(at Nov 30 10:00 UTC\)$/m, 'a date when it is days away');
  m.unmount();
});

const ALERTS = [
  alert('w-new', 'search', 'WARN', { startedAt: NOW - 60_000, rule: 'disk', value: 88.04, message: 'disk 88% >= 85% for 1m' }),
  alert('c-old', 'auth', 'CRIT', { startedAt: NOW - 3_600_000, rule: 'diskFree', value: 0.8, message: 'disk free 0.8 GB <= 1 GB for 1h' }),
  alert('c-new', 'billing', 'CRIT', { startedAt: NOW - 120_000, silenced: true }),
  alert('s-1', 'mailer', 'SILENT', { rule: 'silent', value: 125, message: 'no message for 2m (usual interval 1s)' }),
  alert('r-old', 'orders', 'WARN', { state: 'RESOLVED', startedAt: NOW - 7_200_000, endedAt: NOW - 3_000_000 }),
  alert('r-new', 'payments', 'CRIT', { state: 'RESOLVED', startedAt: NOW - 900_000, endedAt: NOW - 300_000 }),
];
const ALERT_IDS = ALERTS.map((a) => a.id);
const alertOrder = (frame: string): string[] =>
  frame
    .split('\n')
    .map((line) => ALERTS.find((a) => new RegExp(`\\s${a.service}\\s+${a.rule}\\s`).test(line))?.id)
    .filter((id): id is string => id !== undefined);

test.serial('a opens the alerts pane: firing worst first with the silenced marked, then the latest resolved; live changes apply', async (t) => {
  const m = await mount(FLEET, { color: false, prepare: (c) => (c.alertsFixture = ALERTS) });
  t.regex(m.frame(), /a alerts/, 'the footer lists a');
  t.deepEqual(m.client.alertCalls, [true, false], 'firing and resolved loaded on connect');
  await m.press('a');
  t.deepEqual(m.client.alertCalls, [true, false, true, false], 'opening the pane reloads (silences change without an event)');
  let f = m.frame();
  t.notRegex(m.raw(), COLOUR);
  t.regex(f, /Alerts: 4 firing \(1 silenced: no notifications\) · 2 recently resolved/);
  t.regex(f, /SEVERITY SERVICE\s+RULE\s+STATE\s+SINCE\s+VALUE {2}MESSAGE/);
  t.deepEqual(alertOrder(f), ['c-new', 'c-old', 's-1', 'w-new', 'r-new', 'r-old']);
  const line = (id: string): string => f.split('\n')[f.split('\n').findIndex((l) => alertOrder(l)[0] === id)] ?? '';
  t.regex(line('c-new'), /› ✖ CRIT\s+billing\s+cpu\s+SILENCED\s+2m ago\s+97\.3% {2}cpu 97\.3% >= 95%/);
  t.regex(line('c-old'), /✖ CRIT\s+auth\s+diskFree\s+FIRING\s+1h ago\s+0\.8 GB {2}disk free 0\.8 GB/);
  t.regex(line('s-1'), /○ SILENT\s+mailer\s+silent\s+FIRING\s+5m ago\s+2m {2}no message/);
  t.regex(line('r-new'), /✖ CRIT\s+payments\s+cpu\s+ended 5m\s+15m ago/);
  t.is(ALERT_IDS.filter((id) => /SILENCED/.test(line(id))).length, 1, 'only the silenced alert is marked');

  // A state change from the subscription: the WARN resolves, a new CRIT fires.
  await m.pushAlert({ ...ALERTS[0]!, state: 'RESOLVED', endedAt: NOW - 1000 });
  await m.pushAlert(alert('c-live', 'search', 'CRIT', { startedAt: NOW - 10_000, rule: 'ram', message: 'ram 96% >= 95%' }));
  f = m.frame();
  t.regex(f, /Alerts: 4 firing \(1 silenced: no notifications\) · 3 recently resolved/);
  const order = f.split('\n').filter((l) => /\s(FIRING|SILENCED|ended)\s/.test(l));
  t.regex(order[0]!, /search\s+ram\s+FIRING\s+10s ago/, 'the newest CRIT comes first');
  t.regex(order[4]!, /search\s+disk\s+ended 1s/, 'the resolved WARN heads the resolved ones');
  t.is(order.length, 7);
  // A replayed FIRING event for an episode already resolved does not bring it back.
  await m.pushAlert(ALERTS[0]!);
  t.regex(m.frame(), /search\s+disk\s+ended 1s/);

  // The cursor moves over the pane; Enter opens the selected alert's service; Esc returns to the pane, then the table.
  t.regex(m.frame(), /› ✖ CRIT\s+search\s+ram/);
  await m.press('j');
  t.regex(m.frame(), /› ✖ CRIT\s+billing\s+cpu/);
  await m.press('\r');
  t.regex(m.frame(), /^billing {2}✖ CRIT/m);
  await m.press('\u001B');
  t.regex(m.frame(), /Alerts: 4 firing/);
  await m.press('\u001B');
  t.regex(m.frame(), /HEALTH▼\s+SERVICE/);
  m.unmount();
});

test.serial('the alerts pane fits 80x24 with more alerts than lines, and scrolls', async (t) => {
  const many = Array.from({ length: 30 }, (_, i) =>
    alert(`a-${i}`, `service-${String(i).padStart(2, '0')}`, 'WARN', { startedAt: NOW - (i + 1) * 60_000 }),
  );
  const m = await mount(FLEET, { prepare: (c) => (c.alertsFixture = many) });
  await m.press('a');
  let lines = m.frame().split('\n');
  t.is(lines.length, 23);
  t.true(Math.max(...lines.map((l) => Array.from(l).length)) <= 80);
  t.regex(m.frame(), /1-16 of 30 alerts/);
  t.regex(m.frame(), /› ▲ WARN\s+service-00 /);
  await m.press('G');
  lines = m.frame().split('\n');
  t.is(lines.length, 23);
  t.regex(m.frame(), /15-30 of 30 alerts/);
  t.regex(m.frame(), /› ▲ WARN\s+service-29 /);
  m.unmount();
});

test.serial('sparklines show the last 15 minutes at once: seeded from the history query on connect and after a reconnect', async (t) => {
  const columns = 120;
  const layout = tableLayout(columns);
  const m = await mount([row('orders', 'OK', { cpu: 99 }), row('fresh', 'OK', { cpu: 99 })], {
    color: false,
    columns,
    prepare: (c) => (c.historyFixture = [risingHistory('orders')]),
  });
  t.deepEqual(m.client.historyCalls, [{ from: NOW - 900_000, to: NOW, services: undefined }], 'all services, the last 15 minutes');
  const spark = (name: string): string => {
    const header = m.frame().split('\n').find((l) => l.includes('CPU 15m'))!;
    const at = header.indexOf('CPU 15m');
    return lineOf(m.frame(), name).slice(at, at + layout.spark);
  };
  const orders = spark('orders');
  t.is(Array.from(orders).length, layout.spark);
  t.true(orders.replaceAll(' ', '').length >= layout.spark - 1, `a column per slot of history: "${orders}"`);
  t.true(orders.indexOf('▁') < orders.indexOf('█'), `rises left to right as the history does: "${orders}"`);
  // The control: a service the history does not know has only the push it just received.
  t.is(spark('fresh').replaceAll(' ', ''), '█');

  await m.connection({ status: 'reconnecting', attempt: 1, nextRetryAt: null });
  t.is(m.client.historyCalls.length, 1);
  await m.connection({ status: 'connected', since: NOW });
  t.is(m.client.historyCalls.length, 2, 'seeded again after the reconnect');
  t.deepEqual(m.client.alertCalls, [true, false, true, false], 'alerts reloaded too: changes while away are not replayed');
  m.unmount();
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
  t.regex(f, /^The dashboard hit an internal error\. Press any key to quit\.\n\S.*(undefined|not iterable)/);
  t.notRegex(f, /\n\s+at /, 'no stack frames');
  const before = ui.frames.length;
  ui.stdin.write('x');
  await settle(ui.frames, before);
  t.deepEqual(exits, [1]);
  ui.unmount();
  ui.cleanup();
});

test.serial('a failing disk shows in the header (within 80 columns), quarantined lines at 120', async (t) => {
  const m = await mount(FLEET, { columns: 80, rows: 24 });
  t.false(m.frame().includes('DISK FAILING'));
  m.client.pushPipeline(pipeline({ storageError: "ENOSPC: no space left on device, write", unflushedBytes: 5 * 1024 * 1024, quarantinedLines: 3 }));
  await m.push(FLEET);
  const f = m.frame();
  t.regex(f, /DISK FAILING: ENOSPC: no space left on device, write; 5\.0 MiB accepted/);
  t.true(f.split('\n').every((l) => l.length <= 80));
  m.client.pushPipeline(pipeline());
  await m.push(FLEET);
  t.false(m.frame().includes('DISK FAILING'), 'gone once writes work again');
  m.unmount();
  const wide = await mount(FLEET, { columns: 120, rows: 30 });
  wide.client.pushPipeline(pipeline({ quarantinedLines: 3 }));
  await wide.push(FLEET);
  t.regex(wide.frame(), /backlog 2 {2}quarantined 3/);
  wide.unmount();
});

test.serial('a running MapReduce batch shows its map and reduce progress in the header', async (t) => {
  const m = await mount(FLEET, { columns: 120, rows: 30 });
  const running = { ...pipeline().lastBatch!, status: 'RUNNING', finishedAt: null, engine: 'mapreduce', mapProgress: 40, reduceProgress: 0 };
  const before = m.frame();
  t.false(before.includes('map 40%'));
  m.client.pushPipeline(pipeline({ batchEngine: 'mapreduce', lastBatch: running }));
  await m.push(FLEET);
  t.regex(m.frame(), /RUNNING .*map 40% reduce 0%/);
  m.unmount();
});

test.serial('keys that arrive in one read are each applied, in order: backspaces, Ctrl-U and Enter inside a chunk', async (t) => {
  const m = await mount(FLEET);
  // Each string is one stdin read, as tmux send-keys or a fast typist delivers them.
  await m.press('/', 'xy\u007f\u007f');
  t.regex(m.frame(), /\/█ {2}8 of 8 match/, 'x, y and two backspaces leave an empty filter');
  await m.press('payx\b');
  t.regex(m.frame(), /\/pay█ {2}2 of 8 match/);
  await m.press('zz\u0015au');
  t.regex(m.frame(), /\/au█ {2}1 of 8 match/, 'Ctrl-U in the chunk cleared the filter first');
  await m.press('\u007futh\r');
  t.regex(m.frame(), /1-1 of 1 matching \/auth/, 'the Enter at the end of the chunk keeps the filter');
  m.unmount();
});

const REJECTED: RejectedView[] = [
  { at: NOW - 4000, reason: 'schema', detail: 'cpu: expected a number', from: '10.0.0.7:50123', excerpt: '{"service":"orders","cpu":"high"}' },
  {
    at: NOW - 9000,
    reason: 'malformed_json',
    detail: 'Unexpected end of JSON input',
    from: '10.0.0.8:40000',
    excerpt: '{"service":"evil\u001b[2J\u202egnp.exe',
  },
];
const REJECTING = {
  received: 1_250_000,
  rejected: 1600,
  rejectedBy: [
    { reason: 'malformed_json', count: 99 },
    { reason: 'future', count: 0 },
    { reason: 'schema', count: 1500 },
    { reason: 'too_large', count: 1 },
  ],
};

test.serial('x opens the rejections pane: counts by reason, then the newest rejected datagrams, shown safely', async (t) => {
  const m = await mount(FLEET, { color: false, columns: 100, prepare: (c) => (c.rejectedFixture = REJECTED) });
  m.client.pushPipeline(pipeline(REJECTING));
  await m.push(FLEET);
  t.regex(m.frame().split('\n')[1]!, /rejected 1\.60k \(schema \+2\)/, 'the header names the top reason where it fits');
  t.regex(m.frame(), /x rejected/, 'the footer lists x');
  t.is(m.client.rejectedCalls, 0, 'samples are asked for only when the pane opens');
  await m.press('x');
  t.is(m.client.rejectedCalls, 1);
  const f = m.frame();
  const lines = f.split('\n');
  t.regex(f, /^Rejected 1\.60k of 1\.25M received \(0\.1%\)/m);
  t.regex(f, /^ {4}COUNT {2}SHARE {2}REASON *\n {4}1\.50k {2}93\.8% {2}schema *\n {7}99 {3}6\.2% {2}malformed_json *\n {8}1 {2}<0\.1% {2}too_large *\n/m);
  t.false(f.includes('future'), 'a reason that counted nothing is left out');
  t.regex(f, /^Newest rejected datagrams as of 10:00:00 UTC: 2 kept by the daemon/m);
  t.regex(f, /^ {2}4s ago {3}schema {14}cpu: expected a number/m);
  t.regex(f, /^ {4}from 10\.0\.0\.7:50123 {2}\{"service":"orders","cpu":"high"\}/m);
  t.regex(f, /^ {2}9s ago {3}malformed_json {6}Unexpected end of JSON input/m);
  // The excerpt is what a sender sent: its escape and bidi override are shown, never obeyed.
  t.true(f.includes('{"service":"evil\\u{1b}[2J\\u{202e}gnp.exe'), f);
  t.false(m.raw().includes('\u001b[2J') || m.raw().includes('\u202e'));
  t.regex(f, /1-2 of 2 rejected datagrams kept · newest first/);
  t.is(lines.length, 23);
  t.true(lines.every((l) => stringWidth(l) <= 100));

  // More rejections since the samples were loaded: said, and r loads the newest.
  m.client.pushPipeline(pipeline({ ...REJECTING, rejected: 1700 }));
  await m.push(FLEET);
  t.regex(m.frame(), /2 kept by the daemon, 100 more since \(r reloads\)/);
  await m.press('r');
  t.is(m.client.rejectedCalls, 2);
  t.notRegex(m.frame(), /more since/);
  await m.press('\u001B');
  t.regex(m.frame(), /HEALTH▼\s+SERVICE/);
  m.unmount();
});

test.serial('the rejections pane scrolls through a full sample at 80x24, and says when nothing was rejected', async (t) => {
  const many = Array.from({ length: 100 }, (_, i): RejectedView => ({ ...REJECTED[0]!, at: NOW - i * 1000, detail: `sample ${i}` }));
  const m = await mount(FLEET, { prepare: (c) => (c.rejectedFixture = many) });
  m.client.pushPipeline(pipeline(REJECTING));
  await m.push(FLEET);
  await m.press('x');
  t.regex(m.frame(), /1-6 of 100 rejected datagrams kept/);
  await m.press('j', 'j');
  t.regex(m.frame(), /3-8 of 100/);
  t.regex(m.frame(), /Newest.*\n {2}2s ago {3}schema\s+sample 2 /);
  await m.press('G');
  t.regex(m.frame(), /95-100 of 100/);
  t.regex(m.frame(), /sample 99 /);
  await m.press('j');
  t.regex(m.frame(), /95-100 of 100/, 'the last sample stays at the bottom');
  const lines = m.frame().split('\n');
  t.is(lines.length, 23);
  t.true(lines.every((l) => stringWidth(l) <= 80));
  await m.press('x');
  t.regex(m.frame(), /HEALTH▼\s+SERVICE/, 'x again closes the pane');
  m.client.pushPipeline(pipeline({ rejected: 0, rejectedBy: [{ reason: 'schema', count: 0 }] }));
  m.client.rejectedFixture = [];
  await m.push(FLEET);
  await m.press('x');
  t.regex(m.frame(), /Nothing rejected: every one of 1\.25M datagrams received was accepted/);
  t.regex(m.frame(), /0 of 0 rejected datagrams kept/);
  m.unmount();
});

test.serial('S reverses the sort; the sorted column header shows ▲ or ▼, and so does the status line', async (t) => {
  const m = await mount(FLEET);
  const header = (): string => m.frame().split('\n')[3]!;
  t.regex(header(), /HEALTH▼ {2}SERVICE/);
  t.regex(m.frame(), /sort: health ▼/);
  await m.press('s');
  t.regex(header(), / CPU▼ {2}RAM/);
  const busiest = ['billing', 'search', 'payments', 'alpha-ok', 'payouts', 'auth', 'zeta-ok', 'mailer'];
  t.deepEqual(tableOrder(m.frame(), NAMES), busiest);
  await m.press('S');
  t.regex(header(), / CPU▲ {2}RAM/);
  t.regex(m.frame(), /sort: cpu ▲/);
  t.deepEqual(tableOrder(m.frame(), NAMES), [...busiest].reverse());
  await m.press('S');
  t.deepEqual(tableOrder(m.frame(), NAMES), busiest);
  await m.press('S', 's', 's', 's');
  t.regex(header(), /DISK {3}FREE▲/, 's starts the next key in its own direction: the least free first');
  t.notRegex(header(), /CPU▲|CPU▼/, 'only the sorted column is marked');
  t.regex(m.frame(), /sort: free disk ▲/);
  m.unmount();
});

test.serial('clock times show their zone, and u switches the detail view between local time and UTC', async (t) => {
  const saved = process.env['TZ'];
  process.env['TZ'] = 'America/New_York';
  t.teardown(() => {
    process.env['TZ'] = saved;
  });
  const m = await mount([row('orders', 'OK', { diskFullAt: NOW + 5 * 3_600_000 + 12 * 60_000 })]);
  m.client.statsFixture = [ORDERS_STATS];
  m.client.seriesFixture = ordersSeries();
  await m.press('\r');
  let f = m.frame();
  t.regex(f, /mean\s+min\s+max\s+peak \(EST\)/);
  t.regex(f, /CPU %\s+42\.1\s+3\.0\s+97\.5\s+04:12:34/, '09:12:34 UTC in New York');
  t.regex(f, /forecast: disk full in 5h \(at 10:12 EST\)/);
  t.regex(f, /^ {6}04:00 +05:00 *$/m, 'the chart axis in local time too');
  t.regex(f, /u UTC/, 'the footer lists u');
  await m.press('u');
  f = m.frame();
  t.regex(f, /mean\s+min\s+max\s+peak \(UTC\)/);
  t.regex(f, /CPU %\s+42\.1\s+3\.0\s+97\.5\s+09:12:34/);
  t.regex(f, /forecast: disk full in 5h \(at 15:12 UTC\)/);
  t.regex(f, /^ {6}09:00 +10:00 *$/m);
  await m.press('u');
  t.regex(m.frame(), /peak \(EST\)/, 'u again goes back to local time');
  m.unmount();
});

test.serial('80 columns: after a batch the status line and the header show every counter, nothing cut', async (t) => {
  const m = await mount(FLEET, { columns: 80 });
  m.client.pushPipeline(widestPipeline());
  m.client.batchResult = longBatch();
  await m.push(FLEET);
  await m.press('b', 'y');
  const lines = m.frame().split('\n');
  t.is(lines.length, 23);
  for (const l of lines) t.true(stringWidth(l) <= 80, `${stringWidth(l)} columns: ${l}`);
  const status = lines.at(-2)!;
  t.regex(status, /^batch SUCCEEDED · INCREMENTAL · 123M records · 4\.10k partitions · in 1h {2,}$/);
  t.false(status.includes('5b7e'), 'no UUID crowding out the counts');
  const counters = lines[1]!;
  t.false(counters.includes('…'), counters);
  for (const c of ['msg/s 123k', 'acc 988G', 'rej 988G', 'drop 988G', 'late 988G', 'bklog 12.3k', 'quar 988G']) {
    t.true(counters.includes(c), `${c} in: ${counters}`);
  }
  m.unmount();
});

test.serial('numbers are shown at a fixed precision, whatever float noise the answers carry', async (t) => {
  const noisy = 56.025000000000006;
  const m = await mount(
    [
      row('orders', 'CRIT', {
        cpu: noisy,
        ramUsed: noisy,
        diskUsed: 0.1 + 0.2,
        ramFreeGb: 12.345678901,
        diskFreeGb: 0.30000000000000004,
        reasons: [`ram ${noisy}% >= 50% for 1m`, 'disk full in 5h at current rate (+304.23%/h)'],
      }),
    ],
    { columns: 120, prepare: (c) => (c.alertsFixture = [alert('n', 'orders', 'CRIT', { rule: 'ram', value: noisy, message: `ram ${noisy}% >= 50%` })]) },
  );
  m.client.pushPipeline(
    pipeline({
      messagesPerSecond: 0.30000000000000004,
      lastBatch: { ...pipeline().lastBatch!, status: 'RUNNING', finishedAt: null, mapProgress: 100 / 3, reduceProgress: 0.1 + 0.2 },
    }),
  );
  m.client.statsFixture = [{ ...ORDERS_STATS, cpu: { ...ORDERS_STATS.cpu, mean: noisy, max: 0.1 + 0.2 } }];
  await m.push(m.client.statsFixture.length ? [row('orders', 'CRIT', { cpu: noisy, ramUsed: noisy, reasons: [`ram ${noisy}% >= 50% for 1m`, 'disk full in 5h at current rate (+304.23%/h)'] })] : []);
  const noise = /\d\.\d{3,}/;
  const table = m.frame();
  t.notRegex(table, noise, table);
  t.regex(table, /msg\/s 0\.3 .*map 33% reduce 0%/s);
  t.regex(table, /CRIT\s+orders\s+56%\s+56%/);
  t.regex(table, /ram 56% >= 50% for 1m\s+\+1/);
  await m.press('\r');
  t.notRegex(m.frame(), noise, m.frame());
  t.regex(m.frame(), /· disk full in 5h at current rate \(\+304%\/h\)/);
  t.regex(m.frame(), /CPU %\s+56\.0\s+3\.0\s+0\.3/);
  await m.press('a');
  t.notRegex(m.frame(), noise, m.frame());
  t.regex(m.frame(), /56% {2}ram 56% >= 50%/);
  m.unmount();
});
