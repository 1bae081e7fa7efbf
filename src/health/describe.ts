/** How durations and values read in health reasons and alert messages ("disk 96.2% >= 95% for 45s"). */
import type { RuleName } from './rules.js';

/** Whole units, rounded down, in the largest unit that still reads precisely: 45s, 90s, 5m, 5h, 3d. */
export function formatDuration(us: number): string {
  const s = Math.max(0, us) / 1e6;
  if (s < 120) return `${Math.floor(s)}s`;
  if (s < 120 * 60) return `${Math.floor(s / 60)}m`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** A message interval, which is often sub-second or fractional: 500ms, 2s, 2.5s. */
export function formatInterval(us: number): string {
  if (!(us > 0)) return 'unknown';
  if (us < 1e6) return `${Math.round(us / 1e3)}ms`;
  return `${Number((us / 1e6).toFixed(1))}s`;
}

const LABEL: Record<RuleName, string> = {
  cpu: 'cpu',
  ram: 'ram',
  disk: 'disk',
  diskFree: 'disk free',
  silent: 'silent',
  diskFull: 'disk',
  ramFull: 'ram',
};

export const ruleLabel = (rule: RuleName): string => LABEL[rule];

/** A threshold value with its unit: percent for the used resources, GB for free disk. */
export function formatValue(rule: RuleName, v: number): string {
  return rule === 'diskFree' ? `${Number(v.toFixed(2))} GB` : `${Number(v.toFixed(1))}%`;
}

/** A level as configured: 95% or 1 GB, no trailing zeros. */
export function formatLevel(rule: RuleName, v: number): string {
  return rule === 'diskFree' ? `${v} GB` : `${v}%`;
}
