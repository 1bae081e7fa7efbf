/**
 * The GraphQL surface of design.md ("names are a contract") plus the extra fields of src/api.ts, wired to an
 * HmsApi. Times are epoch microseconds on the core side; the DateTime scalar converts at the edge.
 */
import type { GraphQLSchema } from 'graphql';
import { createSchema } from 'graphql-yoga';
import type { Alert, HmsApi } from '../src/api.js';
import type { Resolvers } from './generated/types.js';
import { DateTime } from './datetime.js';
import { callCore, userError } from './errors.js';
import { typeDefs } from './sdl.js';
import { ticks } from './ticks.js';


export interface SchemaOptions {
  /** Gap between subscription pushes; default 1000. */
  pushIntervalMs?: number;
  /** Aborted when the server stops, which ends every open subscription. */
  shutdown?: AbortSignal;
}

/** Alerts that a stalled subscriber has not taken yet, at most; older ones are dropped so memory stays bounded. */
const MAX_PENDING_ALERTS = 1000;

/**
 * The alert subscription's source: pushes from the core, pulled by the client. Ends when the client leaves
 * (return()) or the server stops; either way the core listener is removed.
 */
function alertEvents(api: HmsApi, shutdown?: AbortSignal): AsyncGenerator<Alert, void, unknown> {
  const pending: Alert[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  const unsubscribe = api.subscribeAlerts((alert) => {
    if (pending.length >= MAX_PENDING_ALERTS) pending.shift();
    pending.push(alert);
    wake?.();
  });
  const end = (): void => {
    if (ended) return;
    ended = true;
    unsubscribe();
    shutdown?.removeEventListener('abort', end);
    wake?.();
  };
  if (shutdown?.aborted) end();
  else shutdown?.addEventListener('abort', end, { once: true });
  async function* run(): AsyncGenerator<Alert, void, unknown> {
    while (!ended) {
      const next = pending.shift();
      if (next) yield next;
      else await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  }
  const gen = run();
  const finish = gen.return.bind(gen);
  // return() queues behind a pending next() that waits for an alert: end the wait first (as ticks.ts does).
  gen.return = (value) => {
    end();
    return finish(value);
  };
  return gen;
}

// Checked here rather than left to the core so every backend refuses an empty window the same way.
function checkWindow({ from, to }: { from: number; to: number }): void {
  if (to <= from) throw userError('BAD_WINDOW', '`to` must be later than `from`.');
}

export function createHmsSchema(api: HmsApi, opts: SchemaOptions = {}): GraphQLSchema {
  const interval = opts.pushIntervalMs ?? 1000;
  // The source stream only paces; `resolve` reads the core on each tick, so a failing read becomes an error
  // in that one event (masked and logged like any other) instead of ending the subscription.
  const live = <T>(read: () => Promise<T>) => ({
    subscribe: () => ticks(interval, opts.shutdown),
    resolve: () => callCore(read),
  });
  const resolvers: Resolvers = {
    DateTime,
    Query: {
      services: () => callCore(() => api.services()),
      stats: (_, args) => {
        checkWindow(args);
        return callCore(() => api.stats(args.from, args.to, args.service ?? undefined));
      },
      series: (_, args) => {
        checkWindow(args);
        return callCore(() => api.series(args.service, args.from, args.to, args.step));
      },
      history: (_, args) => {
        checkWindow(args);
        return callCore(() => api.history(args.from, args.to, args.services ?? undefined));
      },
      pipeline: () => callCore(() => api.pipeline()),
      alerts: (_, args) => callCore(() => api.alerts({ active: args.active ?? undefined, service: args.service ?? undefined })),
      silences: () => callCore(() => api.silences()),
    },
    Mutation: {
      runBatch: (_, { full }) => callCore(() => api.runBatch(full == null ? {} : { full })),
      silence: (_, args) => callCore(() => api.silence({ service: args.service, rule: args.rule ?? null, until: args.until, reason: args.reason ?? null })),
      unsilence: (_, { id }) => callCore(() => api.unsilence(id)),
      compact: () => callCore(() => api.compact()),
      applyRetention: () => callCore(() => api.applyRetention()),
      forgetService: (_, { service }) => callCore(() => api.forgetService(service)),
      importMessages: (_, { messages, compat }) => callCore(() => api.importMessages(messages, compat ?? [])),
    },
    Subscription: {
      services: live(() => api.services()),
      pipeline: live(() => api.pipeline()),
      alerts: {
        subscribe: () => alertEvents(api, opts.shutdown),
        resolve: (alert: Alert) => alert,
      },
    },
  };
  return createSchema({ typeDefs, resolvers });
}
