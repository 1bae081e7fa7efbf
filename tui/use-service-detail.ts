import { useEffect, useState } from 'react';
import { describeError } from './client.js';
import { type DetailWindow, windowBounds } from './detail-window.js';
import type { BucketView, DashboardClient, ServiceStatsView } from './types.js';

export interface ServiceDetail {
  /** Null when the window holds no message for the service. */
  stats: ServiceStatsView | null;
  series: readonly BucketView[];
  from: number;
  to: number;
  /** True until the first answer for this service and window. */
  loading: boolean;
  /** The last failure; earlier data stays on screen. */
  error: string | null;
}

/**
 * Loads `stats` and `series` for one service and window while `active`; reloads every `refreshMs` and when
 * `reload` changes.
 */
export function useServiceDetail(
  client: DashboardClient,
  service: string,
  window: DetailWindow,
  clock: () => number,
  reload: number,
  active: boolean,
  refreshMs = 15_000,
): ServiceDetail {
  const key = `${service}\u0000${window.label}`;
  const [state, setState] = useState<ServiceDetail & { key: string }>(() => ({
    key,
    stats: null,
    series: [],
    ...windowBounds(window, clock()),
    loading: true,
    error: null,
  }));
  const [tick, setTick] = useState(0);

  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setTick((t) => t + 1), refreshMs);
    timer.unref();
    return () => clearInterval(timer);
  }, [refreshMs, active]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: tick and reload only trigger a refetch
  useEffect(() => {
    if (!active) return;
    let current = true;
    const { from, to } = windowBounds(window, clock());
    setState((s) =>
      s.key === key ? s : { key, stats: null, series: [], from, to, loading: true, error: null },
    );
    Promise.all([client.stats(from, to, service), client.series(service, from, to, window.step)]).then(
      ([stats, series]) => {
        if (!current) return;
        const mine = stats.find((s) => s.service === service) ?? null;
        setState({ key, stats: mine, series, from, to, loading: false, error: null });
      },
      (err: unknown) => {
        if (!current) return;
        setState((s) => ({ ...s, key, loading: false, error: describeError(err) }));
      },
    );
    return () => {
      current = false;
    };
  }, [client, service, window, clock, key, tick, reload, active]);

  const { key: _, ...detail } = state;
  return state.key === key ? detail : { ...detail, stats: null, series: [], loading: true, error: null };
}
