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
}

/** Subscribes to `services` and `pipeline` for the component's lifetime and folds pushes into state. */
export function useDashboardData(client: DashboardClient, clock: () => number): DashboardData {
  const history = useRef<ResourceHistory>(null);
  history.current ??= new ResourceHistory();
  const [services, setServices] = useState<{ rows: readonly ServiceRow[]; at: number | null }>({ rows: [], at: null });
  const [pipeline, setPipeline] = useState<PipelineView | null>(null);
  const [connection, setConnection] = useState<ConnectionState>(() => client.connection());
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const h = history.current!;
    setConnection(client.connection());
    const offConnection = client.onConnection(setConnection);
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

  return { services: services.rows, pipeline, connection, servicesAt: services.at, error, history: history.current };
}
