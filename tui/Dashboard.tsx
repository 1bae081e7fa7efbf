import { Box, type Key, Text, useInput, useStdin } from 'ink';
import { useCallback, useMemo, useRef, useState } from 'react';
import stringWidth from 'string-width';
import { AlertsView } from './AlertsView.js';
import { selectedAlertIndex } from './alert-order.js';
import { CHART_METRICS, type ChartMetric } from './chart.js';
import { describeError } from './client.js';
import { DetailView } from './DetailView.js';
import { DETAIL_WINDOWS } from './detail-window.js';
import { Footer, type FooterMode } from './Footer.js';
import { fitText, formatCount, formatDuration, safeText } from './format.js';
import { Header } from './Header.js';
import { HelpView } from './HelpView.js';
import { RejectsView, samplesShown } from './RejectsView.js';
import { ServiceTable } from './ServiceTable.js';
import { INITIAL_UI, handleKey, type KeyLike, selectedIndex, splitKeys, type UiState, visibleRows } from './dashboard-keys.js';
import { healthCounts, sortArrow, sortLabel } from './service-order.js';
import { ColorContext, useTint } from './theme.js';
import type { BatchRunView, DashboardClient } from './types.js';
import { useAlerts } from './use-alerts.js';
import { useDashboardData } from './use-dashboard-data.js';
import { useNow } from './use-now.js';
import { useRejects } from './use-rejects.js';
import { useServiceDetail } from './use-service-detail.js';
import { type TerminalSize, useTerminalSize } from './use-terminal-size.js';

export interface DashboardProps {
  client: DashboardClient;
  /** Shown in the header. */
  url: string;
  /** Called once when the user quits, with the process exit code. */
  onExit: (code: number) => void;
  /** @default true; pass colorEnabled(process.env) to honour NO_COLOR. */
  color?: boolean;
  /** @default Date.now */
  clock?: () => number;
  /** Fixes the size instead of following the terminal (tests). */
  size?: TerminalSize;
}

/** Data older than this while "connected" is marked stale too: the daemon pushes every second. */
export const STALE_AFTER_MS = 5000;

const MIN_COLUMNS = 40;
const MIN_ROWS = 10;

/**
 * A one-line message from an action; errors stay until Esc, the rest fade after NOTICE_MS. A batch's outcome
 * keeps the run, so its line is laid out for the width at each render.
 */
type Notice = { text: string; tone: 'info' | 'ok' | 'error'; at: number; run?: BatchRunView };
const NOTICE_MS = 15_000;

/**
 * A batch run in one status line of `width` columns. The outcome and its counts stay; what gives way, in this
 * order, is the run's id (a UUID, cut to its first 8 characters: enough to find it in the daemon log), then
 * the engine (the header shows it).
 */
export function batchNotice(run: BatchRunView, width: number): string {
  const took = run.finishedAt == null ? null : formatDuration(run.finishedAt - run.startedAt);
  const id = `id ${safeText(run.id.slice(0, 8))}`;
  const parts: (string | null)[] =
    run.status === 'FAILED'
      ? [`batch FAILED${took ? ` after ${took}` : ''}: ${safeText(run.error ?? 'no reason given')}`, id]
      : [
          `batch ${run.status}`,
          run.mode,
          run.engine,
          run.records == null ? null : `${formatCount(run.records)} records`,
          run.partitions == null ? null : `${formatCount(run.partitions)} partitions`,
          took ? `in ${took}` : null,
          id,
        ];
  const line = (): string => parts.filter((p) => p !== null).join(' · ');
  for (const drop of [id, run.engine]) {
    if (stringWidth(line()) <= width) break;
    const at = parts.lastIndexOf(drop);
    if (at >= 0) parts[at] = null;
  }
  return line();
}

export function Dashboard({ color = true, ...props }: DashboardProps) {
  return (
    <ColorContext.Provider value={color}>
      <Screen {...props} />
    </ColorContext.Provider>
  );
}

function Screen({ client, url, onExit, clock = Date.now, size: fixedSize }: Omit<DashboardProps, 'color'>) {
  const tint = useTint();
  const { isRawModeSupported } = useStdin();
  const size = useTerminalSize(fixedSize);
  const now = useNow(clock);
  const data = useDashboardData(client, clock);

  // Keys change `ui.current` at once and then ask for a render (see dashboard-keys.ts for why).
  const ui = useRef<UiState>(INITIAL_UI);
  const [, rerender] = useState(0);
  const [notice, setNotice] = useState<Notice | null>(null);
  const batchBusy = useRef(false);
  const exited = useRef(false);
  const offsetRef = useRef(0);
  const alertOffsetRef = useRef(0);
  const services = useRef(data.services);
  services.current = data.services;

  const { view, sortKey, sortReversed, filter, editingFilter, confirming, windowIndex, chartIndex, reload, detailName, alertsReload, utc } =
    ui.current;
  const alerts = useAlerts(client, data.connectEpoch, alertsReload);
  const alertList = useRef(alerts.list);
  alertList.current = alerts.list;
  const rejects = useRejects(client, ui.current.rejectsReload, data.pipeline?.rejected ?? null, clock);
  const visible = visibleRows(data.services, ui.current);
  const counts = useMemo(() => healthCounts(data.services), [data.services]);

  const selected = selectedIndex(visible, ui.current.selection);
  const bodyHeight = Math.max(1, size.rows - 1 - 3 - 2);
  const tableRows = Math.max(1, bodyHeight - 1);
  let offset = offsetRef.current;
  if (selected < offset) offset = selected;
  if (selected >= offset + tableRows) offset = selected - tableRows + 1;
  offset = Math.max(0, Math.min(offset, visible.length - tableRows));
  offsetRef.current = offset;

  // The alerts pane: a summary and a column header above the rows.
  const alertRows = Math.max(1, bodyHeight - 2);
  const alertSelected = selectedAlertIndex(alerts.list, ui.current.alertSelection);
  let alertOffset = alertOffsetRef.current;
  if (alertSelected < alertOffset) alertOffset = alertSelected;
  if (alertSelected >= alertOffset + alertRows) alertOffset = alertSelected - alertRows + 1;
  alertOffset = Math.max(0, Math.min(alertOffset, alerts.list.length - alertRows));
  alertOffsetRef.current = alertOffset;

  // The rejections pane scrolls a sample at a time, until its last sample is on screen.
  const samplesFit = samplesShown(data.pipeline, rejects, bodyHeight, utc);
  const rejectsMaxTop = Math.max(0, rejects.sample.length - samplesFit);
  const rejectsTop = Math.min(ui.current.rejectsTop, rejectsMaxTop);
  const rejectsMaxTopRef = useRef(rejectsMaxTop);
  rejectsMaxTopRef.current = rejectsMaxTop;

  const connected = data.connection.status === 'connected';
  const dataAge = data.servicesAt === null ? null : now - data.servicesAt;
  const stale = data.servicesAt !== null && (!connected || (dataAge ?? 0) > STALE_AFTER_MS);

  const window = DETAIL_WINDOWS[windowIndex]!;
  const chart: ChartMetric = CHART_METRICS[chartIndex]!.key;
  const detailService = detailName ?? '';
  const detail = useServiceDetail(client, detailService, window, clock, reload, view === 'detail' && detailName !== null);
  const detailRow = useMemo(
    () => data.services.find((r) => r.service === detailService),
    [data.services, detailService],
  );

  const runBatch = useCallback(
    (full: boolean): void => {
      batchBusy.current = true;
      setNotice({ text: `running a ${full ? 'full' : 'incremental'} batch…`, tone: 'info', at: clock() });
      client.runBatch(full).then(
        (run) => {
          setNotice({ text: '', run, tone: run.status === 'FAILED' ? 'error' : 'ok', at: clock() });
          batchBusy.current = false;
        },
        (err: unknown) => {
          setNotice({ text: `batch not run: ${describeError(err)}`, tone: 'error', at: clock() });
          batchBusy.current = false;
        },
      );
    },
    [client, clock],
  );

  const apply = useCallback(
    (input: string, key: KeyLike) => {
      if (exited.current) return;
      const result = handleKey(ui.current, input, key, {
        services: services.current,
        alerts: alertList.current,
        pageSize: Math.max(1, tableRows - 1),
        rejectsMaxTop: rejectsMaxTopRef.current,
        batchBusy: batchBusy.current,
      });
      if (result.ui !== ui.current) {
        ui.current = result.ui;
        rerender((n) => n + 1);
      }
      switch (result.effect?.type) {
        case 'quit':
          exited.current = true;
          onExit(0);
          break;
        case 'batch':
          runBatch(result.effect.full);
          break;
        case 'batch-busy':
          setNotice({ text: 'the batch requested from here is still running', tone: 'info', at: clock() });
          break;
        case 'clear-notice':
          setNotice(null);
          break;
      }
    },
    [tableRows, onExit, runBatch, clock],
  );
  // Keys that arrive together (typed fast, auto-repeat, a paste, tmux send-keys) reach Ink as one string.
  const onInput = useCallback(
    (input: string, key: Key) => {
      for (const [k, flags] of splitKeys(input, key)) apply(k, flags);
    },
    [apply],
  );
  useInput(onInput, { isActive: isRawModeSupported === true });

  if (size.columns < MIN_COLUMNS || size.rows < MIN_ROWS) {
    return (
      <Text wrap="truncate">{`Terminal too small (${size.columns}x${size.rows}); hms needs ${MIN_COLUMNS}x${MIN_ROWS}. q quits.`}</Text>
    );
  }

  const footerMode: FooterMode = editingFilter ? 'filter' : confirming ? 'confirm' : view;
  let status: { text: string; color?: string; bold?: boolean };
  if (editingFilter) status = { text: `/${filter}█  ${visible.length} of ${data.services.length} match`, bold: true };
  else if (confirming) status = { text: 'Run a batch now? y = incremental, f = full recompute, n = cancel', bold: true, color: 'yellow' };
  else if (notice && (notice.tone === 'error' || batchBusy.current || now - notice.at < NOTICE_MS)) {
    const text = notice.run ? batchNotice(notice.run, size.columns) : notice.text;
    status = { text, color: notice.tone === 'error' ? 'red' : notice.tone === 'ok' ? 'green' : undefined };
  }
  else if (data.connection.status !== 'connected' && data.connection.lastError) {
    status = { text: `${data.connection.lastError} · ${stale ? 'last data kept, marked STALE' : 'no data yet'}`, color: 'red' };
  } else if (data.error) status = { text: data.error, color: 'red' };
  else if (view === 'table') {
    const range = visible.length === 0 ? '0' : `${offset + 1}-${Math.min(visible.length, offset + tableRows)}`;
    status = {
      text: `${range} of ${visible.length}${filter ? ` matching /${filter} (Esc clears)` : ' services'} · sort: ${sortLabel(sortKey)} ${sortArrow(sortKey, sortReversed)}`,
    };
  } else if (view === 'alerts') {
    const n = alerts.list.length;
    const range = n === 0 ? '0' : `${alertOffset + 1}-${Math.min(n, alertOffset + alertRows)}`;
    status = { text: `${range} of ${n} alerts · firing first, worst first; then the latest resolved` };
  } else if (view === 'rejects') {
    const n = rejects.sample.length;
    const range = n === 0 ? '0' : `${rejectsTop + 1}-${Math.min(n, rejectsTop + samplesFit)}`;
    status = { text: `${range} of ${n} rejected datagrams kept · newest first` };
  } else status = { text: '' };

  const empty =
    data.servicesAt === null
      ? `waiting for data from ${url}…`
      : filter
        ? `no service matches /${filter} (Esc clears the filter)`
        : 'no service has reported yet';

  return (
    <Box flexDirection="column" width={size.columns} height={size.rows - 1}>
      <Header
        url={url}
        connection={data.connection}
        pipeline={data.pipeline}
        counts={counts}
        now={now}
        staleFor={stale ? (dataAge ?? 0) : null}
        width={size.columns}
      />
      <Box height={bodyHeight} flexDirection="column">
        {view === 'help' ? (
          <HelpView height={bodyHeight} />
        ) : view === 'rejects' ? (
          <RejectsView
            pipeline={data.pipeline}
            rejects={rejects}
            top={rejectsTop}
            height={bodyHeight}
            width={size.columns}
            now={now}
            utc={utc}
            stale={stale}
          />
        ) : view === 'alerts' ? (
          <AlertsView
            alerts={alerts.list}
            loaded={alerts.loaded}
            error={alerts.error}
            offset={alertOffset}
            rows={alertRows}
            selected={alertSelected}
            width={size.columns}
            now={now}
            stale={stale}
          />
        ) : view === 'detail' ? (
          <DetailView
            service={detailService}
            row={detailRow}
            detail={detail}
            window={window}
            chart={chart}
            now={now}
            width={size.columns}
            height={bodyHeight}
            stale={stale}
            utc={utc}
          />
        ) : (
          <ServiceTable
            rows={visible}
            offset={offset}
            height={tableRows}
            selected={selected}
            width={size.columns}
            now={now}
            history={data.history}
            stale={stale}
            empty={empty}
            sort={{ key: sortKey, arrow: sortArrow(sortKey, sortReversed) }}
          />
        )}
      </Box>
      <Text wrap="truncate" bold={status.bold} color={status.color ? tint(status.color) : undefined}>
        {fitText(status.text, size.columns)}
      </Text>
      <Footer
        mode={footerMode}
        window={window.label}
        chart={CHART_METRICS[chartIndex]!.label.split(' ')[0]!}
        width={size.columns}
      />
    </Box>
  );
}
