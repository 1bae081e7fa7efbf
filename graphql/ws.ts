/**
 * graphql-ws (the graphql-transport-ws protocol) over a `ws` server, executed through yoga's envelop so that
 * WebSocket operations get the same plugins as HTTP ones, error masking and its logging included.
 */
import { type DocumentNode, type ExecutionArgs, GraphQLError } from 'graphql';
// Renamed: it is no React hook, whatever the linter infers from the name.
import { useServer as serveWs } from 'graphql-ws/use/ws';
import type { YogaServerInstance } from 'graphql-yoga';
import type { WebSocketServer } from 'ws';

// biome-ignore lint/complexity/noBannedTypes: createYoga's own default context types
type Yoga = YogaServerInstance<{}, {}>;
type Enveloped = ReturnType<Yoga['getEnveloped']>;

/** Serves graphql-ws on `wss`; the returned dispose() closes every client with 1001 and waits for them. */
export function serveGraphqlWs(yoga: Yoga, wss: WebSocketServer): { dispose(): void | Promise<void> } {
  // Each operation runs with the execute/subscribe of its own envelop; keyed by its context object.
  const envelopes = new WeakMap<object, Enveloped>();
  const envelopeOf = (args: ExecutionArgs): Enveloped => {
    const found = envelopes.get(args.contextValue as object);
    if (!found) throw new Error('graphql-ws operation without an envelop');
    return found;
  };
  return serveWs(
    {
      execute: (args) => envelopeOf(args).execute(args),
      subscribe: (args) => envelopeOf(args).subscribe(args),
      onSubscribe: async (ctx, _id, payload) => {
        const envelope = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params: payload,
        });
        let document: DocumentNode;
        try {
          document = envelope.parse(payload.query);
        } catch (err) {
          // A syntax error is the client's: answer it instead of letting graphql-ws close the socket with 4500.
          if (err instanceof GraphQLError) return [err];
          throw err;
        }
        const errors = envelope.validate(envelope.schema, document);
        if (errors.length > 0) return errors;
        const contextValue = await envelope.contextFactory();
        envelopes.set(contextValue, envelope);
        return {
          schema: envelope.schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue,
        };
      },
    },
    wss,
  );
}
