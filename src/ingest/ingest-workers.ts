/**
 * Ingest on every core (--ingest-workers N): the daemon binds the UDP port and hands the socket to N-1 child
 * processes (Node passes a dgram socket over the IPC channel; every process then reads the one kernel queue,
 * which gives each datagram to exactly one of them). A worker does the per-datagram work (signature, decode,
 * validation, the segment line) and sends what it accepted in batches, every few milliseconds, to the
 * daemon, which is the only writer of the write-ahead segments and the only holder of live state and health.
 * So every invariant of one process holds: segment ids are the daemon's, a batch is accepted or refused as
 * a whole, and a message counts as accepted only once the daemon has it in the open segment. A worker that
 * dies loses only datagrams it had read and not yet sent, which were never counted (like kernel drops);
 * it is started again. The daemon also checks the nonces of signed messages once more: a replay may reach
 * another worker than its original did.
 */
import { type ChildProcess, fork } from 'node:child_process';
import type { Socket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import type { LogFormat } from '../config/settings.js';
import type { CompatMode, HealthMessage } from '../core/message.js';
import type { Logger } from '../log.js';
import type { AuthMode } from './datagram-auth.js';
import type { CounterDelta } from './counters.js';

/** The first message to a worker, with the socket. */
export interface WorkerInit {
  t: 'init';
  index: number;
  logLevel: string;
  /** The daemon's --log-format; `auto` looks at the stderr the worker shares with it. */
  logFormat: LogFormat;
  decode: { maxBytes: number; maxFutureUs: number; minTimestampUs: number; maxAgeUs?: number; compat: CompatMode[] };
  auth: { mode: AuthMode; keysFile: string; windowUs: number; maxNonces: number };
  /** How often a worker sends what it accepted. */
  batchMs: number;
}

/** Values of a message in a batch, in this order, VALUES_PER_MESSAGE a message. */
export const VALUES_PER_MESSAGE = 7; // ts, recv, cpu, ramTotal, ramFree, diskTotal, diskFree

/** What a worker accepted since its last batch, and what it counted. */
export interface WorkerBatch {
  t: 'batch';
  /** The segment lines, one a message, each ending in a newline (JSON strings hold no raw newline). */
  lines: string;
  /** The services of this batch; `service[i]` indexes it. */
  names: string[];
  service: Uint32Array;
  values: Float64Array;
  /** Signed messages: their index in the batch, key id, nonce and signed time (ms), for the daemon's replay check. */
  signed: { index: number[]; keyId: string[]; nonce: string[]; millis: number[] };
  counts: CounterDelta;
}

export type FromWorker = { t: 'ready'; pid: number } | WorkerBatch | { t: 'stopped' };
export type ToWorker = WorkerInit | { t: 'reload' } | { t: 'stop' };

/** The messages of a batch, built one at a time (the daemon's observers keep some of them). */
export function forEachMessage(b: WorkerBatch, fn: (msg: HealthMessage, recvUs: number, index: number) => void): void {
  const v = b.values;
  for (let i = 0, j = 0; i < b.service.length; i++, j += VALUES_PER_MESSAGE) {
    fn({ service: b.names[b.service[i]], ts: v[j], cpu: v[j + 2], ramTotal: v[j + 3], ramFree: v[j + 4], diskTotal: v[j + 5], diskFree: v[j + 6] }, v[j + 1], i);
  }
}

/** A batch without the messages at `drop` (a replay the daemon caught); `lines` is `b.lines` split at newlines. */
export function withoutMessages(b: WorkerBatch, drop: ReadonlySet<number>, lines: readonly string[]): WorkerBatch {
  const keep = [...b.service.keys()].filter((i) => !drop.has(i));
  const values = new Float64Array(keep.length * VALUES_PER_MESSAGE);
  for (let k = 0; k < keep.length; k++) values.set(b.values.subarray(keep[k] * VALUES_PER_MESSAGE, (keep[k] + 1) * VALUES_PER_MESSAGE), k * VALUES_PER_MESSAGE);
  return {
    ...b,
    lines: keep.map((i) => `${lines[i]}\n`).join(''),
    service: Uint32Array.from(keep, (i) => b.service[i]),
    values,
  };
}

const here = fileURLToPath(import.meta.url);
/** The worker's entry: the compiled .js beside this file, or the .ts under tsx. */
const WORKER_ENTRY = here.replace(/ingest-workers\.(ts|js)$/, 'ingest-worker.$1');

/** The daemon's Node options (a loader such as tsx, heap flags), but not its debugger port, which is taken. */
const WORKER_EXEC_ARGV = process.execArgv.filter((a) => !a.startsWith('--inspect'));
const STOP_WAIT_MS = 10_000;
const MAX_RESTART_DELAY_MS = 10_000;

interface Child {
  proc: ChildProcess;
  index: number;
  startedAt: number;
  /** Resolves once it said 'stopped' or exited. */
  done: Promise<void>;
}

export interface IngestWorkersOptions {
  /** Child processes to run (the daemon reads the socket too). */
  count: number;
  socket: Socket;
  init: Omit<WorkerInit, 't' | 'index'>;
  onBatch(batch: WorkerBatch, worker: number): void;
  log: Logger;
}

export class IngestWorkers {
  private readonly children = new Map<number, Child>();
  private readonly failures = new Map<number, number>();
  private readonly received = new Map<number, number>();
  private stopping = false;
  /** Workers started again after they died. */
  restarts = 0;
  private readonly log: Logger;

  constructor(private readonly opts: IngestWorkersOptions) {
    this.log = opts.log.child({ module: 'ingest-workers' });
  }

  /** Starts every worker; rejects, naming the worker, if one exits before it is reading. */
  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.opts.count }, (_, i) => this.spawn(i + 1, true)));
    this.log.info({ workers: this.opts.count, pids: [...this.children.values()].map((c) => c.proc.pid) }, 'ingest workers reading the UDP port');
  }

  /** The workers now running: place, pid, datagrams read in that place since the start, and since when it runs (epoch µs). */
  status(): { worker: number; pid: number; received: number; startedAt: number }[] {
    return [...this.children.values()]
      .sort((a, b) => a.index - b.index)
      .map((c) => ({ worker: c.index, pid: c.proc.pid ?? 0, received: this.received.get(c.index) ?? 0, startedAt: c.startedAt * 1000 }));
  }

  /** Datagrams every worker read, over their lives: the daemon read the rest. */
  get receivedByWorkers(): number {
    let n = 0;
    for (const r of this.received.values()) n += r;
    return n;
  }

  /**
   * Starts the worker in place `index`. At the daemon's start a worker that exits before it reads fails the
   * start; later, one that dies at any point is started again (after a keys file went bad, say, until it is fixed).
   */
  private spawn(index: number, initial: boolean): Promise<void> {
    const proc = fork(WORKER_ENTRY, [], { execArgv: WORKER_EXEC_ARGV, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let stopped!: () => void;
    const child: Child = { proc, index, startedAt: Date.now(), done: new Promise((r) => (stopped = r)) };
    this.children.set(index, child);
    return new Promise((resolve, reject) => {
      let ready = false;
      proc.on('message', (m: FromWorker) => {
        if (m.t === 'batch') {
          this.received.set(index, (this.received.get(index) ?? 0) + m.counts.received);
          this.opts.onBatch(m, index);
        } else if (m.t === 'ready') {
          ready = true;
          resolve();
        } else if (m.t === 'stopped') stopped();
      });
      proc.on('error', (err) => this.log.error({ err, worker: index }, 'ingest worker error'));
      proc.on('exit', (code, signal) => {
        stopped();
        if (this.children.get(index) === child) this.children.delete(index);
        if (!ready) reject(new Error(`ingest worker ${index} (${WORKER_ENTRY}) exited with ${signal ?? `code ${code}`} before it was reading; see its error above`));
        if ((ready || !initial) && !this.stopping) this.restart(child, code, signal);
      });
      const init: WorkerInit = { t: 'init', index, ...this.opts.init };
      proc.send(init, this.opts.socket);
    });
  }

  /** A worker died: start it again, sooner the longer it had been running (a crash loop backs off). */
  private restart(child: Child, code: number | null, signal: string | null): void {
    const lived = Date.now() - child.startedAt;
    const failures = lived > 60_000 ? 1 : (this.failures.get(child.index) ?? 0) + 1;
    this.failures.set(child.index, failures);
    const delayMs = Math.min(100 * 2 ** (failures - 1), MAX_RESTART_DELAY_MS);
    this.log.error(
      { worker: child.index, pid: child.proc.pid, code, signal, restartInMs: delayMs },
      'an ingest worker died; datagrams it had read and not yet handed over were never counted; starting it again',
    );
    setTimeout(() => {
      if (this.stopping) return;
      this.restarts++;
      this.spawn(child.index, false).catch(() => undefined); // a failure is logged and retried from 'exit'
    }, delayMs).unref();
  }

  /** SIGHUP: every worker reads the keys file again. */
  reload(): void {
    for (const c of this.children.values()) c.proc.send({ t: 'reload' } satisfies ToWorker);
  }

  /** Each worker stops reading and sends its last batch; one that does not stop in time is killed. */
  async stop(): Promise<void> {
    this.stopping = true;
    const children = [...this.children.values()];
    for (const c of children) {
      if (c.proc.connected) c.proc.send({ t: 'stop' } satisfies ToWorker);
    }
    await Promise.all(
      children.map(async (c) => {
        const timer = setTimeout(() => {
          this.log.error({ worker: c.index, pid: c.proc.pid }, `an ingest worker did not stop within ${STOP_WAIT_MS / 1000} s; killing it`);
          c.proc.kill('SIGKILL');
        }, STOP_WAIT_MS);
        await c.done;
        clearTimeout(timer);
      }),
    );
  }
}
