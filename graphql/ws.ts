/**
 * graphql-ws (the graphql-transport-ws protocol) over a `ws` server, executed through yoga's envelop so that
 * WebSocket operations get the same plugins as HTTP ones: error masking and its logging, the limits of
 * limits.ts and the role check of guard.ts. The API token comes in the connection_init payload
 * (`{"authorization": "Bearer <token>"}`, or an Authorization header on the upgrade request); without a valid
 * one the server closes the socket with 4403 Forbidden, graphql-ws's convention.
 */
import { type DocumentNode, type ExecutionArgs, GraphQLError, type GraphQLFormattedError, getOperationAST } from 'graphql';
// Renamed: it is no React hook, whatever the linter infers from the name.
import { useServer as serveWs } from 'graphql-ws/use/ws';
import type { YogaServerInstance } from 'graphql-yoga';
import type { IncomingMessage } from 'node:http';
import type { WebSocketServer } from 'ws';
import { authenticate } from './guard.js';
import type { SubscriptionBudget } from './limits.js';
import type { ApiTokens, Role } from './tokens.js';

// biome-ignore lint/complexity/noBannedTypes: createYoga's own default user context
type Yoga = YogaServerInstance<{ role?: Role }, {}>;
type Enveloped = ReturnType<Yoga['getEnveloped']>;

export interface GraphqlWsOptions {
  /** Looked up at each connection_init; null or absent: no authentication. */
  tokens?: () => ApiTokens | null;
  /** Subscriptions per connection and in all; absent: unbounded. */
  budget?: SubscriptionBudget;
  /** Told of each connection closed with 4403 (for a throttled log line); never given the token. */
  onUnauthenticated?: (req: IncomingMessage) => void;
}

const hasHttp = (e: GraphQLError): boolean => e.extensions?.http !== undefined;
function forSocket(e: GraphQLError): GraphQLFormattedError {
  const { http: _, ...extensions } = e.extensions ?? {};
  return { ...e.toJSON(), extensions };
}

/** Serves graphql-ws on `wss`; the returned dispose() closes every client with 1001 and waits for them. */
export function serveGraphqlWs(yoga: Yoga, wss: WebSocketServer, opts: GraphqlWsOptions = {}): { dispose(): void | Promise<void> } {
  // Each operation runs with the execute/subscribe of its own envelop; keyed by its context object.
  const envelopes = new WeakMap<object, Enveloped>();
  // Per connection (graphql-ws's context object): its role, and the release of each open subscription, keyed
  // by the subscribe message's payload (the one object onSubscribe and onComplete both get; ids are reusable).
  const roles = new WeakMap<object, Role>();
  const held = new WeakMap<object, Map<object, () => void>>();
  const envelopeOf = (args: ExecutionArgs): Enveloped => {
    const found = envelopes.get(args.contextValue as object);
    if (!found) throw new Error('graphql-ws operation without an envelop');
    return found;
  };
  const release = (ctx: object, payload: object): void => {
    const open = held.get(ctx);
    open?.get(payload)?.();
    open?.delete(payload);
  };
  return serveWs(
    {
      execute: (args) => envelopeOf(args).execute(args),
      subscribe: (args) => envelopeOf(args).subscribe(args),
      onConnect: (ctx) => {
        const params = ctx.connectionParams ?? {};
        const presented = params.authorization ?? params.Authorization ?? ctx.extra.request.headers.authorization;
        const auth = authenticate(opts.tokens?.() ?? null, presented);
        if ('status' in auth) {
          opts.onUnauthenticated?.(ctx.extra.request);
          return false;
        }
        roles.set(ctx, auth.role);
        return true;
      },
      onSubscribe: async (ctx, _id, payload) => {
        const envelope = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params: payload,
          role: roles.get(ctx),
          transport: 'ws',
        });
        let document: DocumentNode;
        let errors: readonly GraphQLError[];
        try {
          document = envelope.parse(payload.query);
          errors = envelope.validate(envelope.schema, document);
        } catch (err) {
          // A syntax error or a limit is the client's: answer it instead of letting graphql-ws close the socket with 4500.
          if (err instanceof GraphQLError) return [err];
          throw err;
        }
        if (errors.length > 0) return [...errors];
        if (opts.budget && getOperationAST(document, payload.operationName)?.operation === 'subscription') {
          const open = held.get(ctx) ?? new Map<object, () => void>();
          held.set(ctx, open);
          // Before any await: subscribe messages are counted in the order they came.
          const granted = opts.budget.acquire(open.size);
          if (granted instanceof GraphQLError) return [granted];
          open.set(payload, granted);
        }
        let contextValue: object;
        try {
          contextValue = await envelope.contextFactory();
        } catch (err) {
          release(ctx, payload);
          throw err;
        }
        envelopes.set(contextValue, envelope);
        return {
          schema: envelope.schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue,
        };
      },
      // `extensions.http` tells yoga the HTTP status of an error (FORBIDDEN: 403); it means nothing here.
      onNext: (_ctx, _id, _payload, _args, result) =>
        result.errors?.some(hasHttp) ? { ...result, errors: result.errors.map(forSocket) } : undefined,
      onError: (_ctx, _id, _payload, errors) => (errors.some(hasHttp) ? errors.map(forSocket) : undefined),
      // Every operation that got past onSubscribe ends here: completed, failed, stopped by the client.
      onComplete: (ctx, _id, payload) => release(ctx, payload),
      // The rest (a socket gone mid-subscribe) is released with the connection.
      onClose: (ctx) => {
        for (const done of held.get(ctx)?.values() ?? []) done();
        held.delete(ctx);
      },
    },
    wss,
  );
}
