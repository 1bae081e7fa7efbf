/**
 * The dashboard's keyboard state machine, pure: (state, key) -> (state, effect). The component keeps the state
 * in a ref and applies keys synchronously, because React renders after a macrotask and keys typed or pasted
 * faster than that must each see the state the previous one left.
 */
import type { Key } from 'ink';
import { selectedAlertIndex } from './alert-order.js';
import { CHART_METRICS } from './chart.js';
import { DETAIL_WINDOWS } from './detail-window.js';
import { filterServices, nextSortKey, type SortKey, sortServices } from './service-order.js';
import type { AlertView, ServiceRow } from './types.js';

export type View = 'table' | 'detail' | 'help' | 'alerts' | 'rejects';

export interface UiState {
  view: View;
  /** Where Esc in the help screen returns to. */
  helpFrom: View;
  sortKey: SortKey;
  /** `S` turns the sort round; `s` starts the next key in its natural direction. */
  sortReversed: boolean;
  filter: string;
  editingFilter: boolean;
  /** The selected service by name (rows re-sort under it) and the row it was last seen at. */
  selection: { name: string | null; index: number };
  detailName: string | null;
  /** Where Esc in the detail view returns to. */
  detailFrom: 'table' | 'alerts';
  /** The alert under the cursor in the alerts pane, by id (the list re-orders under it) and last row. */
  alertSelection: { id: string | null; index: number };
  /** Bumped when the alerts pane opens or on `r` there, to reload the alerts. */
  alertsReload: number;
  windowIndex: number;
  chartIndex: number;
  /** Bumped by `r` to reload the detail view. */
  reload: number;
  /** Bumped when the rejections pane opens or on `r` there, to load the newest rejected datagrams. */
  rejectsReload: number;
  /** The first sample shown in the rejections pane. */
  rejectsTop: number;
  /** Clock times in UTC instead of the local zone (`u`). */
  utc: boolean;
  confirming: boolean;
}

export const INITIAL_UI: UiState = {
  view: 'table',
  helpFrom: 'table',
  sortKey: 'health',
  sortReversed: false,
  filter: '',
  editingFilter: false,
  selection: { name: null, index: 0 },
  detailName: null,
  detailFrom: 'table',
  alertSelection: { id: null, index: 0 },
  alertsReload: 0,
  windowIndex: 0,
  chartIndex: 0,
  reload: 0,
  rejectsReload: 0,
  rejectsTop: 0,
  utc: false,
  confirming: false,
};

export type Effect =
  | { type: 'quit' }
  | { type: 'batch'; full: boolean }
  | { type: 'batch-busy' }
  | { type: 'clear-notice' };

export interface KeyContext {
  /** The latest push, unsorted. */
  services: readonly ServiceRow[];
  /** The alerts pane's list, in the order shown. */
  alerts: readonly AlertView[];
  /** Rows per page for PgUp/PgDn. */
  pageSize: number;
  /** The rejections pane's last first sample: the one that still fills the pane (0 when all fit). */
  rejectsMaxTop: number;
  /** A batch requested from this dashboard is still running. */
  batchBusy: boolean;
}

/** Just the key fields the machine reads, so tests can build keys by hand. */
export type KeyLike = Pick<
  Key,
  | 'upArrow'
  | 'downArrow'
  | 'leftArrow'
  | 'rightArrow'
  | 'pageUp'
  | 'pageDown'
  | 'home'
  | 'end'
  | 'return'
  | 'escape'
  | 'ctrl'
  | 'meta'
  | 'backspace'
  | 'delete'
>;

let cache: { services: readonly ServiceRow[]; ui: SortAndFilter; rows: readonly ServiceRow[] } | null = null;

type SortAndFilter = Pick<UiState, 'sortKey' | 'sortReversed' | 'filter'>;

/** Sorted then filtered; memoised on its inputs because both the render and every keypress ask for it. */
export function visibleRows(services: readonly ServiceRow[], ui: SortAndFilter): readonly ServiceRow[] {
  const c = cache;
  if (c && c.services === services && c.ui.sortKey === ui.sortKey && c.ui.sortReversed === ui.sortReversed && c.ui.filter === ui.filter) {
    return c.rows;
  }
  const rows = filterServices(sortServices(services, ui.sortKey, ui.sortReversed), ui.filter);
  cache = { services, ui: { sortKey: ui.sortKey, sortReversed: ui.sortReversed, filter: ui.filter }, rows };
  return rows;
}

/** A key with no flag set: a plain character. */
export const NO_KEY: KeyLike = {
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

/** The key Ink reports for `ch` read on its own (its parse-keypress), for the characters the dashboard reads. */
function charKey(ch: string): [string, KeyLike] {
  switch (ch) {
    case '\r':
    case '\n':
      return ['', { ...NO_KEY, return: true }];
    case '\u007f':
      return ['', { ...NO_KEY, delete: true }];
    case '\b':
      return ['', { ...NO_KEY, backspace: true }];
  }
  const code = ch.codePointAt(0) ?? 0;
  // Ctrl-A..Ctrl-Z arrive as 0x01-0x1a; the tab (0x09) and the rest of the controls mean nothing here.
  if (code >= 1 && code <= 26 && ch !== '\t') return [String.fromCharCode(code + 96), { ...NO_KEY, ctrl: true }];
  if (code < 32) return ['', NO_KEY];
  return [ch, NO_KEY];
}

/**
 * The keys in one input event, in order. Keys that arrive in one read (typed fast, auto-repeat, a paste, tmux
 * send-keys) reach useInput as one string, and Ink parses only a lone key: "xy" + two backspaces comes with
 * no key flag set, and "jj\r" is two moves and an Enter, not text. Ink splits escape sequences (arrows, Esc)
 * out of a read before this, so a run holds plain characters: each becomes the key it is on its own.
 */
export function splitKeys(input: string, key: KeyLike): [string, KeyLike][] {
  if (input.length <= 1 || key.ctrl || key.meta || input.includes('\u001B')) return [[input, key]];
  const chars = Array.from(input);
  return chars.length === 1 ? [[input, key]] : chars.map(charKey);
}

/** Index of the selected row in `rows`: where its service is now, else the row it was at (clamped); -1 if none. */
export function selectedIndex(rows: readonly ServiceRow[], selection: UiState['selection']): number {
  const found = selection.name === null ? -1 : rows.findIndex((r) => r.service === selection.name);
  return found >= 0 ? found : Math.min(selection.index, rows.length - 1);
}

type Result = { ui: UiState; effect?: Effect };

function moveTo(ui: UiState, rows: readonly ServiceRow[], index: number): UiState {
  if (rows.length === 0) return ui;
  const i = Math.max(0, Math.min(rows.length - 1, index));
  const name = rows[i]!.service;
  return { ...ui, selection: { name, index: i }, detailName: ui.view === 'detail' ? name : ui.detailName };
}

function navigate(ui: UiState, input: string, key: KeyLike, ctx: KeyContext): UiState | null {
  const rows = visibleRows(ctx.services, ui);
  const at = selectedIndex(rows, ui.selection);
  const page = Math.max(1, ctx.pageSize);
  if (key.upArrow || input === 'k') return moveTo(ui, rows, at - 1);
  if (key.downArrow || input === 'j') return moveTo(ui, rows, at + 1);
  if (key.pageUp) return moveTo(ui, rows, at - page);
  if (key.pageDown) return moveTo(ui, rows, at + page);
  if (key.home || input === 'g') return moveTo(ui, rows, 0);
  if (key.end || input === 'G') return moveTo(ui, rows, rows.length - 1);
  return null;
}

const isEnter = (input: string, key: KeyLike): boolean => key.return || input === '\n' || input === '\r';

/** The alerts pane: move the cursor, Enter opens the alert's service, Esc (or `a` again) goes back. */
function alertsKey(ui: UiState, input: string, key: KeyLike, ctx: KeyContext): Result {
  if (key.escape || key.leftArrow || input === 'h' || input === 'a') return { ui: { ...ui, view: 'table' } };
  if (input === 'r') return { ui: { ...ui, alertsReload: ui.alertsReload + 1 } };
  const at = selectedAlertIndex(ctx.alerts, ui.alertSelection);
  const page = Math.max(1, ctx.pageSize);
  let to: number | null = null;
  if (key.upArrow || input === 'k') to = at - 1;
  else if (key.downArrow || input === 'j') to = at + 1;
  else if (key.pageUp) to = at - page;
  else if (key.pageDown) to = at + page;
  else if (key.home || input === 'g') to = 0;
  else if (key.end || input === 'G') to = ctx.alerts.length - 1;
  if (to !== null) {
    if (ctx.alerts.length === 0) return { ui };
    const i = Math.max(0, Math.min(ctx.alerts.length - 1, to));
    return { ui: { ...ui, alertSelection: { id: ctx.alerts[i]!.id, index: i } } };
  }
  if (isEnter(input, key) || key.rightArrow || input === 'l') {
    const alert = ctx.alerts[at];
    if (!alert) return { ui };
    // The table cursor moves to the service too, so j/k in the detail view continue from it.
    const rows = visibleRows(ctx.services, ui);
    const index = Math.max(0, rows.findIndex((r) => r.service === alert.service));
    return {
      ui: {
        ...ui,
        view: 'detail',
        detailFrom: 'alerts',
        detailName: alert.service,
        selection: { name: alert.service, index },
        alertSelection: { id: alert.id, index: at },
      },
    };
  }
  return { ui };
}

/** The rejections pane: j/k scroll the samples a datagram at a time, r loads the newest, Esc (or `x`) goes back. */
function rejectsKey(ui: UiState, input: string, key: KeyLike, ctx: KeyContext): Result {
  if (key.escape || key.leftArrow || input === 'h' || input === 'x') return { ui: { ...ui, view: 'table' } };
  if (input === 'r') return { ui: { ...ui, rejectsReload: ui.rejectsReload + 1, rejectsTop: 0 } };
  const page = Math.max(1, ctx.pageSize);
  let to: number | null = null;
  if (key.upArrow || input === 'k') to = ui.rejectsTop - 1;
  else if (key.downArrow || input === 'j') to = ui.rejectsTop + 1;
  else if (key.pageUp) to = ui.rejectsTop - page;
  else if (key.pageDown) to = ui.rejectsTop + page;
  else if (key.home || input === 'g') to = 0;
  else if (key.end || input === 'G') to = ctx.rejectsMaxTop;
  if (to === null) return { ui };
  return { ui: { ...ui, rejectsTop: Math.max(0, Math.min(ctx.rejectsMaxTop, to)) } };
}

function filterKey(ui: UiState, input: string, key: KeyLike, ctx: KeyContext): Result {
  if (key.escape) return { ui: { ...ui, filter: '', editingFilter: false } };
  if (isEnter(input, key)) return { ui: { ...ui, editingFilter: false } };
  if (key.backspace || key.delete) return { ui: { ...ui, filter: Array.from(ui.filter).slice(0, -1).join('') } };
  if (input === 'u' && key.ctrl) return { ui: { ...ui, filter: '' } };
  if (key.upArrow || key.downArrow || key.pageUp || key.pageDown) return { ui: navigate(ui, '', key, ctx) ?? ui };
  if (!input || key.ctrl || key.meta) return { ui };
  // splitKeys hands over one character at a time; control characters that still get here are dropped.
  const printable = Array.from(input)
    .filter((ch) => ch >= ' ' && ch !== '\u007f')
    .join('');
  if (!printable) return { ui };
  // A new filter puts the cursor on the first service it matches.
  const filter = ui.filter + printable;
  const first = visibleRows(ctx.services, { ...ui, filter })[0];
  return { ui: { ...ui, filter, selection: { name: first?.service ?? null, index: 0 } } };
}

export function handleKey(ui: UiState, input: string, key: KeyLike, ctx: KeyContext): Result {
  if (input === 'c' && key.ctrl) return { ui, effect: { type: 'quit' } };
  if (ui.editingFilter) return filterKey(ui, input, key, ctx);
  if (ui.confirming) {
    if (input === 'y' || input === 'Y') return { ui: { ...ui, confirming: false }, effect: { type: 'batch', full: false } };
    if (input === 'f' || input === 'F') return { ui: { ...ui, confirming: false }, effect: { type: 'batch', full: true } };
    if (input === 'n' || input === 'N' || key.escape) return { ui: { ...ui, confirming: false } };
    if (input === 'q') return { ui, effect: { type: 'quit' } };
    return { ui };
  }
  if (input === 'q') return { ui, effect: { type: 'quit' } };
  if (ui.view === 'help') {
    return key.escape || input === '?' ? { ui: { ...ui, view: ui.helpFrom } } : { ui };
  }
  if (input === '?') return { ui: { ...ui, view: 'help', helpFrom: ui.view } };
  if (input === 'b') return ctx.batchBusy ? { ui, effect: { type: 'batch-busy' } } : { ui: { ...ui, confirming: true } };
  if (input === 'u') return { ui: { ...ui, utc: !ui.utc } };
  if (ui.view === 'rejects') return rejectsKey(ui, input, key, ctx);
  if (input === 'x') return { ui: { ...ui, view: 'rejects', rejectsReload: ui.rejectsReload + 1, rejectsTop: 0 } };
  if (ui.view === 'alerts') return alertsKey(ui, input, key, ctx);
  if (input === 'a') return { ui: { ...ui, view: 'alerts', alertsReload: ui.alertsReload + 1 } };

  if (ui.view === 'detail') {
    if (key.escape || key.leftArrow || input === 'h') return { ui: { ...ui, view: ui.detailFrom } };
    if (input === 'w') return { ui: { ...ui, windowIndex: (ui.windowIndex + 1) % DETAIL_WINDOWS.length } };
    if (input === 'c') return { ui: { ...ui, chartIndex: (ui.chartIndex + 1) % CHART_METRICS.length } };
    if (input === 'r') return { ui: { ...ui, reload: ui.reload + 1 } };
    return { ui: navigate(ui, input, key, ctx) ?? ui };
  }

  const moved = navigate(ui, input, key, ctx);
  if (moved) return { ui: moved };
  if (isEnter(input, key) || key.rightArrow || input === 'l') {
    const rows = visibleRows(ctx.services, ui);
    const at = selectedIndex(rows, ui.selection);
    const row = rows[at];
    if (!row) return { ui };
    return { ui: { ...ui, view: 'detail', detailFrom: 'table', detailName: row.service, selection: { name: row.service, index: at } } };
  }
  if (input === '/') return { ui: { ...ui, editingFilter: true } };
  if (input === 's') return { ui: { ...ui, sortKey: nextSortKey(ui.sortKey), sortReversed: false } };
  if (input === 'S') return { ui: { ...ui, sortReversed: !ui.sortReversed } };
  if (key.escape) return { ui: { ...ui, filter: '' }, effect: { type: 'clear-notice' } };
  return { ui };
}
