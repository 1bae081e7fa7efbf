/**
 * The daemon's HTTP face: one node:http (or node:https) server carrying GraphQL over HTTP and SSE (yoga),
 * GraphQL over WebSocket (graphql-ws) on the same path, and the liveness/readiness probes that process
 * supervisors use. Before yoga sees a request it passes the checks of guard.ts (Host, cross-site shape, API
 * token); yoga then applies the limits of limits.ts and the role check to the operation itself.
 */
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { GraphQLError } from 'graphql';
import { createYoga, type YogaLogger } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import type { HmsApi } from '../src/api.js';
import { type Connections, trackConnections } from './connections.js';
import { renderLocalGraphiQL } from './graphiql.js';
import { authenticate, crossSiteRisk, foreignHost, foreignOrigin, normaliseAllowedHosts, type Refusal, refusalBody, roleGuardPlugin } from './guard.js';
import { type ApiLimits, armorPlugins, queryTimeoutPlugin, resolveLimits, SubscriptionBudget, subscriptionBudgetPlugin } from './limits.js';
import { createHmsSchema } from './schema.js';
import type { ApiTokens, Role } from './tokens.js';
import { serveGraphqlWs } from './ws.js';

export { type ApiLimits, DEFAULT_API_LIMITS } from './limits.js';

type LogFn = (o: object, msg?: string) => void;
export interface Log {
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

export interface HttpServerOptions {
  host: string;
  /** 0 picks a free port; start() reports it. */
  port: number;
  /** Gap between subscription pushes; default 1000. */
  pushIntervalMs?: number;
  log?: Log;
  /** How long stop() lets clients go gracefully before destroying their sockets; default 3000. */
  stopTimeoutMs?: number;
  /** API tokens, looked up per request so a reload (SIGHUP) takes effect at once; null or absent: no authentication. */
  tokens?: () => ApiTokens | null;
  /** Names accepted in the Host header (host part, case-insensitive; IPv6 without brackets); empty/absent: any. */
  allowedHosts?: readonly string[];
  /** Serve HTTPS (and wss) instead of HTTP. */
  tls?: { cert: Buffer; key: Buffer };
  /** Per-request and per-connection limits; each one left out is its DEFAULT_API_LIMITS value. */
  limits?: Partial<ApiLimits>;
  /** Serves GET /metrics (Host check and API token as for GraphQL); absent: /metrics is not served. */
  metrics?: { readonly contentType: string; render(): Promise<string> };
}

export interface HttpServer {
  start(): Promise<{ port: number }>;
  stop(): Promise<void>;
  /** The GraphQL endpoint, e.g. http://127.0.0.1:4000/graphql (https:// with tls). */
  url(): string;
  /** GraphQL subscriptions open now, WebSocket and SSE together. */
  subscriptions(): number;
}

const PATH = '/graphql';
const DENY_ALL: ApiTokens = { roleOf: () => undefined, size: 0 };

// Yoga logs through this and nothing else; without a log it is silent rather than writing to the console.
function yogaLogger(log: Log | undefined): YogaLogger | false {
  if (!log) return false;
  const via =
    (level: keyof Log) =>
    (...args: unknown[]): void => {
      const [first, ...rest] = args;
      if (first instanceof Error) {
        // Masked resolver failures arrive wrapped: log the cause, with where in the query it happened.
        const err = first instanceof GraphQLError && first.originalError ? first.originalError : first;
        const path = first instanceof GraphQLError ? first.path : undefined;
        log[level]({ err, path }, `graphql: ${err.message}`);
      } else if (typeof first === 'string') {
        log[level]({ args: rest }, first);
      } else {
        log[level]({ args }, 'graphql-yoga');
      }
    };
  return { debug: () => {}, info: via('info'), warn: via('warn'), error: via('error') };
}

function sendJson(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

const refuse = (res: ServerResponse, r: Refusal): void => sendJson(res, r.status, refusalBody(r), r.headers);

/** `GET /`: what this server serves, so that a browser pointed at the port finds its way. */
function sendIndex(res: ServerResponse, metrics: boolean): void {
  const links: [string, string][] = [
    [PATH, 'GraphQL (GraphiQL in a browser; an API token when the daemon has --api-tokens)'],
    ['/metrics', 'Prometheus metrics (the same token)'],
    ['/health', 'liveness'],
    ['/ready', 'readiness'],
  ];
  const items = links
    .filter(([href]) => metrics || href !== '/metrics')
    .map(([href, what]) => `<li><a href="${href}">${href}</a>: ${what}</li>`).join('\n');
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html>\n<html><head><meta charset="utf-8"><title>hms</title></head>\n<body><h1>hms: health monitor daemon</h1>\n<ul>\n${items}\n</ul></body></html>\n`);
}

async function sendMetrics(res: ServerResponse, metrics: NonNullable<HttpServerOptions['metrics']>, log: Log | undefined): Promise<void> {
  let body: string;
  try {
    body = await metrics.render();
  } catch (err) {
    log?.error({ err }, 'metrics: reading the pipeline or the services failed');
    return refuse(res, { status: 500, code: 'METRICS_UNAVAILABLE', message: 'The metrics could not be read now (the daemon log says why).' });
  }
  res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
  res.end(body);
}

const STATUS_TEXT: Record<number, string> = { 403: 'Forbidden', 404: 'Not Found', 421: 'Misdirected Request', 503: 'Service Unavailable' };

function refuseUpgrade(socket: Duplex, status: number, message = ''): void {
  const body = message ? JSON.stringify(refusalBody({ code: STATUS_TEXT[status].toUpperCase().replace(/ /g, '_'), message })) : '';
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/**
 * Refusals come in floods when someone probes the server: logged at most once per code every 10 s, with
 * how many there were. Never with a token (guard.ts quotes none).
 */
function refusalLog(log: Log | undefined): (r: { code: string; status?: number }, req: IncomingMessage) => void {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (r, req) => {
    if (!log) return;
    const now = Date.now();
    const seen = last.get(r.code);
    if (seen && now - seen.at < 10_000) {
      seen.suppressed++;
      return;
    }
    last.set(r.code, { at: now, suppressed: 0 });
    log.warn(
      { code: r.code, status: r.status, remote: req.socket.remoteAddress, method: req.method, suppressedBefore: seen?.suppressed ?? 0 },
      'graphql request refused',
    );
  };
}

/**
 * An https server's 'connection' sockets are the raw TCP ones, while requests arrive on the TLS socket laid
 * over each: trackConnections is fed the TLS sockets, and sockets still in their handshake are kept here
 * so that stop() can end them too.
 */
function trackTlsConnections(server: Server): Connections {
  const handshaking = new Set<Duplex>();
  const facade = new EventEmitter();
  server.on('connection', (raw: Duplex) => {
    handshaking.add(raw);
    raw.once('close', () => handshaking.delete(raw));
  });
  server.on('secureConnection', (tlsSocket: Duplex & { _parent?: Duplex }) => {
    if (tlsSocket._parent) handshaking.delete(tlsSocket._parent);
    facade.emit('connection', tlsSocket);
  });
  server.on('request', (req, res) => facade.emit('request', req, res));
  server.on('upgrade', (req) => facade.emit('upgrade', req));
  const tracked = trackConnections(facade as unknown as Server);
  return {
    drain() {
      for (const raw of handshaking) raw.destroy();
      tracked.drain();
    },
    destroyAll() {
      for (const raw of handshaking) raw.destroy();
      tracked.destroyAll();
    },
    get size() {
      return tracked.size + handshaking.size;
    },
  };
}

export function createHttpServer(api: HmsApi, opts: HttpServerOptions): HttpServer {
  const log = opts.log;
  const limits = resolveLimits(opts.limits);
  const allowedHosts = normaliseAllowedHosts(opts.allowedHosts);
  // A getter that fails (a reload gone wrong) locks everyone out rather than letting everyone in.
  const tokens = (): ApiTokens | null => {
    try {
      return opts.tokens?.() ?? null;
    } catch (err) {
      log?.error({ err }, 'the API tokens are unavailable: every GraphQL request is refused');
      return DENY_ALL;
    }
  };
  const budget = new SubscriptionBudget(limits.maxSubscriptions, limits.maxSubscriptionsPerConnection);
  const refused = refusalLog(log);
  // Aborted by stop(): ends every subscription stream, so SSE responses finish and graphql-ws sends complete.
  const shutdown = new AbortController();
  const yoga = createYoga<{ role?: Role }>({
    schema: createHmsSchema(api, { pushIntervalMs: opts.pushIntervalMs, shutdown: shutdown.signal }),
    graphqlEndpoint: PATH,
    // The page itself loads without a token (it is static and names no data); its requests need one, which
    // GraphiQL's headers editor sends. Its assets are inline (graphiql.ts): no CDN, so it works offline.
    graphiql: true,
    renderGraphiQL: renderLocalGraphiQL,
    // Yoga's default CORS reflects any origin: any web page open on this machine could then use the daemon.
    // Its clients (TUI, scripts, GraphiQL served from here) are not cross-origin browsers.
    cors: false,
    landingPage: false,
    // No file uploads in this schema; form bodies are refused before yoga anyway (guard.ts).
    multipart: false,
    batching: false,
    // Checked against Content-Length before reading, and counted while reading a chunked body: 413.
    maxRequestBodySize: limits.maxBodyBytes,
    logging: yogaLogger(log),
    // isDev pinned off: NODE_ENV=development would otherwise put stack traces in client-visible errors.
    maskedErrors: { isDev: false },
    // The budget last: no plugin after it may end a subscribe before the stream it counts exists.
    plugins: [...armorPlugins(limits), roleGuardPlugin(), queryTimeoutPlugin(limits.queryTimeoutMs), subscriptionBudgetPlugin(budget)],
  });

  let stopping = false;
  let port = opts.port;

  const readiness = (): { ready: boolean; reason?: string } => {
    if (stopping) return { ready: false, reason: 'shutting down' };
    try {
      return api.readiness();
    } catch (err) {
      log?.warn({ err }, 'readiness check failed');
      return { ready: false, reason: 'readiness check failed' };
    }
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    // Probes skip the Host check: supervisors and load balancers ask by IP address.
    if (path === '/health') return sendJson(res, 200, { status: 'ok' });
    if (path === '/ready') {
      const { ready, reason } = readiness();
      return sendJson(res, ready ? 200 : 503, ready ? { status: 'ready' } : { status: 'not ready', reason });
    }
    const stop = (r: Refusal) => {
      refused(r, req);
      refuse(res, r);
    };
    const misdirected = foreignHost(req, allowedHosts);
    if (misdirected) return stop(misdirected);
    const metrics = path === '/metrics' ? opts.metrics : undefined;
    if (path === '/' || metrics) {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        return refuse(res, { status: 405, code: 'METHOD_NOT_ALLOWED', message: `${path} takes GET.`, headers: { allow: 'GET, HEAD' } });
      }
      if (!metrics) return sendIndex(res, Boolean(opts.metrics));
      // Prometheus sends the token as `authorization: {credentials: ...}` in its scrape config; any role reads.
      const auth = authenticate(tokens(), req.headers.authorization);
      if ('status' in auth) return stop(auth);
      return void sendMetrics(res, metrics, log);
    }
    if (path !== PATH) return refuse(res, { status: 404, code: 'NOT_FOUND', message: `Not found: GraphQL is served at ${PATH}.` });
    // The GraphiQL page (yoga's own test: GET accepting text/html). Its query string is dropped, so that this
    // unauthenticated path could run no operation even if yoga chose not to render the page.
    if (req.method === 'GET' && req.headers.accept?.includes('text/html')) {
      req.url = PATH;
      return void yoga(req, res, { role: undefined });
    }
    if (req.method === 'OPTIONS') {
      // A CORS preflight: answered without any Access-Control-Allow-* header, so browsers go no further.
      res.writeHead(204, { allow: 'GET, POST, OPTIONS' });
      return void res.end();
    }
    if (req.method !== 'GET' && req.method !== 'POST') {
      return refuse(res, { status: 405, code: 'METHOD_NOT_ALLOWED', message: 'GraphQL takes GET and POST.', headers: { allow: 'GET, POST, OPTIONS' } });
    }
    const crossSite = crossSiteRisk(req);
    if (crossSite) return stop(crossSite);
    const auth = authenticate(tokens(), req.headers.authorization);
    if ('status' in auth) return stop(auth);
    void yoga(req, res, { role: auth.role });
  };
  const server: Server = opts.tls
    ? (createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key, handshakeTimeout: 10_000 }, handle) as unknown as Server)
    : createServer(handle);
  const connections = opts.tls ? trackTlsConnections(server) : trackConnections(server);

  const wss = new WebSocketServer({ noServer: true, path: PATH, maxPayload: limits.maxBodyBytes });
  const graphqlWs = serveGraphqlWs(yoga, wss, {
    tokens,
    budget,
    onUnauthenticated: (req) => refused({ code: 'UNAUTHENTICATED', status: 4403 }, req),
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (stopping) return refuseUpgrade(socket, 503);
    const misdirected = foreignHost(req, allowedHosts);
    if (misdirected) {
      refused(misdirected, req);
      return refuseUpgrade(socket, 421, misdirected.message);
    }
    if (!wss.shouldHandle(req)) return refuseUpgrade(socket, 404);
    if (foreignOrigin(req, allowedHosts)) {
      refused({ code: 'FOREIGN_ORIGIN', status: 403 }, req);
      return refuseUpgrade(socket, 403, 'WebSocket connections are accepted from this server\'s own origin only.');
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      wss.emit('connection', ws, req);
      // graphql-ws prints a socket's errors to the console. They are the client's (a message over maxBodyBytes,
      // a malformed frame) and `ws` closes the socket itself with the matching code (1009, 1002...).
      ws.removeAllListeners('error');
      ws.on('error', (err: Error & { code?: string }) => refused({ code: err.code ?? 'WEBSOCKET_ERROR' }, req));
    });
  });

  const scheme = opts.tls ? 'https' : 'http';
  const start = (): Promise<{ port: number }> =>
    new Promise((resolve, reject) => {
      const failed = (err: NodeJS.ErrnoException) => {
        const why = err.code === 'EADDRINUSE' ? 'the address is in use (another daemon?)' : err.message;
        reject(new Error(`cannot listen for ${scheme.toUpperCase()} on ${opts.host}:${opts.port} (--http-port / --http-host): ${why}`));
      };
      server.once('error', failed);
      server.listen(opts.port, opts.host, () => {
        server.off('error', failed);
        const address = server.address();
        port = typeof address === 'object' && address ? address.port : opts.port;
        server.on('error', (err) => log?.error({ err }, 'http server error'));
        log?.info(
          { host: opts.host, port, path: PATH, tls: Boolean(opts.tls), tokens: opts.tokens ? (tokens()?.size ?? 0) : null, allowedHosts: [...allowedHosts] },
          'graphql listening',
        );
        resolve({ port });
      });
    });

  let stopped: Promise<void> | undefined;
  const shutDown = async (): Promise<void> => {
    stopping = true;
    shutdown.abort();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    connections.drain();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), opts.stopTimeoutMs ?? 3000);
    });
    const wsClosed = Promise.resolve(graphqlWs.dispose()).catch((err) => log?.warn({ err }, 'closing WebSockets failed'));
    const graceful = Promise.all([wsClosed, closed]).then(() => 'done' as const);
    if ((await Promise.race([graceful, deadline])) === 'timeout') {
      log?.warn({ open: connections.size, websockets: wss.clients.size }, 'graceful stop timed out; destroying sockets');
      for (const ws of wss.clients) ws.terminate();
      connections.destroyAll();
      await closed;
    }
    clearTimeout(timer);
  };

  const stop = (): Promise<void> => {
    stopped ??= shutDown();
    return stopped;
  };

  const url = (): string => {
    const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
    return `${scheme}://${host}:${port}${PATH}`;
  };

  return { start, stop, url, subscriptions: () => budget.size };
}
