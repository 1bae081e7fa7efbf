import test from 'ava';
import { chartColumns, chartTop } from '../tui/chart.js';
import { handleKey, INITIAL_UI, type KeyLike, selectedIndex, visibleRows } from '../tui/dashboard-keys.js';
import { windowBounds, DETAIL_WINDOWS } from '../tui/detail-window.js';
import { fitText, formatAgo, formatCount } from '../tui/format.js';
import { ResourceHistory } from '../tui/history.js';
import { filterServices, sortServices } from '../tui/service-order.js';
import { barRows, sparkline } from '../tui/sparkline.js';
import type { BucketView } from '../tui/types.js';
import { NOW, row } from './helpers/tui-fixtures.js';

const NO_KEY: KeyLike = {
  upArrow: false,
  downArrow: false,
  leftArrow: false,
  rightArrow: false,
  pageUp: false,
  pageDown: false,
  home: false,
  end: false,
  return: false,
  escape: false,
  ctrl: false,
  meta: false,
  backspace: false,
  delete: false,
};

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

test('sorting is stable between pushes and the filter also accepts a health word', (t) => {
  const rows = [row('b', 'OK', { cpu: 5 }), row('a', 'OK', { cpu: 5 }), row('c', 'CRIT', { cpu: 1 })];
  t.deepEqual(sortServices(rows, 'cpu').map((r) => r.service), ['a', 'b', 'c'], 'equal cpu falls back to health, then name');
  t.deepEqual(sortServices(rows, 'health').map((r) => r.service), ['c', 'a', 'b']);
  t.deepEqual(filterServices(rows, ' CRIT ').map((r) => r.service), ['c']);
  t.deepEqual(filterServices(rows, 'A').map((r) => r.service), ['a']);
});

test('keys: a pasted filter, Enter keeps it, j moves within the matches, Enter opens that service', (t) => {
  const services = ['alpha', 'beta', 'alpine', 'gamma'].map((s) => row(s, 'OK'));
  const ctx = { services, pageSize: 10, batchBusy: false };
  let ui = handleKey(INITIAL_UI, '/', NO_KEY, ctx).ui;
  ui = handleKey(ui, 'al\u0007', NO_KEY, ctx).ui; // a control character in a paste is dropped
  t.is(ui.filter, 'al');
  t.is(ui.selection.name, 'alpha', 'cursor on the first match');
  ui = handleKey(ui, '', { ...NO_KEY, return: true }, ctx).ui;
  t.false(ui.editingFilter);
  ui = handleKey(ui, 'j', NO_KEY, ctx).ui;
  const rows = visibleRows(services, ui.sortKey, ui.filter);
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
