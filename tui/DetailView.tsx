import { Box, Text } from 'ink';
import { CHART_METRICS, type ChartMetric, renderChart } from './chart.js';
import type { DetailWindow } from './detail-window.js';
import {
  fitText,
  formatAgo,
  formatClock,
  formatExact,
  formatFixed1,
  formatForecast,
  formatGb,
  formatPct,
  safeText,
  tidyNumbers,
  zoneName,
} from './format.js';
import { HEALTH_LOOK, useTint } from './theme.js';
import type { ServiceRow } from './types.js';
import type { ServiceDetail } from './use-service-detail.js';

export interface DetailViewProps {
  service: string;
  /** The live row from the subscription; undefined when the service left the fleet. */
  row: ServiceRow | undefined;
  detail: ServiceDetail;
  window: DetailWindow;
  chart: ChartMetric;
  now: number;
  width: number;
  height: number;
  stale: boolean;
  /** Clock times in UTC instead of the local zone. */
  utc: boolean;
}

const RESOURCES = [
  { key: 'cpu', label: 'CPU %' },
  { key: 'ram', label: 'RAM used %' },
  { key: 'disk', label: 'Disk used %' },
] as const;

/** Lines above the chart besides the reasons and the forecast; the chart gets the rest of `height`. */
const FIXED_LINES = 8;
/** Bar rows the chart keeps however many reasons there are. */
const CHART_MIN = 2;

/** The forecast line: "disk full in 5h (at 03:12) · RAM full in 40m (at 10:40)"; null when neither fills up. */
export function forecastLine(row: ServiceRow | undefined, now: number, utc = false): { text: string; color?: string } | null {
  if (!row) return null;
  const parts = [formatForecast('disk', row.diskFullAt, now, utc), formatForecast('RAM', row.ramFullAt, now, utc)].filter(
    (p): p is string => p !== null,
  );
  if (parts.length === 0) return null;
  const soonest = Math.min(row.diskFullAt ?? Number.POSITIVE_INFINITY, row.ramFullAt ?? Number.POSITIVE_INFINITY) - now;
  // The default rule levels: CRIT within an hour, WARN within a day.
  const color = soonest <= 3_600_000 ? 'red' : soonest <= 86_400_000 ? 'yellow' : undefined;
  return { text: `forecast: ${parts.join(' · ')}`, color };
}

export function DetailView({ service, row, detail, window, chart, now, width, height, stale, utc }: DetailViewProps) {
  const tint = useTint();
  const look = row ? HEALTH_LOOK[row.health] : undefined;
  const s = detail.stats;
  const withDate = window.ms > 3_600_000;
  const chartLabel = CHART_METRICS.find((m) => m.key === chart)?.label ?? chart;
  // The peak column is wide enough for its zone in the header: "peak (GMT+5:30)".
  const statLine = (label: string, cells: string[]): string =>
    fitText(label, 13) + cells.map((c, i) => fitText(c, i === 3 ? 17 : 8, 'right')).join('');
  let body: string[];
  if (detail.loading && !s) body = ['loading stats…', '', '', ''];
  else if (!s) body = [`no messages from ${safeText(service)} in the last ${window.label}`, '', '', ''];
  else
    body = [
      statLine('', ['mean', 'min', 'max', `peak (${zoneName(utc, now)})`]),
      ...RESOURCES.map((r) =>
        statLine(r.label, [
          formatFixed1(s[r.key].mean),
          formatFixed1(s[r.key].min),
          formatFixed1(s[r.key].max),
          formatClock(s[r.key].peakAt, withDate, utc),
        ]),
      ),
    ];
  const forecast = forecastLine(row, now, utc);
  // Every reason on its own line; only a chart squeezed to its minimum makes the last ones collapse to "+N more".
  const reasons = row?.reasons ?? [];
  const room = Math.max(0, height - FIXED_LINES - 1 - CHART_MIN - (forecast ? 1 : 0));
  const reasonLines =
    reasons.length <= room ? reasons : [...reasons.slice(0, Math.max(0, room - 1)), `+${reasons.length - Math.max(0, room - 1)} more`];
  const chartLines = renderChart(detail.series, {
    from: detail.from,
    to: detail.to,
    stepMs: window.stepMs,
    width,
    height: Math.max(CHART_MIN, height - FIXED_LINES - 1 - reasonLines.length - (forecast ? 1 : 0)),
    metric: chart,
    withDate,
    utc,
  });
  return (
    <Box flexDirection="column" height={height} width={width}>
      <Text wrap="truncate" bold>
        {`${safeText(service)}  `}
        {look ? <Text color={tint(look.color)}>{`${look.symbol} ${look.word}`}</Text> : <Text>gone from the fleet</Text>}
      </Text>
      {reasonLines.map((reason, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: fixed positions
        <Text key={i} wrap="truncate" dimColor={stale}>
          {`  · ${safeText(tidyNumbers(reason))}`}
        </Text>
      ))}
      {forecast ? (
        <Text wrap="truncate" color={forecast.color ? tint(forecast.color) : undefined} dimColor={stale}>
          {forecast.text}
        </Text>
      ) : null}
      <Text wrap="truncate">
        {`window ${window.label}`}
        {s
          ? ` · ${formatExact(s.count)} messages: batch ${formatExact(s.batchCount)} + realtime ${formatExact(s.realtimeCount)}`
          : ''}
      </Text>
      {body.map((line, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: fixed positions
        <Text key={i} wrap="truncate" dimColor={stale || (detail.loading && !s)}>
          {line || ' '}
        </Text>
      ))}
      <Text wrap="truncate" dimColor={stale}>
        {row
          ? `now  CPU ${formatPct(row.cpu)}  RAM ${formatPct(row.ramUsed)} free ${formatGb(row.ramFreeGb)} GB  disk ${formatPct(
              row.diskUsed,
            )} free ${formatGb(row.diskFreeGb)} GB  seen ${formatAgo(row.lastSeen, now)}`
          : 'now  no live data'}
      </Text>
      {detail.error ? (
        <Text wrap="truncate" color={tint('red')}>
          {`could not load history: ${detail.error}${s ? ' (showing the previous answer)' : ''}`}
        </Text>
      ) : (
        <Text wrap="truncate" bold>
          {`${chartLabel}, mean per column over ${window.label}${detail.loading ? ' (loading…)' : ''}`}
        </Text>
      )}
      {chartLines.map((line, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: fixed positions
        <Text key={i} wrap="truncate" color={i < chartLines.length - 1 ? tint('cyan') : undefined} dimColor={stale}>
          {line}
        </Text>
      ))}
    </Box>
  );
}
