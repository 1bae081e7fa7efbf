/**
 * An ingest worker process (see ingest-workers.ts): reads the daemon's UDP socket, checks and decodes each
 * datagram as the daemon would, and sends what it accepted, in batches, over the IPC channel. It exits when
 * the daemon tells it to stop, or when the daemon is gone (the channel closes).
 */
import type { Socket } from 'node:dgram';
import { encodeLine, type ReceivedTexts } from '../core/master-record.js';
import type { HealthMessage } from '../core/message.js';
import { createLogger, type Logger } from '../log.js';
import { IngestCounters } from './counters.js';
import { DatagramAuth, loadAuthKeys, type VerifiedKey } from './datagram-auth.js';
import { type FromWorker, type ToWorker, VALUES_PER_MESSAGE, type WorkerBatch, type WorkerInit } from './ingest-workers.js';
import { UdpServer } from './udp-server.js';

/** Messages in one batch at most; a full batch is sent at once. */
const BATCH_CAPACITY = 4096;
/** Line text sent and not yet taken by the daemon beyond which new messages are refused. */
const MAX_IN_FLIGHT = 64 << 20;

/** What was accepted since the last send. One instance, reused: its typed arrays are copied out at each send. */
class Batch {
  lines: string[] = [];
  names: string[] = [];
  private readonly nameIndex = new Map<string, number>();
  readonly service = new Uint32Array(BATCH_CAPACITY);
  readonly values = new Float64Array(BATCH_CAPACITY * VALUES_PER_MESSAGE);
  signed: WorkerBatch['signed'] = { index: [], keyId: [], nonce: [], millis: [] };
  n = 0;
  chars = 0;

  /** The batch to send, and this one emptied. */
  take(counts: WorkerBatch['counts']): WorkerBatch {
    const m: WorkerBatch = {
      t: 'batch',
      lines: this.lines.join(''),
      names: this.names,
      service: this.service.slice(0, this.n),
      values: this.values.slice(0, this.n * VALUES_PER_MESSAGE),
      signed: this.signed,
      counts,
    };
    this.lines = [];
    this.names = [];
    this.nameIndex.clear();
    this.signed = { index: [], keyId: [], nonce: [], millis: [] };
    this.n = 0;
    this.chars = 0;
    return m;
  }

  add(msg: HealthMessage, recvUs: number, line: string): void {
    let idx = this.nameIndex.get(msg.service);
    if (idx === undefined) {
      idx = this.names.length;
      this.names.push(msg.service);
      this.nameIndex.set(msg.service, idx);
    }
    const j = this.n * VALUES_PER_MESSAGE;
    const v = this.values;
    v[j] = msg.ts;
    v[j + 1] = recvUs;
    v[j + 2] = msg.cpu;
    v[j + 3] = msg.ramTotal;
    v[j + 4] = msg.ramFree;
    v[j + 5] = msg.diskTotal;
    v[j + 6] = msg.diskFree;
    this.service[this.n++] = idx;
    this.lines.push(line);
    this.chars += line.length;
  }

  get full(): boolean {
    return this.n === BATCH_CAPACITY;
  }
}

function run(init: WorkerInit, socket: Socket): void {
  const log: Logger = createLogger(init.logLevel, init.logFormat).child({ worker: init.index });
  const keys = () => (init.auth.keysFile ? loadAuthKeys(init.auth.keysFile) : null);
  const auth = new DatagramAuth(keys(), { mode: init.auth.mode, windowUs: init.auth.windowUs, maxNonces: init.auth.maxNonces });
  const counters = new IngestCounters();
  const batch = new Batch();
  let inFlight = 0;

  const send = (m: FromWorker, done?: () => void) => {
    if (!process.connected) return;
    process.send!(m, undefined, {}, (err) => {
      if (err) log.error({ err }, 'cannot send to the daemon');
      done?.();
    });
  };
  const flush = (done?: () => void) => {
    const chars = batch.chars;
    inFlight += chars;
    send(batch.take(counters.takeDelta()), () => {
      inFlight -= chars;
      done?.();
    });
  };

  const sink = (msg: HealthMessage, recvUs: number, key: VerifiedKey | null, texts: ReceivedTexts | null): boolean => {
    if (inFlight > MAX_IN_FLIGHT) return false;
    if (key) {
      const s = batch.signed;
      s.index.push(batch.n);
      s.keyId.push(key.id);
      s.nonce.push(auth.lastNonce);
      s.millis.push(auth.lastMillis);
    }
    batch.add(msg, recvUs, encodeLine(msg, recvUs, texts));
    // Sent once this datagram is counted (after the sink returns), so a batch's counts are its own lines'.
    if (batch.full) queueMicrotask(flush);
    return true;
  };

  const udp = new UdpServer(
    {
      host: '',
      port: 0,
      recvBufferBytes: 0,
      decode: { ...init.decode, compat: new Set(init.decode.compat) },
      auth,
      refusal: () => `the daemon is ${Math.round(inFlight / (1 << 20))} MiB behind this ingest worker (${init.index}) and cannot keep up`,
    },
    counters,
    sink,
    log,
  );
  udp.attach(socket);
  const timer = setInterval(() => {
    if (batch.n > 0 || counters.received > 0) flush();
  }, init.batchMs);

  process.on('message', (m: ToWorker) => {
    if (m.t === 'reload' && init.auth.keysFile) {
      try {
        auth.reload(keys()!);
        log.info({ file: init.auth.keysFile }, 'signing keys reloaded');
      } catch (err) {
        log.error({ err }, 'signing keys not reloaded; the previous keys stay in force');
      }
    } else if (m.t === 'stop') {
      clearInterval(timer);
      // Closes this process's copy of the socket only: the daemon's stays open.
      udp.close().then(() => flush(() => send({ t: 'stopped' }, () => process.exit(0))));
    }
  });
  send({ t: 'ready', pid: process.pid });
}

// The daemon is gone (SIGKILL): whatever this process holds was never counted; stop reading its socket.
process.on('disconnect', () => process.exit(0));
process.once('message', (m: ToWorker, handle: Socket) => {
  if (m.t === 'init') run(m, handle);
});
