import { useEffect, useState } from 'react';
import { describeError } from './client.js';
import type { DashboardClient, RejectedView } from './types.js';

export interface RejectsData {
  /** The newest rejected datagrams the daemon kept, newest first. */
  sample: readonly RejectedView[];
  /** Clock time of the answer on screen; null before the first. */
  loadedAt: number | null;
  /** The pipeline's `rejected` count when that answer came: the pane tells how many came since. */
  rejectedThen: number | null;
  /** The last failure of the query; the sample on screen stays. */
  error: string | null;
}

/**
 * The rejections pane's samples, loaded with a query whenever `reload` changes (the pane opens, `r`), not
 * pushed: the counts by reason come live with the pipeline, the samples only when someone looks.
 * `reload` 0 means the pane has not been opened yet.
 */
export function useRejects(client: DashboardClient, reload: number, rejected: number | null, clock: () => number): RejectsData {
  const [data, setData] = useState<RejectsData>({ sample: [], loadedAt: null, rejectedThen: null, error: null });

  // biome-ignore lint/correctness/useExhaustiveDependencies: reload only triggers a load; `rejected` is read as it is then
  useEffect(() => {
    if (reload === 0) return;
    let current = true;
    const then = rejected;
    client.rejectedSample().then(
      (sample) => {
        if (current) setData({ sample, loadedAt: clock(), rejectedThen: then, error: null });
      },
      (err: unknown) => {
        if (current) setData((d) => ({ ...d, error: `rejected datagrams: ${describeError(err)}` }));
      },
    );
    return () => {
      current = false;
    };
  }, [client, reload, clock]);

  return data;
}
