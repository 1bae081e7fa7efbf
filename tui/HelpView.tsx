import { Box, Text } from 'ink';
import { HEALTH_LOOK } from './theme.js';

const KEYS: readonly [string, string][] = [
  ['↑ ↓  j k', 'move (PgUp PgDn page, g G first and last)'],
  ['Enter', 'details of the selected service'],
  ['/', 'filter by name, or a health word (crit, silent, warn, ok)'],
  ['s  S', 'cycle the sort (health cpu ram disk free seen name); S reverses'],
  ['a', 'alerts pane: firing, then resolved; ⏎ opens the service, r reloads'],
  ['x', 'rejections pane: counts by reason, the newest rejected datagrams'],
  ['b', 'run a batch now: asks y (incremental), f (full recompute), n'],
  ['w  c  r', 'detail view: window 1h/24h/7d, chart CPU/RAM/disk, reload'],
  ['u', 'clock times in UTC or in the local zone (the zone is shown)'],
  ['Esc', 'back; clears the filter in the table'],
  ['?  q', 'this help; quit (also Ctrl-C)'],
];

export function HelpView({ height }: { height: number }) {
  const health = (['CRIT', 'SILENT', 'WARN', 'OK'] as const).map((h) => `${HEALTH_LOOK[h].symbol} ${HEALTH_LOOK[h].word}`);
  return (
    <Box flexDirection="column" height={height}>
      <Text bold>Keys</Text>
      {KEYS.map(([k, what]) => (
        <Text key={k} wrap="truncate">
          {`  ${k.padEnd(11)} ${what}`}
        </Text>
      ))}
      <Text wrap="truncate">
        <Text bold>Health</Text>
        {`  ${health.join('  ')}  worst first; SILENT: no message lately`}
      </Text>
      <Text bold>Columns</Text>
      <Text wrap="truncate">  CPU RAM DISK: latest use, %.  FREE GB: free disk.  SEEN: the last message</Text>
      <Text wrap="truncate">  CPU 15m, RAM 15m: peaks over the last 15 minutes (narrow: RAM 15m goes first)</Text>
      <Text wrap="truncate">  REASON: why it is not OK, first reason (+N more: all in the detail view)</Text>
      <Text wrap="truncate">
        <Text bold>Connection</Text>  ● live   ↻ reconnecting: the last data stays on screen, marked STALE
      </Text>
    </Box>
  );
}
