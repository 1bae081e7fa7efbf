import { Box, Text } from 'ink';
import stringWidth from 'string-width';
import { fitText, formatAgo, formatGb, formatPct, tidyNumbers } from './format.js';
import type { ResourceHistory } from './history.js';
import type { SortKey } from './service-order.js';
import { sparkline } from './sparkline.js';
import { HEALTH_LOOK, useTint } from './theme.js';
import type { ServiceRow } from './types.js';

export interface TableLayout {
  name: number;
  /** Width of each sparkline; 0 hides them (narrow terminals). */
  spark: number;
  /** Whether the RAM sparkline shows: the least important column, the first to go for the reason. */
  ramSpark: boolean;
  /** Width of the reason column (after a gap); 0 hides it (below about 70 columns). */
  reason: number;
}

// marker 2, health 8, gap 1, cpu 5, ram 5, disk 5, free 8, seen 8; a gap before each sparkline and the reason
const FIXED = 2 + 8 + 1 + 5 + 5 + 5 + 8 + 8;
const NAME_MIN = 12;
const NAME_MAX = 32;
/** Enough to read "cpu 97% >= 95% f…" or "disk full in 5h…". */
const REASON_MIN = 16;
const SPARK_MIN = 8;
/** 30 s a column over 15 minutes; wider would only repeat slots. */
const SPARK_MAX = 30;

/**
 * Splits what the fixed columns leave between the name, the reason and the sparklines. The reason is why an
 * engineer looks, so it is kept first: sparklines are dropped before it is squeezed (RAM, then CPU). At 80
 * columns that leaves the CPU sparkline and 16 columns of reason; what wider terminals add goes a third to the
 * name, a fifth to each sparkline, and the rest to the reason.
 */
export function tableLayout(width: number): TableLayout {
  const avail = Math.max(8, width - FIXED);
  const needed = NAME_MIN + 1 + REASON_MIN;
  if (avail < needed) {
    const reason = avail - NAME_MIN - 1;
    return reason >= 8 ? { name: NAME_MIN, spark: 0, ramSpark: false, reason } : { name: avail, spark: 0, ramSpark: false, reason: 0 };
  }
  const sparks = avail >= needed + 2 * (1 + SPARK_MIN) ? 2 : avail >= needed + 1 + SPARK_MIN ? 1 : 0;
  const spare = avail - needed - sparks * (1 + SPARK_MIN);
  const name = NAME_MIN + Math.min(NAME_MAX - NAME_MIN, Math.floor(spare / 3));
  const spark = sparks ? SPARK_MIN + Math.min(SPARK_MAX - SPARK_MIN, Math.floor(spare / 5)) : 0;
  const reason = avail - name - 1 - sparks * (spark ? spark + 1 : 0);
  return { name, spark, ramSpark: sparks === 2, reason };
}

/** The first reason, cut to `width`, with "+N" when there are more (all of them are in the detail view). */
export function reasonCell(reasons: readonly string[], width: number): string {
  if (width <= 0 || reasons.length === 0) return fitText('', width);
  const first = tidyNumbers(reasons[0]!);
  const more = reasons.length > 1 ? ` +${reasons.length - 1}` : '';
  if (more.length >= width - 4) return fitText(first, width);
  return fitText(first, width - more.length) + more;
}

/** The sorted column and its direction, marked in the column header. */
export interface SortMark {
  key: SortKey;
  arrow: '▲' | '▼';
}

/**
 * A column header, with the sort arrow when it is the sorted column. A right-aligned header keeps a space
 * before it, so a label that would touch the column to its left gives way to its short form (DSK▼, FREE▲).
 */
function headerCell(col: SortKey, label: string, short: string, width: number, sort: SortMark | undefined, align: 'left' | 'right' = 'right'): string {
  if (sort?.key !== col) return fitText(label, width, align);
  const marked = `${label}${sort.arrow}`;
  return fitText(align === 'left' || stringWidth(marked) < width ? marked : `${short}${sort.arrow}`, width, align);
}

export function tableHeader(layout: TableLayout, sort?: SortMark): string {
  const base =
    '  ' +
    headerCell('health', 'HEALTH', 'HEALTH', 8, sort, 'left') +
    ' ' +
    headerCell('name', 'SERVICE', 'SERVICE', layout.name, sort, 'left') +
    headerCell('cpu', 'CPU', 'CPU', 5, sort) +
    headerCell('ram', 'RAM', 'RAM', 5, sort) +
    headerCell('disk', 'DISK', 'DSK', 5, sort) +
    headerCell('free', 'FREE GB', 'FREE', 8, sort) +
    headerCell('seen', 'SEEN', 'SEEN', 8, sort);
  const cpu = layout.spark ? ` ${fitText('CPU 15m', layout.spark)}` : '';
  const ram = layout.spark && layout.ramSpark ? ` ${fitText('RAM 15m', layout.spark)}` : '';
  return `${base}${cpu}${ram}${layout.reason ? ` ${fitText('REASON', layout.reason)}` : ''}`;
}

export interface ServiceTableProps {
  /** Filtered and sorted; only rows[offset, offset + height) are drawn. */
  rows: readonly ServiceRow[];
  offset: number;
  height: number;
  selected: number;
  width: number;
  now: number;
  history: ResourceHistory;
  stale: boolean;
  /** Shown instead of rows when there are none. */
  empty: string;
  sort: SortMark;
}

export function ServiceTable({ rows, offset, height, selected, width, now, history, stale, empty, sort }: ServiceTableProps) {
  const tint = useTint();
  const layout = tableLayout(width);
  const shown = rows.slice(offset, offset + height);
  return (
    <Box flexDirection="column" height={height + 1}>
      <Text bold wrap="truncate">
        {tableHeader(layout, sort)}
      </Text>
      {shown.length === 0 ? (
        <Text dimColor wrap="truncate">
          {`  ${empty}`}
        </Text>
      ) : (
        shown.map((row, i) => {
          const look = HEALTH_LOOK[row.health];
          const isSelected = offset + i === selected;
          const cells =
            ' ' +
            fitText(row.service, layout.name) +
            fitText(formatPct(row.cpu), 5, 'right') +
            fitText(formatPct(row.ramUsed), 5, 'right') +
            fitText(formatPct(row.diskUsed), 5, 'right') +
            fitText(formatGb(row.diskFreeGb), 8, 'right') +
            fitText(formatAgo(row.lastSeen, now), 8, 'right');
          return (
            // Keyed by screen line: a push that re-sorts the table then updates text in place instead of
            // unmounting and mounting every line (measured: 3x the frame time at 1,000 services).
            // biome-ignore lint/suspicious/noArrayIndexKey: the line position is the identity here
            <Text key={i} wrap="truncate" inverse={isSelected} dimColor={stale}>
              {isSelected ? '› ' : '  '}
              <Text color={tint(look.color)}>{fitText(`${look.symbol} ${look.word}`, 8)}</Text>
              {cells}
              {layout.spark ? (
                <>
                  {' '}
                  <Text color={tint('cyan')}>{sparkline(history.series(row.service, 'cpu', now, layout.spark))}</Text>
                </>
              ) : null}
              {layout.spark && layout.ramSpark ? (
                <>
                  {' '}
                  <Text color={tint('blue')}>{sparkline(history.series(row.service, 'ram', now, layout.spark))}</Text>
                </>
              ) : null}
              {layout.reason ? ` ${reasonCell(row.reasons, layout.reason)}` : null}
            </Text>
          );
        })
      )}
    </Box>
  );
}
