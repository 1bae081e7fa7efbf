/**
 * What one client may ask of the server: the size and shape of a document (GraphQL Armor, plus a count of
 * the fields that hit the store), how many subscriptions stay open, how big a request body is and how long a
 * query may run. Every refusal is a GraphQL error with a stable `extensions.code` and a message that names
 * the limit, so a script can tell them apart and a person can tell what to change.
 *
 * The defaults are far above what the dashboard (tui/operations.ts) and ordinary tooling (GraphiQL, its
 * introspection query, codegen) send; a test holds every dashboard document against them.
 */
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import type { Plugin } from 'graphql-yoga';
import {
  type ASTVisitor,
  type ExecutionArgs,
  type ExecutionResult,
  type FragmentDefinitionNode,
  GraphQLError,
  getOperationAST,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
} from 'graphql';
import { createGraphQLError } from 'graphql-yoga';

export interface ApiLimits {
  /** Aliases in one operation (GraphQL Armor). */
  maxAliases: number;
  /** Nesting depth of one operation; introspection's `__schema` is not counted (GraphQL Armor). */
  maxDepth: number;
  /** Lexical tokens in one document, checked while parsing (GraphQL Armor). */
  maxTokens: number;
  /** Directives in one operation (GraphQL Armor). */
  maxDirectives: number;
  /** GraphQL Armor's cost estimate of one operation (objects 2, scalars 1, times 1.5 per level). */
  maxCost: number;
  /** Root fields that read the store (stats, series, history) in one operation, aliases and fragments included. */
  maxDataFields: number;
  /** Subscriptions open at once on one WebSocket. */
  maxSubscriptionsPerConnection: number;
  /** Subscriptions open at once on the server, WebSocket and SSE together. */
  maxSubscriptions: number;
  /** Largest HTTP request body and WebSocket message, bytes. */
  maxBodyBytes: number;
  /** Longest a query (not a mutation, not a subscription) may run before it fails with QUERY_TIMEOUT. */
  queryTimeoutMs: number;
}

export const DEFAULT_API_LIMITS: Readonly<ApiLimits> = Object.freeze({
  maxAliases: 30,
  maxDepth: 10,
  maxTokens: 5000,
  maxDirectives: 50,
  maxCost: 5000,
  maxDataFields: 20,
  maxSubscriptionsPerConnection: 20,
  maxSubscriptions: 1000,
  maxBodyBytes: 1024 * 1024,
  queryTimeoutMs: 10_000,
});

/** Fills in the defaults and refuses a limit that is not a positive whole number. */
export function resolveLimits(partial: Partial<ApiLimits> = {}): ApiLimits {
  const limits = { ...DEFAULT_API_LIMITS };
  for (const [key, value] of Object.entries(partial) as [keyof ApiLimits, number | undefined][]) {
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`API limit ${key} must be a positive whole number (got ${value})`);
    limits[key] = value;
  }
  return limits;
}

/**
 * A refusal with its code. `http` is the HTTP status yoga answers with (ws.ts leaves it out over WebSocket);
 * `spec: true` makes it follow GraphQL over HTTP as yoga's own validation errors do: 400 for clients that accept
 * application/graphql-response+json, 200 for legacy application/json ones.
 */
export const limitError = (code: string, message: string, http?: { status: number; spec?: boolean }): GraphQLError =>
  createGraphQLError(message, { extensions: http ? { code, http } : { code } });
const INVALID = { status: 400, spec: true };

/** Armor's rejections are plain GraphQLErrors worded "Syntax Error: ..."; these carry a code and say what to do. */
const rejectWith =
  (code: string, hint: string) =>
  (_ctx: ValidationContext | null, err: GraphQLError): never => {
    throw limitError(code, `${err.message.replace(/^Syntax Error: /, '')} ${hint}`, INVALID);
  };

const STORE_FIELDS = new Set(['stats', 'series', 'history']);

/**
 * Counts the root fields of each query that read the store, through aliases, inline fragments and fragment
 * spreads (each spread counts again, as it runs again). Thrown rather than reported: the rest of validation
 * (some rules of which are quadratic in the fields) does not run over a refused document.
 */
export function maxDataFieldsRule(max: number) {
  return (context: ValidationContext): ASTVisitor => ({
    OperationDefinition(operation: OperationDefinitionNode) {
      if (operation.operation !== 'query') return;
      const count = (set: SelectionSetNode, seen: Set<string>): number => {
        let n = 0;
        for (const sel of set.selections) {
          if (sel.kind === Kind.FIELD) {
            if (STORE_FIELDS.has(sel.name.value)) n++;
          } else if (sel.kind === Kind.INLINE_FRAGMENT) {
            n += count(sel.selectionSet, seen);
          } else if (!seen.has(sel.name.value)) {
            // A cycle is another rule's error; here it only must not loop.
            const fragment: FragmentDefinitionNode | null | undefined = context.getFragment(sel.name.value);
            if (fragment) n += count(fragment.selectionSet, new Set(seen).add(sel.name.value));
          }
          if (n > max) break;
        }
        return n;
      };
      const found = count(operation.selectionSet, new Set());
      if (found > max) {
        throw limitError(
          'TOO_MANY_FIELDS',
          `At most ${max} of stats, series and history in one operation (found more): split the work into several requests.`,
          INVALID,
        );
      }
    },
  });
}

/** GraphQL Armor with coded errors, plus the store-field count. Introspection is not charged for depth or cost. */
export function armorPlugins(limits: ApiLimits): Plugin[] {
  // The onReject callbacks throw a coded error; propagateOnRejection would throw armor's uncoded one after them.
  const common = { exposeLimits: true, propagateOnRejection: false } as const;
  return [
    EnvelopArmorPlugin({
      blockFieldSuggestion: { enabled: true },
      maxTokens: { ...common, n: limits.maxTokens, onReject: [rejectWith('TOO_MANY_TOKENS', 'Send a smaller document.')] },
      maxAliases: { ...common, n: limits.maxAliases, onReject: [rejectWith('TOO_MANY_ALIASES', 'Use fewer aliases.')] },
      maxDepth: { ...common, n: limits.maxDepth, onReject: [rejectWith('QUERY_TOO_DEEP', 'Nest selections less deeply.')] },
      maxDirectives: { ...common, n: limits.maxDirectives, onReject: [rejectWith('TOO_MANY_DIRECTIVES', 'Use fewer directives.')] },
      costLimit: { ...common, maxCost: limits.maxCost, onReject: [rejectWith('QUERY_TOO_COSTLY', 'Ask for fewer fields.')] },
    }),
    { onValidate: ({ addValidationRule }) => addValidationRule(maxDataFieldsRule(limits.maxDataFields)) },
  ];
}

/**
 * Open subscriptions, per WebSocket and in all. acquire() hands out a release function (calling it twice
 * releases once) or, at a limit, the TOO_MANY_SUBSCRIPTIONS error to answer with.
 */
export class SubscriptionBudget {
  private open = 0;

  constructor(
    private readonly max: number,
    private readonly perConnection: number,
  ) {}

  get size(): number {
    return this.open;
  }

  /** `onConnection`: how many this WebSocket holds now; undefined for SSE. */
  acquire(onConnection?: number): (() => void) | GraphQLError {
    if (onConnection !== undefined && onConnection >= this.perConnection) {
      return limitError(
        'TOO_MANY_SUBSCRIPTIONS',
        `At most ${this.perConnection} subscriptions on one connection: end one (complete) before starting another.`,
        { status: 429 },
      );
    }
    if (this.open >= this.max) {
      return limitError('TOO_MANY_SUBSCRIPTIONS', `The server holds its most subscriptions (${this.max}) now: try again later.`, { status: 429 });
    }
    this.open++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.open--;
    };
  }
}

/** An async iterable that calls `done` once when it ends: finished, failed, or returned early by its consumer. */
export function onFinish<T>(source: AsyncIterable<T>, done: () => void): AsyncIterableIterator<T> {
  const it = source[Symbol.asyncIterator]();
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    done();
  };
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    next: () =>
      it.next().then(
        (r) => {
          if (r.done) finish();
          return r;
        },
        (err) => {
          finish();
          throw err;
        },
      ),
    return: (value?: unknown) => {
      finish();
      return it.return ? it.return(value) : Promise.resolve({ done: true as const, value: undefined });
    },
    throw: (err?: unknown) => {
      finish();
      return it.throw ? it.throw(err) : Promise.reject(err);
    },
  };
}

const isAsyncIterable = (v: unknown): v is AsyncIterable<unknown> =>
  v != null && typeof (v as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';

/**
 * SSE (HTTP) subscriptions count against the server-wide budget here; WebSocket ones are counted by ws.ts,
 * which can answer a refusal with a graphql-ws `error` message, and mark their context `transport: 'ws'`.
 */
export function subscriptionBudgetPlugin(budget: SubscriptionBudget): Plugin<{ transport?: string }> {
  return {
    onSubscribe({ context, subscribeFn, setSubscribeFn, setResultAndStopExecution }) {
      if (context.transport === 'ws') return;
      const release = budget.acquire();
      if (release instanceof GraphQLError) {
        setResultAndStopExecution({ errors: [release] });
        return;
      }
      // Released when the stream ends (the client went, the server stops), or at once if there is none.
      setSubscribeFn(async (args) => {
        try {
          const result = await subscribeFn(args);
          if (isAsyncIterable(result)) return onFinish(result, release) as typeof result;
          release();
          return result;
        } catch (err) {
          release();
          throw err;
        }
      });
    },
  };
}

/**
 * A query that has not answered within `ms` gets QUERY_TIMEOUT. This is the server's own bound, for every
 * backend; the DuckDB query service also interrupts its statement at its own timeout, which frees the store.
 * Mutations (a batch run takes minutes) and subscriptions are not timed.
 */
export function queryTimeoutPlugin(ms: number): Plugin {
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      if (getOperationAST(args.document, args.operationName)?.operation !== 'query') return;
      setExecuteFn((execArgs: ExecutionArgs) => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<ExecutionResult>((resolve) => {
          timer = setTimeout(
            () => resolve({ errors: [limitError('QUERY_TIMEOUT', `No answer within ${ms / 1000} s: ask for a shorter window or fewer fields.`)] }),
            ms,
          );
        });
        const run = Promise.resolve(executeFn(execArgs) as ExecutionResult | Promise<ExecutionResult>);
        return Promise.race([run, timeout]).finally(() => clearTimeout(timer));
      });
    },
  };
}
