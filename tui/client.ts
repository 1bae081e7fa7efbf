/**
 * The dashboard's GraphQL client: one graphql-ws connection (queries, the mutation and the three subscriptions
 * share it), reconnecting forever with capped exponential backoff, and a connection state the header can show.
 */
import { type Client, createClient, type FormattedExecutionResult } from 'graphql-ws';
import WebSocket from 'ws';
import type {
  AlertView,
  BatchRunView,
  BucketView,
  ConnectionState,
  DashboardClient,
  PipelineView,
  RejectedView,
  ResourceStat,
  ServiceHistory,
  ServiceRow,
  ServiceStatsView,
  Step,
  Unsubscribe,
  Wire,
} from './types.js';
import {
  ALERTS_QUERY,
  ALERTS_SUBSCRIPTION,
  HISTORY_QUERY,
  PIPELINE_SUBSCRIPTION,
  REJECTED_SAMPLE_QUERY,
  RUN_BATCH_MUTATION,
  SERIES_QUERY,
  SERVICES_SUBSCRIPTION,
  STATS_QUERY,
} from './operations.js';

export const DEFAULT_URL = 'http://127.0.0.1:4000/graphql';

export interface HmsClientOptions {
  /** First retry delay; doubles per failed attempt. @default 500 */
  retryBaseMs?: number;
  /** Longest wait between attempts, so a returning daemon is noticed quickly. @default 5000 */
  retryMaxMs?: number;
  /** How long a query may wait (including for a reconnect) before it fails. @default 15000 */
  queryTimeoutMs?: number;
  /** How long `runBatch` may take. @default 900000 (15 minutes: a mapreduce run is slow) */
  batchTimeoutMs?: number;
  /** Pause before re-subscribing after the server ended a subscription with an error. @default 2000 */
  resubscribeMs?: number;
  /** API token, sent in connection_init as `authorization: Bearer <token>`. */
  token?: string;
  /** PEM of the CA to trust for wss (a private CA); the system's CAs otherwise. */
  ca?: string | Buffer;
}

/** graphql-ws close code for a refused connection_init (no token, or one the daemon does not know). */
const FORBIDDEN = 4403;

/** `http(s)://host/graphql` to `ws(s)://host/graphql`; ws URLs pass through. Throws on anything else. */
export function toWebSocketUrl(url: string): string {
  const u = new URL(url);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  else if (u.protocol !== 'ws:' && u.protocol !== 'wss:') {
    throw new Error(`unsupported URL scheme "${u.protocol}" (expected http, https, ws or wss)`);
  }
  return u.toString();
}

/** Capped exponential backoff with ±20% jitter, so many dashboards do not reconnect in lockstep. */
export function backoffDelay(retries: number, baseMs: number, maxMs: number, random = Math.random): number {
  const raw = Math.min(maxMs, baseMs * 2 ** Math.min(retries, 20));
  return Math.round(raw * (0.8 + 0.4 * random()));
}

// ---- wire shapes (DateTime arrives as ISO-8601 text) ----

const ms = (iso: unknown): number => {
  const t = typeof iso === 'string' ? Date.parse(iso) : Number.NaN;
  if (Number.isNaN(t)) throw new Error(`not a DateTime: ${String(iso)}`);
  return t;
};
const msOrNull = (iso: unknown): number | null => (iso == null ? null : ms(iso));
const resource = (r: Wire['resource']): ResourceStat => ({ mean: r.mean, min: r.min, max: r.max, peakAt: ms(r.peakAt) });

export const toServiceRow = (w: Wire['service']): ServiceRow => ({
  ...w,
  lastSeen: ms(w.lastSeen),
  diskFullAt: msOrNull(w.diskFullAt),
  ramFullAt: msOrNull(w.ramFullAt),
});
export const toHistory = (w: Wire['history']): ServiceHistory => ({
  service: w.service,
  minutes: w.buckets.map((b) => ({ start: ms(b.start), cpu: b.cpu.max, ram: b.ram.max })),
});
export function toAlert(w: Wire['alert']): AlertView {
  if (w.state !== 'FIRING' && w.state !== 'RESOLVED') throw new Error(`unknown alert state ${JSON.stringify(w.state)}`);
  return { ...w, startedAt: ms(w.startedAt), endedAt: msOrNull(w.endedAt) };
}
export const toBatchRun = (w: Wire['batch']): BatchRunView => ({
  ...w,
  startedAt: ms(w.startedAt),
  finishedAt: msOrNull(w.finishedAt),
  watermark: msOrNull(w.watermark),
});
export const toPipeline = (w: Wire['pipeline']): PipelineView => ({
  ...w,
  watermark: msOrNull(w.watermark),
  startedAt: ms(w.startedAt),
  lastBatch: w.lastBatch ? toBatchRun(w.lastBatch) : null,
});
export const toRejected = (w: Wire['rejected']): RejectedView => ({ ...w, at: ms(w.at) });
export const toStats = (w: Wire['stats']): ServiceStatsView => ({
  ...w,
  cpu: resource(w.cpu),
  ram: resource(w.ram),
  disk: resource(w.disk),
});
export const toBucket = (w: Wire['bucket']): BucketView => ({
  start: ms(w.start),
  count: w.count,
  cpu: resource(w.cpu),
  ram: resource(w.ram),
  disk: resource(w.disk),
});

/** One line for the screen out of whatever graphql-ws hands to an error callback. */
export function describeError(err: unknown): string {
  if (Array.isArray(err)) return err.map(describeError).join('; ') || 'unknown error';
  if (err && typeof err === 'object') {
    const e = err as { message?: unknown; code?: unknown; reason?: unknown; error?: unknown };
    if (typeof e.message === 'string' && e.message) return oneLine(e.message);
    if (e.error) return describeError(e.error);
    if (typeof e.code === 'number') return `connection closed (${e.code}${e.reason ? ` ${String(e.reason)}` : ''})`;
  }
  return oneLine(String(err));
}
const oneLine = (s: string): string => s.split('\n')[0]!.slice(0, 200);

const iso = (t: number): string => new Date(t).toISOString();

/** Connects at once (lazy: false) and keeps trying until `close()`. Throws only on a malformed URL. */
export function createHmsClient(url: string = DEFAULT_URL, opts: HmsClientOptions = {}): DashboardClient {
  const retryBaseMs = opts.retryBaseMs ?? 500;
  const retryMaxMs = opts.retryMaxMs ?? 5000;
  const queryTimeoutMs = opts.queryTimeoutMs ?? 15_000;
  const batchTimeoutMs = opts.batchTimeoutMs ?? 900_000;
  const resubscribeMs = opts.resubscribeMs ?? 2000;

  let state: ConnectionState = { status: 'connecting' };
  let lastError: string | undefined;
  let closed = false;
  let retryTimer: NodeJS.Timeout | undefined;
  const listeners = new Set<(s: ConnectionState) => void>();
  const setState = (next: ConnectionState): void => {
    state = next;
    for (const l of listeners) l(next);
  };

  const { ca, token } = opts;
  const client: Client = createClient({
    url: toWebSocketUrl(url),
    webSocketImpl: class extends WebSocket {
      constructor(address: string, protocols?: string | string[]) {
        super(address, protocols, ca ? { ca } : {});
        // close() during a handshake (quitting while reconnecting) emits an error after graphql-ws has let go
        // of the socket; unheard, it would crash the dashboard. graphql-ws hears errors through onerror.
        this.on('error', () => {});
      }
    },
    connectionParams: token ? { authorization: `Bearer ${token}` } : undefined,
    lazy: false,
    retryAttempts: Number.POSITIVE_INFINITY,
    // graphql-ws treats a refused connection (not a CloseEvent) as fatal by default; a dashboard never gives up.
    shouldRetry: () => true,
    // A timer we own, so close() can cancel the wait instead of leaving the process alive for it.
    retryWait: (retries) => {
      const delay = backoffDelay(retries, retryBaseMs, retryMaxMs);
      setState({ status: 'reconnecting', attempt: retries + 1, nextRetryAt: Date.now() + delay, lastError });
      return new Promise<void>((resolve) => {
        if (closed) return;
        retryTimer = setTimeout(resolve, delay);
      });
    },
    // The default prints to the console, which would scribble over the dashboard.
    onNonLazyError: (err) => {
      lastError = describeError(err);
    },
    keepAlive: 10_000,
    on: {
      connecting: (isRetry) => {
        if (isRetry && state.status === 'reconnecting') setState({ ...state, nextRetryAt: null });
      },
      connected: () => {
        lastError = undefined;
        setState({ status: 'connected', since: Date.now() });
      },
      error: (err) => {
        lastError = describeError(err);
      },
      closed: (event) => {
        if (closed) return;
        const e = event as { code?: number; reason?: string };
        // Retried all the same: the daemon reloads its tokens on SIGHUP.
        if (e.code === FORBIDDEN) lastError = `the daemon refused the API token: ${token ? 'give one it knows' : 'it needs one'} (--token or HMS_TOKEN)`;
        else if (state.status === 'connected') {
          lastError = `connection lost${e.code ? ` (${e.code}${e.reason ? ` ${e.reason}` : ''})` : ''}`;
          setState({ status: 'reconnecting', attempt: 0, nextRetryAt: null, lastError });
        }
      },
    },
  });

  function live<W, T>(query: string, field: string, map: (w: W) => T, onData: (v: T) => void, onError: (m: string) => void): Unsubscribe {
    let stopped = false;
    let dispose: (() => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    const again = (): void => {
      if (stopped || closed) return;
      clearTimeout(timer);
      timer = setTimeout(start, resubscribeMs);
    };
    function start(): void {
      dispose = client.subscribe<Record<string, W | null>>(
        { query },
        {
          next: (result) => {
            const value = result.data?.[field];
            if (value != null) {
              let mapped: T;
              try {
                mapped = map(value);
              } catch (err) {
                onError(`unexpected ${field} data: ${describeError(err)}`);
                return;
              }
              onData(mapped);
            } else if (result.errors?.length) onError(describeError(result.errors));
          },
          error: (err) => {
            onError(describeError(err));
            again();
          },
          complete: again,
        },
      );
    }
    start();
    return () => {
      stopped = true;
      clearTimeout(timer);
      dispose?.();
    };
  }

  function request<W>(
    query: string,
    variables: Record<string, unknown>,
    field: string,
    timeoutMs: number,
    once = false,
  ): Promise<W> {
    return new Promise<W>((resolve, reject) => {
      if (closed) return reject(new Error('client closed'));
      // A mutation must not be replayed by graphql-ws after a reconnect: it could run twice.
      if (once && state.status !== 'connected') return reject(new Error('not connected to the daemon'));
      let result: FormattedExecutionResult<Record<string, W | null>, unknown> | undefined;
      let settled = false;
      const finish = (err: Error | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        offClosed?.();
        dispose();
        const value = result?.data?.[field];
        if (err) reject(err);
        else if (value != null) resolve(value);
        else reject(new Error(result?.errors?.length ? describeError(result.errors) : `no ${field} in the answer`));
      };
      const timer = setTimeout(() => finish(new Error(`no answer within ${Math.round(timeoutMs / 1000)}s`)), timeoutMs);
      const dispose = client.subscribe<Record<string, W | null>>(
        { query, variables },
        {
          next: (r) => {
            result = r;
          },
          error: (err) => finish(new Error(describeError(err))),
          complete: () => finish(null),
        },
      );
      const offClosed = once
        ? client.on('closed', () => finish(new Error('connection lost while waiting; the run may still finish')))
        : undefined;
    });
  }

  return {
    connection: () => state,
    onConnection(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    subscribeServices: (onData, onError) =>
      live<Wire['service'][], ServiceRow[]>(SERVICES_SUBSCRIPTION, 'services', (w) => w.map(toServiceRow), onData, onError),
    subscribePipeline: (onData, onError) =>
      live<Wire['pipeline'], PipelineView>(PIPELINE_SUBSCRIPTION, 'pipeline', toPipeline, onData, onError),
    async stats(fromMs, toMs, service) {
      const rows = await request<Wire['stats'][]>(STATS_QUERY, { from: iso(fromMs), to: iso(toMs), service }, 'stats', queryTimeoutMs);
      return rows.map(toStats);
    },
    async series(service: string, fromMs: number, toMs: number, step: Step) {
      const rows = await request<Wire['bucket'][]>(
        SERIES_QUERY,
        { service, from: iso(fromMs), to: iso(toMs), step },
        'series',
        queryTimeoutMs,
      );
      return rows.map(toBucket);
    },
    async history(fromMs, toMs, services) {
      const rows = await request<Wire['history'][]>(
        HISTORY_QUERY,
        { from: iso(fromMs), to: iso(toMs), services: services ? [...services] : undefined },
        'history',
        queryTimeoutMs,
      );
      return rows.map(toHistory);
    },
    async alerts(active) {
      const rows = await request<Wire['alert'][]>(ALERTS_QUERY, { active }, 'alerts', queryTimeoutMs);
      return rows.map(toAlert);
    },
    subscribeAlerts: (onData, onError) => live<Wire['alert'], AlertView>(ALERTS_SUBSCRIPTION, 'alerts', toAlert, onData, onError),
    async runBatch(full) {
      return toBatchRun(await request<Wire['batch']>(RUN_BATCH_MUTATION, { full }, 'runBatch', batchTimeoutMs, true));
    },
    async rejectedSample() {
      const p = await request<{ rejectedSample: Wire['rejected'][] }>(REJECTED_SAMPLE_QUERY, {}, 'pipeline', queryTimeoutMs);
      return p.rejectedSample.map(toRejected);
    },
    close() {
      if (closed) return;
      closed = true;
      clearTimeout(retryTimer);
      listeners.clear();
      // dispose() awaits a pending connect, which may never settle once the retry wait is cancelled: not awaited.
      // terminate() then fails that connect (4499 Terminated), and so dispose(): expected, not an error.
      Promise.resolve(client.dispose()).catch(() => undefined);
      client.terminate();
    },
  };
}
