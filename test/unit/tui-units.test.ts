import test from 'ava';
import { alertState, alertsLayout, alertValue } from '../../tui/AlertsView.js';
import { applyAlert, fromSnapshot, orderAlerts } from '../../tui/alert-order.js';
import { chartColumns, chartTop } from '../../tui/chart.js';
import { handleKey, INITIAL_UI, type KeyLike, NO_KEY, selectedIndex, splitKeys, type UiState, visibleRows } from '../../tui/dashboard-keys.js';
import { windowBounds, DETAIL_WINDOWS } from '../../tui/detail-window.js';
import stringWidth from 'string-width';
import { fitText, formatAgo, formatClock, formatCount, formatForecast, safeText, tidyNumbers, zoneName } from '../../tui/format.js';
import { ResourceHistory } from '../../tui/history.js';
import { batchNotice } from '../../tui/Dashboard.js';
import { fitCounters, pipelineCounters } from '../../tui/Header.js';
import { reasonCell, tableHeader, tableLayout } from '../../tui/ServiceTable.js';
import { filterServices, sortArrow, sortServices } from '../../tui/service-order.js';
import { barRows, sparkline } from '../../tui/sparkline.js';
import type { AlertView, BucketView } from '../../tui/types.js';
import { alert, longBatch, NOW, pipeline, risingHistory, row, widestPipeline } from '../helpers/tui-fixtures.js';

test('history keeps the max per 10 s slot and leaves a gap where a service was silent', (t) => {
  const h = new ResourceHistory({ spanMs: 60_000, slotMs: 10_000 }); // 6 slots
  const at = (sec: number, cpu: number) => row('a', 'OK', { lastSeen: NOW - 60_000 + sec * 1000, cpu, ramUsed: cpu / 2 });
  h.record([at(5, 10)]); // slot 0
  h.record([at(7, 30)]); // slot 0 again: max wins
  h.record([at(7, 30)]); // the same push twice changes nothing
  h.record([at(35, 80)]); // slot 3; slots 1 and 2 stay empty
  t.deepEqual(h.series('a', 'cpu', NOW - 1, 6), [30, null, null, 80, null, null]);
  t.deepEqual(h.series('a', 'ram', NOW - 1, 3), [15, 40, null], 'two slots per column, max of the pair');
  // 60 s later every slot has aged out of the window (the ring positions still hold the old values).
  t.deepEqual(h.series('a', 'cpu', NOW + 59_999, 6), [null, null, null, null, null, null]);
  h.retain(new Set(['b']));
  t.deepEqual(h.series('a', 'cpu', NOW - 1, 2), [null, null], 'forgotten once it leaves the fleet');
});

test('history seeding fills every slot of a minute with its peak, never past the query end, and merges with pushes', (t) => {
  const h = new ResourceHistory({ spanMs: 180_000, slotMs: 30_000 }); // 6 slots, 2 per minute
  const minute = (start: number, cpu: number) => ({ start, cpu, ram: cpu / 2 });
  const upTo = NOW - 15_000; // half way into the last slot of the minute starting at NOW - 60 s
  h.record([row('a', 'OK', { lastSeen: NOW - 50_000, cpu: 90, ramUsed: 10 })]); // a push already in: slot NOW-60s
  h.seed(
    [
      {
        service: 'a',
        minutes: [
          minute(NOW - 240_000, 99), // older than the span: must not land on the ring positions of newer slots
          minute(NOW - 180_000, 10),
          minute(NOW - 120_000, 20),
          minute(NOW - 60_000, 30),
        ],
      },
    ],
    upTo,
  );
  t.deepEqual(h.series('a', 'cpu', upTo, 6), [10, 10, 20, 20, 90, 30], 'two slots a minute; the push keeps its higher peak');
  t.deepEqual(h.series('a', 'ram', upTo, 3), [5, 10, 15]);
  // The slot at NOW (after upTo) stays empty until a push fills it.
  t.deepEqual(h.series('a', 'cpu', NOW + 1, 6).at(-1), null);
  // Seeding again (after a reconnect) changes nothing.
  h.seed([{ service: 'a', minutes: [minute(NOW - 120_000, 20)] }], upTo);
  t.deepEqual(h.series('a', 'cpu', upTo, 6), [10, 10, 20, 20, 90, 30]);
  // The default ring: 15 minute peaks give a full sparkline at once.
  const d = new ResourceHistory();
  d.seed([risingHistory('orders')], NOW);
  const cols = d.series('orders', 'cpu', NOW, 15);
  t.is(cols.filter((v) => v !== null).length, 15);
  t.is(cols[14], 98);
});

test('alerts: FIRING first, worst then newest; resolved by latest end, capped; a resolved episode never fires again', (t) => {
  const a = [
    alert('w', 'x', 'WARN', { startedAt: NOW - 1000 }),
    alert('c1', 'y', 'CRIT', { startedAt: NOW - 5000 }),
    alert('s', 'z', 'SILENT'),
    alert('c2', 'x', 'CRIT', { startedAt: NOW - 2000 }),
    alert('r1', 'x', 'WARN', { state: 'RESOLVED', endedAt: NOW - 9000 }),
    alert('r2', 'y', 'WARN', { state: 'RESOLVED', endedAt: NOW - 100 }),
    alert('r3', 'z', 'WARN', { state: 'RESOLVED', endedAt: NOW - 5000 }),
  ];
  t.deepEqual(orderAlerts(a).map((x) => x.id), ['c2', 'c1', 's', 'w', 'r2', 'r3', 'r1']);
  t.deepEqual(orderAlerts(a, 2).map((x) => x.id), ['c2', 'c1', 's', 'w', 'r2', 'r3']);

  const book = new Map<string, AlertView>();
  applyAlert(book, a[0]!);
  applyAlert(book, { ...a[0]!, state: 'RESOLVED', endedAt: NOW });
  applyAlert(book, a[0]!); // a replayed FIRING event
  t.is(book.get('w')?.state, 'RESOLVED');
  // A reload: the snapshot (still firing when it was taken), then the changes seen while it was in flight.
  const after = fromSnapshot([a[0]!, a[1]!], [{ ...a[0]!, state: 'RESOLVED', endedAt: NOW }, a[2]!]);
  t.deepEqual(
    orderAlerts(after.values()).map((x) => `${x.id}:${x.state}`),
    ['c1:FIRING', 's:FIRING', 'w:RESOLVED'],
  );
});

test('alert cells: value in the rule unit, state with the silenced marker or the end', (t) => {
  t.is(alertValue(alert('1', 'a', 'CRIT', { value: 97.25 })), '97.3%');
  t.is(alertValue(alert('1', 'a', 'CRIT', { rule: 'diskFree', value: 0.804 })), '0.8 GB');
  t.is(alertValue(alert('1', 'a', 'SILENT', { rule: 'silent', value: 125.4 })), '2m');
  t.is(alertValue(alert('1', 'a', 'WARN', { rule: 'diskFull', value: 5.2 })), 'in 5h');
  t.is(alertValue(alert('1', 'a', 'CRIT', { rule: 'ramFull', value: -0.1 })), 'now');
  t.is(alertValue(alert('1', 'a', 'CRIT', { value: null })), '-');
  t.is(alertState(alert('1', 'a', 'CRIT'), NOW), 'FIRING');
  t.is(alertState(alert('1', 'a', 'CRIT', { silenced: true }), NOW), 'SILENCED');
  t.is(alertState(alert('1', 'a', 'CRIT', { state: 'RESOLVED', endedAt: NOW - 180_000, silenced: true }), NOW), 'ended 3m');
  t.deepEqual(alertsLayout(80), { service: 12, message: 20 });
});

test('forecast text: in how long and at what time, a date when days away, nothing without a forecast', (t) => {
  // TZ is not pinned here: build the expected clock text the same local way.
  const at = new Date(NOW + 5 * 3_600_000 + 12 * 60_000 + 59_000);
  const hm = `${String(at.getHours()).padStart(2, '0')}:${String(at.getMinutes()).padStart(2, '0')}`;
  t.is(formatForecast('disk', at.getTime(), NOW), `disk full in 5h (at ${hm} ${zoneName(false, at.getTime())})`);
  t.is(formatForecast('disk', at.getTime(), NOW, true), 'disk full in 5h (at 15:12 UTC)', 'NOW is 10:00 UTC');
  t.is(formatForecast('RAM', NOW + 40 * 60_000 + 10_000, NOW)?.slice(0, 16), 'RAM full in 40m ');
  t.regex(formatForecast('disk', NOW + 3 * 86_400_000, NOW)!, /^disk full in 3d \(at [A-Z][a-z]{2} \d\d \d\d:\d\d \S+\)$/);
  t.is(formatForecast('disk', NOW - 1, NOW), 'disk full now');
  t.is(formatForecast('disk', null, NOW), null);
});

test('table layout: the reason is kept and the RAM sparkline goes first; every width adds up', (t) => {
  const total = (w: number): number => {
    const l = tableLayout(w);
    const sparks = l.spark ? (l.ramSpark ? 2 : 1) * (l.spark + 1) : 0;
    return 2 + 8 + 1 + l.name + 5 + 5 + 5 + 8 + 8 + sparks + (l.reason ? l.reason + 1 : 0);
  };
  t.deepEqual(tableLayout(80), { name: 12, spark: 8, ramSpark: false, reason: 16 });
  t.true(tableLayout(100).ramSpark);
  t.true(tableLayout(100).reason > 16);
  t.is(tableLayout(40).reason, 0, 'too narrow for anything but the name');
  for (const w of [71, 79, 80, 89, 90, 100, 120, 160, 240]) t.is(total(w), w, `width ${w}: ${JSON.stringify(tableLayout(w))}`);
  t.is(reasonCell(['cpu 97% >= 95% for 45s'], 16), 'cpu 97% >= 95% …');
  t.is(reasonCell(['cpu 97% >= 95% for 45s', 'ram 90%', 'disk 90%'], 16), 'cpu 97% >= 9… +2');
  t.is(reasonCell([], 5), '     ');
});

test('sparkline and bars scale to the top and show no data as blank', (t) => {
  t.is(sparkline([0, 50, 100, null, 150]), '▁▅█ █');
  t.deepEqual(barRows([100, 50, 0, null], 100, 2), ['█   ', '██▁ ']);
});

const bucket = (start: number, count: number, cpu: number): BucketView => ({
  start,
  count,
  cpu: { mean: cpu, min: cpu, max: cpu, peakAt: start },
  ram: { mean: 0, min: 0, max: 0, peakAt: start },
  disk: { mean: 0, min: 0, max: 0, peakAt: start },
});

test('chart columns: count-weighted means when buckets are narrower, the covering bucket when wider', (t) => {
  const minute = 60_000;
  // 4 buckets onto 2 columns: (10*1 + 40*3)/4 = 32.5 and (20*2 + 20*2)/4 = 20.
  const narrow = [bucket(0, 1, 10), bucket(minute, 3, 40), bucket(2 * minute, 2, 20), bucket(3 * minute, 2, 20)];
  t.deepEqual(chartColumns(narrow, 'cpu', 0, 4 * minute, minute, 2), [32.5, 20]);
  // 2 hour buckets onto 4 columns; the second hour is missing.
  const hour = 60 * minute;
  t.deepEqual(chartColumns([bucket(0, 5, 70)], 'cpu', 0, 2 * hour, hour, 4), [70, 70, null, null]);
  t.is(chartTop([3, null, 41]), 50);
  t.is(chartTop([]), 10);
  t.is(chartTop([100]), 100);
});

test('windows end at the next whole minute and span their length', (t) => {
  const { from, to } = windowBounds(DETAIL_WINDOWS[0]!, NOW + 1);
  t.is(to, NOW + 60_000);
  t.is(to - from, 3_600_000);
  t.deepEqual(windowBounds(DETAIL_WINDOWS[2]!, NOW), { from: NOW - 7 * 86_400_000, to: NOW });
});

test('formatting: ago, compact counts, fitted cells', (t) => {
  t.is(formatAgo(NOW - 4_200, NOW), '4s ago');
  t.is(formatAgo(NOW - 3 * 3_600_000, NOW), '3h ago');
  t.is(formatAgo(NOW + 2_000, NOW), '0s ago');
  t.deepEqual([999, 1234, 15_433, 1_234_567, 4.56e9].map(formatCount), ['999', '1.23k', '15.4k', '1.23M', '4.56G']);
  t.is(fitText('payments', 5), 'paym…');
  t.is(fitText('42%', 5, 'right'), '  42%');
});

test('cells are measured in terminal columns, and nothing unsafe reaches the terminal', (t) => {
  // Wide characters take two columns, a combining mark none: every cell is exactly its width.
  for (const name of ['東京-orders', 'payments-🚀-eu', 'cafe\u0301-au-lait', 'ascii-only']) {
    for (const w of [1, 4, 7, 12, 30]) t.is(stringWidth(fitText(name, w)), w, `${name} in ${w}`);
  }
  t.is(fitText('東京東京', 5), '東京…');
  t.is(fitText('東京東京', 6), '東京… ', 'a wide character that does not fit leaves a space');
  // Controls, bidi overrides and zero-width characters are shown as escapes, never written raw.
  t.is(safeText('a\u001b[2Jb'), 'a\\u{1b}[2Jb');
  t.is(fitText('txt\u202egnp.exe', 30).trimEnd(), 'txt\\u{202e}gnp.exe');
  t.is(fitText('x\u0085\u200by', 20).trimEnd(), 'x\\u{85}\\u{200b}y');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what must not come out
  t.false(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(fitText('\u001b\u009b\u202d\u2067', 40)));
});

test('sorting is stable between pushes and the filter also accepts a health word', (t) => {
  const rows = [row('b', 'OK', { cpu: 5 }), row('a', 'OK', { cpu: 5 }), row('c', 'CRIT', { cpu: 1 })];
  t.deepEqual(sortServices(rows, 'cpu').map((r) => r.service), ['a', 'b', 'c'], 'equal cpu falls back to health, then name');
  t.deepEqual(sortServices(rows, 'health').map((r) => r.service), ['c', 'a', 'b']);
  t.deepEqual(filterServices(rows, ' CRIT ').map((r) => r.service), ['c']);
  t.deepEqual(filterServices(rows, 'A').map((r) => r.service), ['a']);
});

test('keys: a pasted filter, Enter keeps it, j moves within the matches, Enter opens that service', (t) => {
  const services = ['alpha', 'beta', 'alpine', 'gamma'].map((s) => row(s, 'OK'));
  const ctx = { services, alerts: [], pageSize: 10, rejectsMaxTop: 0, batchBusy: false };
  let ui = handleKey(INITIAL_UI, '/', NO_KEY, ctx).ui;
  ui = handleKey(ui, 'al\u0007', NO_KEY, ctx).ui; // a control character in a paste is dropped
  t.is(ui.filter, 'al');
  t.is(ui.selection.name, 'alpha', 'cursor on the first match');
  ui = handleKey(ui, '', { ...NO_KEY, return: true }, ctx).ui;
  t.false(ui.editingFilter);
  ui = handleKey(ui, 'j', NO_KEY, ctx).ui;
  const rows = visibleRows(services, ui);
  t.is(rows[selectedIndex(rows, ui.selection)]!.service, 'alpine');
  ui = handleKey(ui, 'j', NO_KEY, ctx).ui;
  t.is(ui.selection.name, 'alpine', 'the cursor stops at the last match');
  ui = handleKey(ui, '', { ...NO_KEY, return: true }, ctx).ui;
  t.is(ui.view, 'detail');
  t.is(ui.detailName, 'alpine');
  t.deepEqual(handleKey(ui, 'q', NO_KEY, ctx).effect, { type: 'quit' });
  t.deepEqual(handleKey({ ...ui, confirming: true }, 'f', NO_KEY, ctx).effect, { type: 'batch', full: true });
  t.deepEqual(handleKey(ui, 'b', NO_KEY, { ...ctx, batchBusy: true }).effect, { type: 'batch-busy' });
});

test('keys: a opens the alerts pane and reloads it, j follows the alert, Enter opens its service, Esc comes back', (t) => {
  const services = ['alpha', 'beta', 'gamma'].map((s) => row(s, 'OK'));
  const alerts = [alert('1', 'gamma', 'CRIT'), alert('2', 'beta', 'WARN')];
  const ctx = { services, alerts, pageSize: 10, rejectsMaxTop: 0, batchBusy: false };
  let ui = handleKey(INITIAL_UI, 'a', NO_KEY, ctx).ui;
  t.is(ui.view, 'alerts');
  t.is(ui.alertsReload, 1);
  ui = handleKey(ui, 'j', NO_KEY, ctx).ui;
  t.deepEqual(ui.alertSelection, { id: '2', index: 1 });
  ui = handleKey(ui, 'j', NO_KEY, ctx).ui;
  t.deepEqual(ui.alertSelection, { id: '2', index: 1 }, 'stops at the last alert');
  t.is(handleKey(ui, 'r', NO_KEY, ctx).ui.alertsReload, 2);
  ui = handleKey(ui, '', { ...NO_KEY, return: true }, ctx).ui;
  t.is(ui.view, 'detail');
  t.is(ui.detailName, 'beta');
  t.is(ui.selection.name, 'beta', 'the table cursor follows, so j/k go on from there');
  ui = handleKey(ui, '', { ...NO_KEY, escape: true }, ctx).ui;
  t.is(ui.view, 'alerts');
  ui = handleKey(ui, '', { ...NO_KEY, escape: true }, ctx).ui;
  t.is(ui.view, 'table');
  // Opened from the table, the detail view still returns to the table.
  ui = handleKey(handleKey(ui, '', { ...NO_KEY, return: true }, ctx).ui, '', { ...NO_KEY, escape: true }, ctx).ui;
  t.is(ui.view, 'table');
});

test('keys read together are each the key they are alone: backspaces, Enter, Ctrl-U, Ctrl-C inside one read', (t) => {
  const keys = (s: string): string =>
    splitKeys(s, NO_KEY)
      .map(([input, k]) => (k.delete || k.backspace ? '⌫' : k.return ? '⏎' : k.ctrl ? `^${input}` : input))
      .join(' ');
  t.is(keys('xy\u007f\u007f'), 'x y ⌫ ⌫', 'tmux send-keys x y BSpace BSpace');
  t.is(keys('a\bb\r'), 'a ⌫ b ⏎');
  t.is(keys('zz\u0015q\u0003'), 'z z ^u q ^c');
  const del: KeyLike = { ...NO_KEY, delete: true };
  t.deepEqual(splitKeys('\u007f', del), [['\u007f', del]], 'a lone key passes as Ink parsed it');
  t.deepEqual(splitKeys('🚀', NO_KEY), [['🚀', NO_KEY]], 'one character of two code units is one key');
  // Through the state machine: "/", then "xy", two backspaces, "al", a backspace and "p" in one read.
  const services = ['alpha', 'alpine', 'beta'].map((s) => row(s, 'OK'));
  const ctx = { services, alerts: [], pageSize: 10, rejectsMaxTop: 0, batchBusy: false };
  let ui: UiState = INITIAL_UI;
  for (const [input, k] of splitKeys('/xy\u007f\u007fal\bp', NO_KEY)) ui = handleKey(ui, input, k, ctx).ui;
  t.is(ui.filter, 'ap');
  t.true(ui.editingFilter);
});

test('S reverses the sort (ties included), s starts the next key in its own direction; the arrow says which', (t) => {
  const rows = [row('b', 'OK', { cpu: 5 }), row('a', 'OK', { cpu: 5 }), row('c', 'CRIT', { cpu: 1 }), row('d', 'WARN', { cpu: 90 })];
  const cpu = sortServices(rows, 'cpu').map((r) => r.service);
  t.deepEqual(cpu, ['d', 'a', 'b', 'c']);
  t.deepEqual(sortServices(rows, 'cpu', true).map((r) => r.service), [...cpu].reverse());
  t.is(sortArrow('cpu', false), '▼');
  t.is(sortArrow('cpu', true), '▲');
  t.is(sortArrow('name', false), '▲');
  t.is(sortArrow('free', false), '▲', 'the least free disk first');
  const ctx = { services: rows, alerts: [], pageSize: 10, rejectsMaxTop: 0, batchBusy: false };
  let ui = handleKey(INITIAL_UI, 's', NO_KEY, ctx).ui;
  t.like(ui, { sortKey: 'cpu', sortReversed: false });
  ui = handleKey(ui, 'S', NO_KEY, ctx).ui;
  t.like(ui, { sortKey: 'cpu', sortReversed: true });
  t.deepEqual(visibleRows(rows, ui).map((r) => r.service), ['c', 'b', 'a', 'd']);
  t.like(handleKey(ui, 'S', NO_KEY, ctx).ui, { sortKey: 'cpu', sortReversed: false });
  t.like(handleKey(ui, 's', NO_KEY, ctx).ui, { sortKey: 'ram', sortReversed: false });
  // The column header is marked and keeps its width; a right-aligned label that would touch its neighbour shortens.
  const layout = tableLayout(80);
  const plainHeader = tableHeader(layout);
  for (const [key, mark] of [
    ['health', '  HEALTH▼  SERVICE'],
    ['cpu', ' CPU▼'],
    ['disk', ' DSK▼'],
    ['free', '   FREE▲'],
    ['seen', '   SEEN▼'],
    ['name', 'SERVICE▲'],
  ] as const) {
    const h = tableHeader(layout, { key, arrow: sortArrow(key, false) });
    t.true(h.includes(mark), `${key}: ${h}`);
    t.is(stringWidth(h), stringWidth(plainHeader), key);
  }
});

test('numbers in the daemon text read at a glance: three significant digits, addresses and versions untouched', (t) => {
  t.is(tidyNumbers('disk full in 5h at current rate (+304.23%/h)'), 'disk full in 5h at current rate (+304%/h)');
  t.is(tidyNumbers('ram 56.025000000000006% >= 50% for 1m'), 'ram 56% >= 50% for 1m');
  t.is(tidyNumbers('+2.147%/h, 0.80412 GB, 1234.5678 and -7.77777.'), '+2.15%/h, 0.804 GB, 1235 and -7.78.');
  t.is(tidyNumbers('from 10.0.0.7:5000, v1.2.3, cpu 96.2%'), 'from 10.0.0.7:5000, v1.2.3, cpu 96.2%');
});

test('counts take at most five columns at any size, rounding into the next unit', (t) => {
  t.deepEqual([99_960, 123_456, 999_600, 12_345_678, 987_654_321_012, 5e15].map(formatCount), ['100k', '123k', '1.00M', '12.3M', '988G', '5000T']);
  for (let n = 1; n < 1e15; n *= 1.37) t.true(formatCount(n).length <= 5, `${n}: ${formatCount(n)}`);
});

test('the header counters fit the width by giving up the hint, then spacing, then label length, never a counter', (t) => {
  const worst = pipelineCounters(widestPipeline());
  const at80 = fitCounters(worst, 80);
  t.true(stringWidth(at80.texts.join(at80.sep)) <= 80, at80.texts.join(at80.sep));
  t.deepEqual(at80.texts, ['msg/s 123k', 'acc 988G', 'rej 988G', 'drop 988G', 'late 988G', 'bklog 12.3k', 'quar 988G']);
  const wide = fitCounters(worst, 200);
  t.is(wide.texts.join(wide.sep), 'msg/s 123k  accepted 988G  rejected 988G (storage_unavailable +1)  drops 988G  late 988G  backlog 12.3k  quarantined 988G');
  const usual = fitCounters(pipelineCounters(pipeline()), 80);
  t.is(usual.texts.join(usual.sep), 'msg/s 1.23k  accepted 1.23M  rejected 15.4k (schema)  drops 0  late 3  backlog 2');
});

test('a batch outcome fits one status line: counts first, the UUID cut to 8 characters and dropped before a count', (t) => {
  const run = longBatch();
  t.is(batchNotice(run, 100), 'batch SUCCEEDED · INCREMENTAL · mapreduce · 123M records · 4.10k partitions · in 1h · id 3f2a9c1d');
  t.is(batchNotice(run, 90), 'batch SUCCEEDED · INCREMENTAL · mapreduce · 123M records · 4.10k partitions · in 1h');
  t.is(batchNotice(run, 80), 'batch SUCCEEDED · INCREMENTAL · 123M records · 4.10k partitions · in 1h');
  t.is(batchNotice({ ...run, records: null, partitions: null, finishedAt: null }, 80), 'batch SUCCEEDED · INCREMENTAL · mapreduce · id 3f2a9c1d');
  t.is(batchNotice({ ...run, status: 'FAILED', error: 'ENGINE_FAILED: exit 1' }, 80), 'batch FAILED after 1h: ENGINE_FAILED: exit 1 · id 3f2a9c1d');
});

test('clock times: local with the zone named (the summer name in summer), or UTC', (t) => {
  // Synchronous, so no other test runs while TZ is changed (Node applies a new TZ at once).
  const saved = process.env['TZ'];
  process.env['TZ'] = 'America/New_York';
  try {
    t.is(formatClock(NOW), '05:00:00', 'NOW is 10:00 UTC');
    t.is(zoneName(false, NOW), 'EST');
    t.is(zoneName(false, Date.UTC(2026, 6, 1)), 'EDT');
    t.is(formatClock(NOW, false, true), '10:00:00');
    const late = NOW + (13 * 60 + 59) * 60_000;
    t.is(formatClock(late, true, true), 'Nov 27 23:59');
    t.is(formatClock(late, true), 'Nov 27 18:59');
    t.is(zoneName(true, NOW), 'UTC');
    t.is(formatForecast('disk', NOW + 3_600_000, NOW), 'disk full in 1h (at 06:00 EST)');
  } finally {
    if (saved === undefined) delete process.env['TZ'];
    else process.env['TZ'] = saved;
  }
});
