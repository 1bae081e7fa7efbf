import { useEffect, useRef, useState } from 'react';
import { applyAlert, fromSnapshot, orderAlerts } from './alert-order.js';
import { describeError } from './client.js';
import type { AlertView, DashboardClient } from './types.js';

export interface AlertsData {
  /** FIRING first, then recently RESOLVED (see alert-order.ts). */
  list: readonly AlertView[];
  /** False until the first answer of the `alerts` query. */
  loaded: boolean;
  /** The last failure of the query or the subscription; the list on screen stays. */
  error: string | null;
}

/**
 * Alerts for the pane, kept live: subscribed to every state change for the component's lifetime, and loaded
 * with the `alerts` query at each (re)connect, since changes made while disconnected are not replayed, and
 * whenever `reload` changes (opening the pane: the silenced flag changes without a state change).
 * `connectEpoch` counts connections; 0 means not connected yet.
 */
export function useAlerts(client: DashboardClient, connectEpoch: number, reload: number): AlertsData {
  const book = useRef(new Map<string, AlertView>());
  // Changes seen since the running load was sent, to apply again on top of its snapshot.
  const pending = useRef<AlertView[] | null>(null);
  const [data, setData] = useState<AlertsData>({ list: [], loaded: false, error: null });

  useEffect(() => {
    const publish = (): void => {
      const list = orderAlerts(book.current.values());
      // Rebuilt from the ordered list, so resolved alerts beyond the cap are forgotten and memory stays bounded.
      book.current = new Map(list.map((a) => [a.id, a]));
      setData((d) => ({ ...d, list, error: null }));
    };
    return client.subscribeAlerts(
      (alert) => {
        pending.current?.push(alert);
        applyAlert(book.current, alert);
        publish();
      },
      (message) => setData((d) => ({ ...d, error: `alerts: ${message}` })),
    );
  }, [client]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: connectEpoch and reload only trigger a load
  useEffect(() => {
    if (connectEpoch === 0) return;
    let current = true;
    const since: AlertView[] = [];
    pending.current = since;
    // Two queries: the daemon answers at most 1000 alerts, and a long resolved history must not crowd out a firing one.
    Promise.all([client.alerts(true), client.alerts(false)]).then(
      ([firing, resolved]) => {
        if (!current) return;
        const list = orderAlerts(fromSnapshot([...firing, ...resolved], since).values());
        book.current = new Map(list.map((a) => [a.id, a]));
        pending.current = null;
        setData({ list, loaded: true, error: null });
      },
      (err: unknown) => {
        if (!current) return;
        pending.current = null;
        setData((d) => ({ ...d, error: `alerts: ${describeError(err)}` }));
      },
    );
    return () => {
      current = false;
      if (pending.current === since) pending.current = null;
    };
  }, [client, connectEpoch, reload]);

  return data;
}
