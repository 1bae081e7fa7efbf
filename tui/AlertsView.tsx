import { Box, Text } from 'ink';
import { fitText, formatAgo, formatDuration, tidyNumbers } from './format.js';
import { HEALTH_LOOK, useTint } from './theme.js';
import type { AlertView } from './types.js';

export interface AlertsLayout {
  service: number;
  message: number;
}

// marker 2, severity 8, gap 1, (service), rule 9, state 10, since 8, value 8, gap 2, (message)
const FIXED = 2 + 8 + 1 + 9 + 10 + 8 + 8 + 2;

/** The service column takes a third of what the fixed columns leave (12 to 32); the message the rest. */
export function alertsLayout(width: number): AlertsLayout {
  const rest = Math.max(12, width - FIXED);
  const service = Math.max(12, Math.min(32, Math.floor(rest / 3)));
  return { service, message: Math.max(0, rest - service) };
}

/** The alert's value in its rule's unit: 97.1% (cpu, ram, disk), 0.8 GB (free disk), 2m quiet, full in 5h. */
export function alertValue(a: AlertView): string {
  const v = a.value;
  if (v == null || !Number.isFinite(v)) return '-';
  switch (a.rule) {
    case 'cpu':
    case 'ram':
    case 'disk':
      return `${Number(v.toFixed(1))}%`;
    case 'diskFree':
      return `${Number(v.toFixed(2))} GB`;
    case 'silent':
      return formatDuration(v * 1000);
    case 'diskFull':
    case 'ramFull':
      return v <= 0 ? 'now' : `in ${formatDuration(v * 3_600_000)}`;
    default:
      return String(Number(v.toFixed(2)));
  }
}

/** FIRING, SILENCED (firing, but no notifications), or how long ago a resolved one ended. */
export function alertState(a: AlertView, now: number): string {
  if (a.state === 'RESOLVED') return `ended ${formatDuration(now - (a.endedAt ?? now))}`;
  return a.silenced ? 'SILENCED' : 'FIRING';
}

export function alertsHeader(layout: AlertsLayout): string {
  return (
    '  ' +
    fitText('SEVERITY', 8) +
    ' ' +
    fitText('SERVICE', layout.service) +
    fitText('RULE', 9) +
    fitText('STATE', 10) +
    fitText('SINCE', 8, 'right') +
    fitText('VALUE', 8, 'right') +
    '  ' +
    fitText('MESSAGE', layout.message)
  );
}

export interface AlertsViewProps {
  /** In the order shown: FIRING first, then recently resolved. Only alerts[offset, offset + rows) are drawn. */
  alerts: readonly AlertView[];
  loaded: boolean;
  error: string | null;
  offset: number;
  /** Lines for alert rows (the summary and the column header take two more). */
  rows: number;
  selected: number;
  width: number;
  now: number;
  stale: boolean;
}

export function AlertsView({ alerts, loaded, error, offset, rows, selected, width, now, stale }: AlertsViewProps) {
  const tint = useTint();
  const layout = alertsLayout(width);
  const firing = alerts.filter((a) => a.state === 'FIRING');
  const silenced = firing.filter((a) => a.silenced).length;
  const summary = loaded
    ? `Alerts: ${firing.length} firing${silenced ? ` (${silenced} silenced: no notifications)` : ''} · ${
        alerts.length - firing.length
      } recently resolved`
    : 'Alerts: loading…';
  const shown = alerts.slice(offset, offset + rows);
  return (
    <Box flexDirection="column" height={rows + 2}>
      <Text wrap="truncate" bold>
        {summary}
        {error ? <Text bold={false} color={tint('red')}>{`  ${error}`}</Text> : null}
      </Text>
      <Text bold wrap="truncate">
        {alertsHeader(layout)}
      </Text>
      {shown.length === 0 ? (
        <Text dimColor wrap="truncate">
          {loaded ? '  no alerts: every rule is quiet' : '  waiting for the alerts…'}
        </Text>
      ) : (
        shown.map((a, i) => {
          const look = HEALTH_LOOK[a.severity];
          const isSelected = offset + i === selected;
          const resolved = a.state === 'RESOLVED';
          return (
            // biome-ignore lint/suspicious/noArrayIndexKey: the line position is the identity here (see ServiceTable)
            <Text key={i} wrap="truncate" inverse={isSelected} dimColor={stale || resolved}>
              {isSelected ? '› ' : '  '}
              <Text color={resolved ? undefined : tint(look.color)}>{fitText(`${look.symbol} ${look.word}`, 8)}</Text>
              {` ${fitText(a.service, layout.service)}${fitText(a.rule, 9)}`}
              <Text bold={!resolved} color={a.silenced && !resolved ? tint('magenta') : undefined}>
                {fitText(alertState(a, now), 10)}
              </Text>
              {`${fitText(formatAgo(a.startedAt, now), 8, 'right')}${fitText(alertValue(a), 8, 'right')}  ${fitText(
                tidyNumbers(a.message),
                layout.message,
              )}`}
            </Text>
          );
        })
      )}
    </Box>
  );
}
