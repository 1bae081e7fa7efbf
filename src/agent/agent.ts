/**
 * `hms agent`: reports this host's CPU, RAM and disk to the daemon every interval, over UDP, signed when a key
 * is given. It keeps going whatever happens: the daemon away, a name that does not resolve, a disk path that
 * disappears. Each problem is logged once when it starts and once when it clears, never once per datagram.
 */
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatMessage } from '../core/message.js';
import type { Logger } from '../log.js';
import { hostReader } from './host.js';

export interface AgentOptions {
  service: string;
  target: { host: string; port: number };
  intervalMs: number;
  /** A path on the file system to report. */
  disk: string;
  /** Turns a datagram's JSON into what is sent: a signed datagram (core/sign.ts). @default as is */
  sign?: (json: string) => string | Uint8Array;
}

/**
 * The first report goes out this long after start rather than a whole interval later, so a new agent shows at
 * once; its CPU is still a delta over this time, not the average since boot.
 */
const FIRST_SAMPLE_MS = 1000;

/** Problems by kind, each logged when it starts (or changes) and when it clears. */
class Problems {
  private readonly active = new Map<string, { message: string; since: number; failures: number }>();

  constructor(private readonly log: Logger) {}

  report(kind: string, message: string, fields: Record<string, unknown> = {}): void {
    const now = this.active.get(kind);
    if (now) now.failures++;
    if (now?.message === message) return;
    this.active.set(kind, { message, since: now?.since ?? Date.now(), failures: now?.failures ?? 1 });
    this.log.warn({ problem: kind, ...fields }, `${message}; retrying, and logging once when it clears`);
  }

  clear(kind: string): void {
    const p = this.active.get(kind);
    if (!p) return;
    this.active.delete(kind);
    this.log.info({ problem: kind, failures: p.failures, lastedS: Math.round((Date.now() - p.since) / 1000) }, `cleared: ${p.message}`);
  }
}

const codeOf = (err: unknown) => (err as NodeJS.ErrnoException).code ?? (err as Error).message;

/**
 * One connected UDP socket to the target, whose name is resolved again before every send (a daemon that moves
 * to another address is followed). Connected, so that the kernel reports a refusal (ICMP port unreachable:
 * nothing listens there) on the socket; it comes back after the send, and so is judged at the next one.
 */
class Sender {
  private socket: dgram.Socket | undefined;
  private address = '';
  private refusedSinceSend = false;
  private lastSendOk = false;
  sent = 0;
  unsent = 0;

  constructor(
    private readonly target: AgentOptions['target'],
    private readonly problems: Problems,
  ) {}

  private get where() {
    return `${this.target.host}:${this.target.port}`;
  }

  async send(payload: string | Uint8Array): Promise<void> {
    // The previous datagram left and nothing came back refusing it: the target is there (as far as UDP can tell).
    if (this.lastSendOk && !this.refusedSinceSend) this.problems.clear('send');
    this.lastSendOk = false;
    try {
      await this.connectTo(await this.resolve());
      this.refusedSinceSend = false;
      await new Promise<void>((resolve, reject) => this.socket!.send(payload, (err) => (err ? reject(err) : resolve())));
      this.lastSendOk = true;
      this.sent++;
    } catch (err) {
      this.unsent++;
      if (!(err instanceof ResolveError)) this.problems.report('send', `cannot send to ${this.where}: ${codeOf(err)}`, { code: codeOf(err) });
    }
  }

  private async resolve(): Promise<{ address: string; family: number }> {
    try {
      const found = await lookup(this.target.host);
      this.problems.clear('resolve');
      return found;
    } catch (err) {
      this.problems.report('resolve', `cannot resolve ${this.target.host} (--target): ${codeOf(err)}`, { code: codeOf(err) });
      throw new ResolveError();
    }
  }

  private async connectTo({ address, family }: { address: string; family: number }): Promise<void> {
    if (this.socket && address === this.address) return;
    this.close();
    const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(this.target.port, address, () => {
        socket.off('error', reject);
        resolve();
      });
    }).catch((err) => {
      socket.close();
      throw err;
    });
    // Errors after connecting (ECONNREFUSED from an ICMP port unreachable) arrive here, not in a send callback.
    socket.on('error', (err) => {
      this.refusedSinceSend = true;
      this.problems.report('send', `${this.where} (${address}) refused the datagram: ${codeOf(err)} (is the daemon running and listening there?)`, {
        code: codeOf(err),
      });
    });
    this.socket = socket;
    this.address = address;
  }

  close(): void {
    this.socket?.close();
    this.socket = undefined;
    this.address = '';
  }
}

class ResolveError extends Error {}

/** Runs until `signal` aborts. Resolves with how many datagrams went out and how many could not be sent. */
export async function runAgent(opts: AgentOptions, log: Logger, signal: AbortSignal): Promise<{ sent: number; unsent: number }> {
  const problems = new Problems(log);
  const sender = new Sender(opts.target, problems);
  const read = hostReader(opts.disk);
  // A name lookup cannot be cancelled and may take many seconds (a DNS server that does not answer): a stop
  // does not wait for it.
  const stopped = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  let due = Date.now() + Math.min(FIRST_SAMPLE_MS, opts.intervalMs);
  try {
    while (!signal.aborted) {
      await sleep(Math.max(0, due - Date.now()), undefined, { signal });
      let reading: ReturnType<typeof read> | undefined;
      try {
        reading = read();
        problems.clear('read');
      } catch (err) {
        // No datagram without every field: the daemon shows the host SILENT, and this log says why.
        problems.report('read', `cannot read this host (--disk ${opts.disk}): ${(err as Error).message}`);
      }
      if (reading) {
        const json = formatMessage({ serviceName: opts.service, ...reading }, Date.now() * 1000);
        await Promise.race([sender.send(opts.sign ? opts.sign(json) : json), stopped]);
        log.debug({ ...reading, sent: sender.sent, unsent: sender.unsent }, 'report');
      }
      // The next slot in the future: a send held up (a slow DNS answer) skips slots rather than bursting.
      due += opts.intervalMs * Math.max(1, Math.ceil((Date.now() - due) / opts.intervalMs));
    }
  } catch (err) {
    if (!signal.aborted) throw err;
  } finally {
    sender.close();
  }
  return { sent: sender.sent, unsent: sender.unsent };
}
