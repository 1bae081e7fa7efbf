import { Box, Text } from 'ink';
import { formatAgo, formatBytes, formatCount, formatDuration, formatRate, safeText } from './format.js';
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
            {`msg/s ${formatRate(p.messagesPerSecond)}  accepted ${formatCount(p.accepted)}  `}
            <Text color={p.rejected > 0 ? tint('yellow') : undefined}>{`rejected ${formatCount(p.rejected)}`}</Text>
            {'  '}
            <Text color={p.kernelDrops ? tint('red') : undefined}>{`drops ${formatCount(p.kernelDrops)}`}</Text>
            {`  late ${formatCount(p.late)}  backlog ${formatCount(p.backlogSegments)}`}
            {p.quarantinedLines > 0 ? <Text color={tint('yellow')}>{`  quarantined ${formatCount(p.quarantinedLines)}`}</Text> : null}
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
            {batch?.status === 'RUNNING' && batch.mapProgress != null ? ` map ${batch.mapProgress}% reduce ${batch.reduceProgress ?? 0}%` : ''}
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
