import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import type { Logger } from '../log.js';
import type { IngestCounters } from './counters.js';
import type { DatagramAuth, VerifiedKey } from './datagram-auth.js';
import { type DecodeOptions, decodeDatagram } from './decode.js';
import type { ReceivedTexts } from '../core/master-record.js';
import type { HealthMessage } from '../core/message.js';

export interface UdpServerOptions {
  host: string;
  port: number;
  /** Receive buffer to ask for; the kernel grants at most net.core.rmem_max. */
  recvBufferBytes: number;
  decode: DecodeOptions;
  /** Signatures (--auth-mode): checked before decoding, and the key's services after. */
  auth: DatagramAuth;
  /** Why the sink refused a message. @default STORAGE_UNAVAILABLE */
  refusal?: () => string;
}

/**
 * Called synchronously for each decoded message with its receive time (epoch µs), the key that signed it and
 * the numbers' text as received (for encodeLine);
 * false when the message cannot be kept, which makes it a rejection (`storage_unavailable`, with
 * `refusal()` as its detail) rather than an acceptance.
 */
export type Sink = (msg: HealthMessage, recvUs: number, key: VerifiedKey | null, texts: ReceivedTexts | null) => boolean;

export const STORAGE_UNAVAILABLE = 'the write-ahead segment cannot be written and the in-memory backlog is full (--max-unflushed): see pipeline.storageError';

const from = (rinfo: RemoteInfo): string => `${rinfo.address}:${rinfo.port}`;

/**
 * The sysctl to set when the kernel granted less receive buffer than asked (it caps the buffer at
 * net.core.rmem_max; Linux reports twice what it set), or null.
 */
export function recvBufferAdvice(asked: number, granted: number): string | null {
  const set = process.platform === 'linux' ? granted / 2 : granted;
  if (set >= asked) return null;
  return `the kernel granted a ${formatMiB(set)} UDP receive buffer of the ${formatMiB(asked)} asked (--recv-buffer), so bursts are dropped sooner: run "sysctl -w net.core.rmem_max=${asked}" as root (and put net.core.rmem_max=${asked} in /etc/sysctl.d/ to keep it)`;
}

const formatMiB = (bytes: number) => (bytes >= 1 << 20 ? `${+(bytes / (1 << 20)).toFixed(1)} MiB` : `${Math.round(bytes / 1024)} KiB`);

/** The UDP listener: decode, validate, count, hand accepted messages to the sink. Never throws on input. */
export class UdpServer {
  private socket?: Socket;
  private grantedBuffer = 0;
  private bufferAdvice: string | null = null;
  private boundPort = 0;
  private readonly log: Logger;

  constructor(
    private readonly opts: UdpServerOptions,
    private readonly counters: IngestCounters,
    private readonly sink: Sink,
    log: Logger,
  ) {
    this.log = log.child({ module: 'ingest' });
  }

  /** Binds the port and starts reading it. */
  async start(): Promise<number> {
    const socket = createSocket({ type: this.opts.host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: this.opts.recvBufferBytes });
    this.attach(socket);
    await new Promise<void>((resolve, reject) => {
      const failed = (err: NodeJS.ErrnoException) => {
        const why = err.code === 'EADDRINUSE' ? 'the address is in use (another daemon?)' : err.message;
        reject(new Error(`cannot listen for UDP on ${this.opts.host}:${this.opts.port} (--udp-port / --udp-host): ${why}`));
      };
      socket.once('error', failed);
      socket.bind(this.opts.port, this.opts.host, () => {
        socket.off('error', failed);
        resolve();
      });
    });
    socket.on('error', (err) => this.log.error({ err }, 'UDP socket error'));
    this.boundPort = socket.address().port;
    // Linux reports twice what was set (the doubled part is its bookkeeping); the number shown is what it says.
    this.grantedBuffer = socket.getRecvBufferSize();
    this.bufferAdvice = recvBufferAdvice(this.opts.recvBufferBytes, this.grantedBuffer);
    if (this.bufferAdvice) this.log.warn({ asked: this.opts.recvBufferBytes, granted: this.grantedBuffer }, this.bufferAdvice);
    this.log.info({ host: this.opts.host, port: this.boundPort, recvBuffer: this.grantedBuffer }, 'listening for health messages');
    return this.boundPort;
  }

  /** Reads a socket bound elsewhere (an ingest worker is handed the daemon's). */
  attach(socket: Socket): void {
    this.socket = socket;
    socket.on('message', (data, rinfo) => this.onMessage(data, rinfo));
  }

  /** The bound socket, to hand to ingest workers. */
  get handle(): Socket | undefined {
    return this.socket;
  }

  /** What to set when the kernel granted less receive buffer than asked; null when it granted it all. */
  get recvBufferAdvice(): string | null {
    return this.bufferAdvice;
  }

  private onMessage(data: Buffer, rinfo: RemoteInfo): void {
    const c = this.counters;
    c.received++;
    const nowMs = Date.now();
    const nowUs = nowMs * 1000;
    const v = this.opts.auth.verify(data, nowUs);
    if (!v.ok) {
      c.reject(v.reason, v.detail, data, from(rinfo), nowUs);
      return;
    }
    const d = decodeDatagram(v.body, nowUs, this.opts.decode);
    if (!d.ok) c.reject(d.reason, d.detail, data, from(rinfo), nowUs);
    else if (!this.opts.auth.allows(v.key, d.msg.service)) {
      const key = v.key!; // unsigned datagrams are allowed every service
      c.reject('service_not_allowed', `key "${key.id}" may not send for service ${JSON.stringify(d.msg.service)} (its services: ${key.services?.join(', ')})`, data, from(rinfo), nowUs);
    } else if (this.sink(d.msg, nowUs, v.key, d.texts)) c.accept(nowMs, d.compat, v.key !== null);
    else c.reject('storage_unavailable', this.opts.refusal?.() ?? STORAGE_UNAVAILABLE, data, from(rinfo), nowUs);
  }

  get port(): number {
    return this.boundPort;
  }

  get recvBufferBytes(): number {
    return this.grantedBuffer;
  }

  /** Datagrams the kernel dropped on this socket (receive buffer full), from /proc/net/udp{,6}. */
  kernelDrops(): number | null {
    if (!this.boundPort) return null;
    const portHex = `:${this.boundPort.toString(16).toUpperCase().padStart(4, '0')}`;
    let found = false;
    let drops = 0;
    for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols.length > 12 && cols[1].endsWith(portHex)) {
          found = true;
          drops += Number(cols[cols.length - 1]);
        }
      }
    }
    return found ? drops : null;
  }

  close(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    return new Promise((resolve) => (s ? s.close(() => resolve()) : resolve()));
  }
}
