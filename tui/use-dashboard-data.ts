import { useEffect, useRef, useState } from 'react';
import { ResourceHistory } from './history.js';
import type { ConnectionState, DashboardClient, PipelineView, ServiceRow } from './types.js';

export interface DashboardData {
  /** The latest push, unsorted; kept across a disconnect (shown stale) until the next one arrives. */
  services: readonly ServiceRow[];
  pipeline: PipelineView | null;
  connection: ConnectionState;
  /** Clock time of the latest services push; null before the first. */
  servicesAt: number | null;
  /** The latest subscription error, cleared by the next good push. */
  error: string | null;
  history: ResourceHistory;
  /** How many times the client has become connected: 0 before the first; each change is a (re)connect. */
  connectEpoch: number;
}

/**
 * Subscribes to `services` and `pipeline` for the component's lifetime and folds pushes into state. At every
 * (re)connect the sparklines are seeded with the last 15 minutes from the `history` query, so they show a trend
 * at once and the gap of an outage is filled from what the daemon stored meanwhile.
 */
export function useDashboardData(client: DashboardClient, clock: () => number): DashboardData {
  const history = useRef<ResourceHistory>(null);
  history.current ??= new ResourceHistory();
  const [services, setServices] = useState<{ rows: readonly ServiceRow[]; at: number | null }>({ rows: [], at: null });
  const [pipeline, setPipeline] = useState<PipelineView | null>(null);
  const [connection, setConnection] = useState<ConnectionState>(() => client.connection());
  const [connectEpoch, setConnectEpoch] = useState(0);
  const [, setSeeded] = useState(0);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const h = history.current!;
    let connected = false;
    const onConnection = (state: ConnectionState): void => {
      setConnection(state);
      if (state.status === 'connected' && !connected) setConnectEpoch((n) => n + 1);
      connected = state.status === 'connected';
    };
    onConnection(client.connection());
    const offConnection = client.onConnection(onConnection);
    const offServices = client.subscribeServices(
      (rows) => {
        h.record(rows);
        h.retain(new Set(rows.map((r) => r.service)));
        setServices({ rows, at: clock() });
        setError(null);
      },
      (message) => setError(`services: ${message}`),
    );
    const offPipeline = client.subscribePipeline(
      (p) => setPipeline(p),
      (message) => setError(`pipeline: ${message}`),
    );
    return () => {
      offConnection();
      offServices();
      offPipeline();
    };
  }, [client, clock]);

  useEffect(() => {
    if (connectEpoch === 0) return;
    let current = true;
    const h = history.current!;
    const to = clock();
    // Every service in one query (the daemon answers from one snapshot): cheaper than one per visible row.
    client.history(to - h.spanMs, to).then(
      (answer) => {
        if (!current) return;
        h.seed(answer, to);
        setSeeded((n) => n + 1);
      },
      // Quietly: the sparklines then fill from the pushes alone, as they did before the daemon had `history`.
      () => {},
    );
    return () => {
      current = false;
    };
  }, [client, clock, connectEpoch]);

  return {
    services: services.rows,
    pipeline,
    connection,
    servicesAt: services.at,
    error,
    history: history.current,
    connectEpoch,
  };
}
