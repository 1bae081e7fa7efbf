/**
 * The daemon's HTTP face: one node:http server carrying GraphQL over HTTP and SSE (yoga), GraphQL over
 * WebSocket (graphql-ws) on the same path, and the liveness/readiness probes that process supervisors use.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { GraphQLError } from 'graphql';
import { createYoga, type YogaLogger } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import type { HmsApi } from '../src/api.js';
import { trackConnections } from './connections.js';
import { createHmsSchema } from './schema.js';
import { serveGraphqlWs } from './ws.js';

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
}

export interface HttpServer {
  start(): Promise<{ port: number }>;
  stop(): Promise<void>;
  /** The GraphQL endpoint, e.g. http://127.0.0.1:4000/graphql. */
  url(): string;
}

const PATH = '/graphql';

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

function sendJson(res: ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

// Browsers send Origin on WebSocket handshakes and CORS does not apply to them, so without this check any
// web page could read the fleet's health and start batch runs. Non-browser clients send no Origin.
function foreignOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== req.headers.host;
  } catch {
    return true;
  }
}

function refuseUpgrade(socket: Duplex, status: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

export function createHttpServer(api: HmsApi, opts: HttpServerOptions): HttpServer {
  const log = opts.log;
  // Aborted by stop(): ends every subscription stream, so SSE responses finish and graphql-ws sends complete.
  const shutdown = new AbortController();
  const yoga = createYoga({
    schema: createHmsSchema(api, { pushIntervalMs: opts.pushIntervalMs, shutdown: shutdown.signal }),
    graphqlEndpoint: PATH,
    graphiql: true,
    // Yoga's default CORS reflects any origin: any web page open on this machine could then use the daemon.
    // Its clients (TUI, scripts, GraphiQL served from here) are not cross-origin browsers.
    cors: false,
    landingPage: false,
    logging: yogaLogger(log),
    // isDev pinned off: NODE_ENV=development would otherwise put stack traces in client-visible errors.
    maskedErrors: { isDev: false },
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

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/health') return sendJson(res, 200, { status: 'ok' });
    if (path === '/ready') {
      const { ready, reason } = readiness();
      return sendJson(res, ready ? 200 : 503, ready ? { status: 'ready' } : { status: 'not ready', reason });
    }
    void yoga(req, res);
  });
  const connections = trackConnections(server);

  const wss = new WebSocketServer({ noServer: true, path: PATH });
  const graphqlWs = serveGraphqlWs(yoga, wss);
  server.on('upgrade', (req, socket, head) => {
    if (stopping) return refuseUpgrade(socket, '503 Service Unavailable');
    if (!wss.shouldHandle(req)) return refuseUpgrade(socket, '404 Not Found');
    if (foreignOrigin(req)) return refuseUpgrade(socket, '403 Forbidden');
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  const start = (): Promise<{ port: number }> =>
    new Promise((resolve, reject) => {
      const failed = (err: NodeJS.ErrnoException) => {
        const why = err.code === 'EADDRINUSE' ? 'the address is in use (another daemon?)' : err.message;
        reject(new Error(`cannot listen for HTTP on ${opts.host}:${opts.port} (--http-port / --host): ${why}`));
      };
      server.once('error', failed);
      server.listen(opts.port, opts.host, () => {
        server.off('error', failed);
        const address = server.address();
        port = typeof address === 'object' && address ? address.port : opts.port;
        server.on('error', (err) => log?.error({ err }, 'http server error'));
        log?.info({ host: opts.host, port, path: PATH }, 'graphql listening');
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
    return `http://${host}:${port}${PATH}`;
  };

  return { start, stop, url };
}
