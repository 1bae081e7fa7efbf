/**
 * A real HTTP webhook receiver for the notifier tests (node:http on port 0): records every request, answers
 * with a scripted sequence of status codes, and can hang to play a receiver that is down without refusing.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface Received {
  /** performance.now() when the request body had arrived. */
  at: number;
  method: string;
  /** The request path, e.g. /hook or /api/v2/alerts. */
  path: string;
  contentType: string | undefined;
  // biome-ignore lint/suspicious/noExplicitAny: payloads are checked field by field in the tests
  body: any;
  /** The status this request was answered with (undefined while hanging). */
  status?: number;
}

export interface WebhookServer {
  url: string;
  received: Received[];
  /** Answers the next requests with these statuses in order, then 200 again. */
  respondWith(...statuses: number[]): void;
  /** While true, requests are read and recorded but never answered. */
  hang: boolean;
  /** Resolves once `n` requests have arrived; rejects after `timeoutMs`. */
  waitFor(n: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

export async function startWebhookServer(): Promise<WebhookServer> {
  const received: Received[] = [];
  const script: number[] = [];
  const sockets = new Set<Socket>();
  const waiters: { n: number; resolve: () => void }[] = [];
  const state = { hang: false };

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    const entry: Received = { at: performance.now(), method: req.method ?? '', path: req.url ?? '', contentType: req.headers['content-type'], body: JSON.parse(text) };
    received.push(entry);
    for (const w of [...waiters]) {
      if (received.length >= w.n) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
    if (state.hang) return;
    entry.status = script.shift() ?? 200;
    res.writeHead(entry.status, { 'content-type': 'text/plain' });
    res.end(entry.status === 200 ? 'ok' : 'nope');
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    respondWith: (...statuses) => script.push(...statuses),
    get hang() {
      return state.hang;
    },
    set hang(v: boolean) {
      state.hang = v;
    },
    waitFor(n, timeoutMs = 5000) {
      if (received.length >= n) return Promise.resolve(received.slice());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`expected ${n} webhook requests, got ${received.length}`)), timeoutMs);
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve(received.slice());
          },
        });
      });
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
