/**
 * Which sockets of an http server are busy, so that shutdown can drop idle ones at once. Node's own
 * close()/closeIdleConnections() miss a keep-alive connection whose long response (SSE) ends after the call,
 * and a connection a client opened without sending a request yet (undici and browsers pre-connect).
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

export interface Connections {
  /** From now on, close every connection as soon as it serves no request, starting with the idle ones. */
  drain(): void;
  /** Hard stop: destroy every tracked socket. */
  destroyAll(): void;
  readonly size: number;
}

export function trackConnections(server: Server): Connections {
  const active = new Map<Socket, number>();
  let draining = false;

  server.on('connection', (socket: Socket) => {
    active.set(socket, 0);
    socket.once('close', () => active.delete(socket));
  });
  server.on('request', (req, res) => {
    const socket = req.socket;
    if (!active.has(socket)) return;
    active.set(socket, active.get(socket)! + 1);
    res.once('close', () => {
      const left = active.get(socket);
      if (left === undefined) return;
      active.set(socket, left - 1);
      if (draining && left === 1) socket.destroy();
    });
  });
  // An upgraded socket belongs to the WebSocket server from then on, which closes it with a proper frame.
  server.on('upgrade', (req) => active.delete(req.socket));

  return {
    drain() {
      draining = true;
      for (const [socket, requests] of active) if (requests === 0) socket.destroy();
    },
    destroyAll() {
      for (const socket of active.keys()) socket.destroy();
    },
    get size() {
      return active.size;
    },
  };
}
