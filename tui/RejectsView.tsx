import { Box, Text } from 'ink';
import { fitText, formatAgo, formatClock, formatCount, zoneName } from './format.js';
import { useTint } from './theme.js';
import type { PipelineView, RejectedView } from './types.js';
import type { RejectsData } from './use-rejects.js';

export interface RejectsViewProps {
  pipeline: PipelineView | null;
  rejects: RejectsData;
  /** The first sample shown. */
  top: number;
  height: number;
  width: number;
  now: number;
  utc: boolean;
  stale: boolean;
}

/** Reason lines at most, so the samples keep the larger part of the pane (there are a dozen reasons). */
const MAX_REASONS = 6;
/** Lines each sample takes: why, then where from and its first bytes. */
export const SAMPLE_LINES = 2;
// marker 2, age 8, gap 1, reason 19 (storage_unavailable), gap 1, (detail)
const REASON_WIDTH = 19;

/** "1.2%" of a whole; "<0.1%" rather than a 0 that hides a few. */
export function share(part: number, whole: number): string {
  if (!(whole > 0) || !Number.isFinite(part)) return '-';
  const pct = (part / whole) * 100;
  return pct > 0 && pct < 0.1 ? '<0.1%' : `${pct.toFixed(1)}%`;
}

/** The reasons that counted something, most first. */
export function reasonCounts(p: PipelineView): { reason: string; count: number }[] {
  return p.rejectedBy.filter((r) => r.count > 0).sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
}

/** The pane's lines above the samples: the total, the counts by reason, the samples' heading. */
function summaryLines(p: PipelineView, r: RejectsData, utc: boolean): { text: string; bold?: boolean }[] {
  const lines: { text: string; bold?: boolean }[] = [];
  if (p.rejected === 0) {
    lines.push({ text: `Nothing rejected: every one of ${formatCount(p.received)} datagrams received was accepted`, bold: true });
  } else {
    lines.push({ text: `Rejected ${formatCount(p.rejected)} of ${formatCount(p.received)} received (${share(p.rejected, p.received)})`, bold: true });
    const reasons = reasonCounts(p);
    const shown = reasons.length > MAX_REASONS ? reasons.slice(0, MAX_REASONS - 1) : reasons;
    lines.push({ text: `  ${fitText('COUNT', 7, 'right')} ${fitText('SHARE', 6, 'right')}  REASON`, bold: true });
    for (const x of shown) lines.push({ text: `  ${fitText(formatCount(x.count), 7, 'right')} ${fitText(share(x.count, p.rejected), 6, 'right')}  ${x.reason}` });
    if (shown.length < reasons.length) {
      const rest = reasons.slice(shown.length);
      const n = rest.reduce((sum, x) => sum + x.count, 0);
      lines.push({ text: `  ${fitText(formatCount(n), 7, 'right')} ${fitText(share(n, p.rejected), 6, 'right')}  ${rest.map((x) => x.reason).join(', ')}` });
    }
  }
  if (r.loadedAt === null) lines.push({ text: r.error ? '' : 'loading the newest rejected datagrams…' });
  else {
    const since = r.rejectedThen === null ? 0 : p.rejected - r.rejectedThen;
    const when = `${formatClock(r.loadedAt, false, utc)} ${zoneName(utc, r.loadedAt)}`;
    lines.push({
      text: `Newest rejected datagrams as of ${when}: ${r.sample.length} kept by the daemon${since > 0 ? `, ${formatCount(since)} more since (r reloads)` : ''}`,
      bold: true,
    });
  }
  return lines;
}

/** A sample's two lines: when and why; where from and its first bytes (unsafe characters shown as escapes). */
export function sampleLines(s: RejectedView, now: number, width: number): [string, string] {
  const detail = Math.max(0, width - 2 - 8 - 1 - REASON_WIDTH - 1);
  return [
    `  ${fitText(formatAgo(s.at, now), 8)} ${fitText(s.reason, REASON_WIDTH)} ${fitText(s.detail, detail)}`,
    fitText(`    from ${s.from}  ${s.excerpt}`, width),
  ];
}

/** How many samples fit under the summary in `height` lines (what j/k and PgDn scroll by). */
export function samplesShown(p: PipelineView | null, r: RejectsData, height: number, utc: boolean): number {
  const above = p ? summaryLines(p, r, utc).length : 1;
  return Math.max(1, Math.floor((height - above - (r.error ? 1 : 0)) / SAMPLE_LINES));
}

export function RejectsView({ pipeline, rejects, top, height, width, now, utc, stale }: RejectsViewProps) {
  const tint = useTint();
  if (!pipeline) {
    return (
      <Box height={height}>
        <Text dimColor>waiting for the first pipeline update…</Text>
      </Box>
    );
  }
  const summary = summaryLines(pipeline, rejects, utc);
  const fit = samplesShown(pipeline, rejects, height, utc);
  const shown = rejects.sample.slice(top, top + fit);
  return (
    <Box flexDirection="column" height={height}>
      {summary.map((line, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: fixed positions
        <Text key={i} wrap="truncate" bold={line.bold} dimColor={stale}>
          {fitText(line.text, width)}
        </Text>
      ))}
      {shown.map((s, i) => {
        const [why, what] = sampleLines(s, now, width);
        return (
          // biome-ignore lint/suspicious/noArrayIndexKey: fixed positions
          <Box key={i} flexDirection="column">
            <Text wrap="truncate" color={tint('yellow')} dimColor={stale}>
              {why}
            </Text>
            <Text wrap="truncate" dimColor>
              {what}
            </Text>
          </Box>
        );
      })}
      {rejects.error ? (
        <Text wrap="truncate" color={tint('red')}>
          {fitText(rejects.error, width)}
        </Text>
      ) : null}
    </Box>
  );
}
