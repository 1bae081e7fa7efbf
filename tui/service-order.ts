/** Ordering and filtering of the service table; pure, so 1,000 rows re-sort on every push without React. */
import type { Health, ServiceRow } from './types.js';

/** Worst first. A silent service may be a dead one, so it ranks right after CRIT. */
export const HEALTH_RANK: Readonly<Record<Health, number>> = { CRIT: 0, SILENT: 1, WARN: 2, OK: 3 };

export type SortKey = 'health' | 'name' | 'cpu' | 'ram' | 'disk' | 'free' | 'seen';

/**
 * The order `s` cycles through, with the label the status line shows and the direction of each sort as the
 * column reads it: ▼ the largest first (the worst health, the busiest, the longest ago), ▲ the smallest.
 */
export const SORT_KEYS: readonly { key: SortKey; label: string; arrow: '▲' | '▼' }[] = [
  { key: 'health', label: 'health', arrow: '▼' },
  { key: 'cpu', label: 'cpu', arrow: '▼' },
  { key: 'ram', label: 'ram', arrow: '▼' },
  { key: 'disk', label: 'disk', arrow: '▼' },
  { key: 'free', label: 'free disk', arrow: '▲' },
  { key: 'seen', label: 'last seen', arrow: '▼' },
  { key: 'name', label: 'name', arrow: '▲' },
];

const byName = (a: ServiceRow, b: ServiceRow): number => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0);
const byHealth = (a: ServiceRow, b: ServiceRow): number => HEALTH_RANK[a.health] - HEALTH_RANK[b.health] || byName(a, b);

// Ties fall back to health then name, so rows with equal values do not swap places between pushes.
const COMPARE: Record<SortKey, (a: ServiceRow, b: ServiceRow) => number> = {
  health: byHealth,
  name: byName,
  cpu: (a, b) => b.cpu - a.cpu || byHealth(a, b),
  ram: (a, b) => b.ramUsed - a.ramUsed || byHealth(a, b),
  disk: (a, b) => b.diskUsed - a.diskUsed || byHealth(a, b),
  free: (a, b) => a.diskFreeGb - b.diskFreeGb || byHealth(a, b),
  seen: (a, b) => a.lastSeen - b.lastSeen || byHealth(a, b),
};

/** `reversed` turns the whole order round, ties included, so S twice gives back the same table. */
export function sortServices(rows: readonly ServiceRow[], key: SortKey, reversed = false): ServiceRow[] {
  const compare = COMPARE[key];
  return [...rows].sort(reversed ? (a, b) => compare(b, a) : compare);
}

export function nextSortKey(key: SortKey): SortKey {
  const i = SORT_KEYS.findIndex((s) => s.key === key);
  return SORT_KEYS[(i + 1) % SORT_KEYS.length]!.key;
}

export const sortLabel = (key: SortKey): string => SORT_KEYS.find((s) => s.key === key)?.label ?? key;

/** ▼ or ▲: the direction the sorted column reads in (see SORT_KEYS). */
export function sortArrow(key: SortKey, reversed: boolean): '▲' | '▼' {
  const natural = SORT_KEYS.find((s) => s.key === key)?.arrow ?? '▼';
  return reversed === (natural === '▼') ? '▲' : '▼';
}

/** Case-insensitive substring of the name; a query that is exactly a health word ("crit") selects that health. */
export function filterServices(rows: readonly ServiceRow[], query: string): readonly ServiceRow[] {
  const q = query.trim().toLowerCase();
  if (!q) return rows;
  const health = (Object.keys(HEALTH_RANK) as Health[]).find((h) => h.toLowerCase() === q);
  return rows.filter((r) => r.service.toLowerCase().includes(q) || r.health === health);
}

export function healthCounts(rows: readonly ServiceRow[]): Record<Health, number> {
  const counts: Record<Health, number> = { CRIT: 0, SILENT: 0, WARN: 0, OK: 0 };
  for (const r of rows) counts[r.health]++;
  return counts;
}
