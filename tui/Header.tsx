import { Box, Text } from 'ink';
import { Fragment } from 'react';
import stringWidth from 'string-width';
import { formatAgo, formatBytes, formatCount, formatDuration, formatPct, formatRate, safeText } from './format.js';
import { reasonCounts } from './RejectsView.js';
import { HEALTH_LOOK, useTint } from './theme.js';
import type { ConnectionState, Health, PipelineView } from './types.js';

export interface HeaderProps {
  url: string;
  connection: ConnectionState;
  pipeline: PipelineView | null;
  counts: Record<Health, number>;
  now: number;
  /** How old the shown data is when it is stale; null when it is live. */
  staleFor: number | null;
  width: number;
}

/** The words and colour for the connection, short enough for 80 columns; readable without the colour. */
export function connectionLabel(c: ConnectionState, now: number, host: string): { text: string; color: string } {
  switch (c.status) {
    case 'connected':
      return { text: `● live ${host}`, color: 'green' };
    case 'connecting':
      return { text: `◌ connecting to ${host}`, color: 'yellow' };
    case 'reconnecting': {
      const when = c.nextRetryAt == null ? 'trying now' : `retry in ${formatDuration(Math.max(0, c.nextRetryAt - now) + 999)}`;
      return { text: `↻ reconnecting, ${when}${c.attempt > 0 ? ` (#${c.attempt})` : ''}`, color: 'red' };
    }
  }
}

const BATCH_SYMBOL: Record<string, string> = { SUCCEEDED: '✔', FAILED: '✖', RUNNING: '◐' };
const BATCH_COLOR: Record<string, string> = { SUCCEEDED: 'green', FAILED: 'red', RUNNING: 'yellow' };

export interface Counter {
  label: string;
  /** The label when even one space apart the full ones do not fit. */
  short: string;
  value: string;
  color?: string;
  /** Said after the value when there is room: the top rejection reason. */
  hint?: string;
}

/** The pipeline's counters, in the order shown; quarantined only once there is something quarantined. */
export function pipelineCounters(p: PipelineView): Counter[] {
  const reasons = reasonCounts(p);
  const top = reasons[0];
  const counters: Counter[] = [
    { label: 'msg/s', short: 'msg/s', value: formatRate(p.messagesPerSecond) },
    { label: 'accepted', short: 'acc', value: formatCount(p.accepted) },
    {
      label: 'rejected',
      short: 'rej',
      value: formatCount(p.rejected),
      color: p.rejected > 0 ? 'yellow' : undefined,
      hint: top ? ` (${safeText(top.reason)}${reasons.length > 1 ? ` +${reasons.length - 1}` : ''})` : undefined,
    },
    { label: 'drops', short: 'drop', value: formatCount(p.kernelDrops), color: p.kernelDrops ? 'red' : undefined },
    { label: 'late', short: 'late', value: formatCount(p.late) },
    { label: 'backlog', short: 'bklog', value: formatCount(p.backlogSegments) },
  ];
  if (p.quarantinedLines > 0) counters.push({ label: 'quarantined', short: 'quar', value: formatCount(p.quarantinedLines), color: 'yellow' });
  return counters;
}

const COUNTER_STYLES = [
  { short: false, sep: '  ', hint: true },
  { short: false, sep: '  ', hint: false },
  { short: false, sep: ' ', hint: false },
  { short: true, sep: ' ', hint: false },
] as const;

/**
 * The counters' texts in the first style that fits `width`: every counter stays, what gives way is the
 * rejection hint, then the spacing, then the label length. Counts are at most five columns (formatCount), so
 * the short style fits 80 columns with every counter at its widest.
 */
export function fitCounters(counters: readonly Counter[], width: number): { texts: string[]; sep: string } {
  const styled = COUNTER_STYLES.map((st) => ({
    sep: st.sep,
    texts: counters.map((c) => `${st.short ? c.short : c.label} ${c.value}${st.hint && c.hint ? c.hint : ''}`),
  }));
  return styled.find((x) => stringWidth(x.texts.join(x.sep)) <= width) ?? styled.at(-1)!;
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

export function Header({ url, connection, pipeline, counts, now, staleFor, width }: HeaderProps) {
  const tint = useTint();
  const conn = connectionLabel(connection, now, hostOf(url));
  const p = pipeline;
  const batch = p?.lastBatch;
  const order: Health[] = ['CRIT', 'SILENT', 'WARN', 'OK'];
  const counters = p ? pipelineCounters(p) : [];
  const fitted = fitCounters(counters, width);
  return (
    <Box flexDirection="column" width={width}>
      <Box>
        <Box flexGrow={1} flexShrink={1}>
          <Text wrap="truncate">
            {width >= 100 ? <Text bold>hms </Text> : null}
            {staleFor != null ? (
              <Text bold color={tint('red')}>
                {`STALE ${formatDuration(staleFor)} `}
              </Text>
            ) : null}
            <Text color={tint(conn.color)}>{conn.text}</Text>
          </Text>
        </Box>
        <Box flexShrink={0} marginLeft={1}>
          <Text>
            {order.map((h) => (
              <Text key={h} color={counts[h] > 0 && h !== 'OK' ? tint(HEALTH_LOOK[h].color) : undefined}>
                {`${h === 'CRIT' ? '' : ' '}${HEALTH_LOOK[h].word} ${counts[h]}`}
              </Text>
            ))}
          </Text>
        </Box>
      </Box>
      {p ? (
        <>
          <Text wrap="truncate">
            {fitted.texts.map((text, i) => {
              const c = counters[i]!;
              return (
                <Fragment key={c.label}>
                  {i > 0 ? fitted.sep : ''}
                  <Text color={c.color ? tint(c.color) : undefined}>{text}</Text>
                </Fragment>
              );
            })}
          </Text>
          {p.storageError ? (
            <Text wrap="truncate" bold color={tint('red')}>
              {`DISK FAILING: ${safeText(p.storageError)}; ${formatBytes(p.unflushedBytes)} accepted, waiting in memory`}
            </Text>
          ) : null}
          <Text wrap="truncate">
            {`W ${p.watermark == null ? 'none yet' : formatAgo(p.watermark, now)}  store ${p.storage}  engines ${p.batchEngine}/${p.speedEngine}  batch `}
            {batch ? (
              <Text color={tint(BATCH_COLOR[batch.status] ?? 'yellow')}>
                {`${BATCH_SYMBOL[batch.status] ?? '?'} ${batch.status} ${formatAgo(batch.finishedAt ?? batch.startedAt, now)}`}
              </Text>
            ) : (
              'none yet'
            )}
            {batch?.status === 'RUNNING' && batch.mapProgress != null ? ` map ${formatPct(batch.mapProgress)} reduce ${formatPct(batch.reduceProgress ?? 0)}` : ''}
            {batch?.status === 'FAILED' && batch.error ? `: ${safeText(batch.error)}` : ''}
          </Text>
        </>
      ) : (
        <>
          <Text dimColor wrap="truncate">
            pipeline: waiting for the first update…
          </Text>
          <Text> </Text>
        </>
      )}
    </Box>
  );
}
