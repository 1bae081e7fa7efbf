/**
 * The mock fleet: every service sends wire-contract datagrams over real UDP at a steady rate. One timer paces
 * all services; each tick sends whatever has fallen due, so load-test rates need no promise or timer per message.
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import { hostReader } from '../src/agent/host.js';
import { formatMessage } from '../src/core/message.js';
import { profileOf, type ServiceProfile, sampleProfile } from './behaviours.js';

export interface MockOptions {
  /** Where the daemon listens. @default {host: '127.0.0.1', port: 3500} */
  target: { host: string; port: number };
  /** @default 8 */
  services: number;
  /** Messages per second per service. @default 1 */
  rate: number;
  /** Seconds to run; undefined runs until aborted. */
  duration?: number;
  /** Same seed, same messages. @default 1 */
  seed: number;
  /** Report this host's real CPU, RAM and disk from every service instead of simulated behaviours. @default false */
  real: boolean;
  /** Turns each datagram's JSON into what is sent, e.g. a signed datagram (core/sign.ts). @default as is */
  sign?: (json: string) => string | Uint8Array;
}

export const MOCK_DEFAULTS: Readonly<MockOptions> = Object.freeze({
  target: Object.freeze({ host: '127.0.0.1', port: 3500 }),
  services: 8,
  rate: 1,
  seed: 1,
  real: false,
});

export interface FleetProgress {
  sent: number;
  elapsedS: number;
}

const TICK_MS = 10;
const PROGRESS_EVERY_S = 1;
/** A tick that runs longer than this yields, so timers, abort and send callbacks still get their turn. */
const TICK_BUDGET_MS = 50;
/** A sender that cannot keep up drops what is older than this rather than bursting ever larger backlogs. */
const MAX_LAG_S = 1;
/** How long to wait at the end for send completions before closing the socket anyway. */
const DRAIN_TIMEOUT_MS = 2000;

function validate(opts: MockOptions): void {
  const bad = (name: string, why: string) => new RangeError(`mock option ${name} ${why}`);
  if (!Number.isInteger(opts.services) || opts.services < 1) throw bad('services', `must be a whole number >= 1, got ${opts.services}`);
  if (!(opts.rate > 0 && Number.isFinite(opts.rate))) throw bad('rate', `must be a positive number, got ${opts.rate}`);
  if (opts.duration !== undefined && !(opts.duration >= 0)) throw bad('duration', `must be >= 0 seconds, got ${opts.duration}`);
  const { port } = opts.target;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad('target port', `must be 1-65535, got ${port}`);
}

interface ServiceState {
  profile: ServiceProfile;
  /** Offset of this service's first message within one send interval, so services do not all fire together. */
  phaseS: number;
  /** Index of this service's next message; message k is due at phaseS + k / rate. */
  next: number;
}

function connect(socket: dgram.Socket, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    // Connected once, the socket skips the per-send address lookup that would dominate at high rates.
    socket.connect(port, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

/**
 * Runs the fleet until `duration` has elapsed or `signal` aborts. Resolves with the number of datagrams the
 * kernel accepted; sends that fail (e.g. nobody listening on the target yet) are not counted.
 */
export async function runFleet(opts: MockOptions, onProgress?: (p: FleetProgress) => void, signal?: AbortSignal): Promise<{ sent: number }> {
  validate(opts);
  const { services, rate, seed, real, sign } = opts;
  const durationS = opts.duration ?? Number.POSITIVE_INFINITY;
  const socket = dgram.createSocket(isIPv6(opts.target.host) ? 'udp6' : 'udp4');
  // Errors after connecting surface in send callbacks; an unhandled 'error' event would crash the caller.
  socket.on('error', () => {});
  try {
    await connect(socket, opts.target.host, opts.target.port);
  } catch (err) {
    socket.close();
    throw err;
  }
  const states: ServiceState[] = Array.from({ length: services }, (_, i) => ({ profile: profileOf(i, seed), phaseS: i / services / rate, next: 0 }));
  const readHost = real ? hostReader() : undefined;
  let host = readHost?.();
  let hostReadAtS = 0;

  let attempted = 0;
  let sent = 0;
  let failed = 0;
  let onDrained: (() => void) | undefined;
  // One shared callback rather than a closure per message.
  const afterSend = (err: Error | null) => {
    if (err) failed++;
    else sent++;
    if (onDrained && sent + failed === attempted) onDrained();
  };

  const t0 = performance.now();
  const startUs = Math.round((performance.timeOrigin + t0) * 1000);
  const elapsedS = () => (performance.now() - t0) / 1000;
  let lastProgressS = 0;
  let rotate = 0;

  const sendDue = (): boolean => {
    const now = elapsedS();
    const horizon = Math.min(now, durationS);
    const deadline = performance.now() + TICK_BUDGET_MS;
    if (readHost && now - hostReadAtS >= 1) {
      host = readHost();
      hostReadAtS = now;
    }
    let budgetHit = false;
    // Start each tick at a different service so a tick cut short by its budget does not always starve the same ones.
    for (let j = 0; j < services && !budgetHit; j++) {
      const s = states[(rotate + j) % services];
      const behind = Math.floor((now - MAX_LAG_S - s.phaseS) * rate);
      if (behind > s.next) s.next = behind;
      for (let t = s.phaseS + s.next / rate; t <= horizon && t < durationS; t = s.phaseS + s.next / rate) {
        s.next++;
        const reading = host ? { serviceName: s.profile.name, ...host } : sampleProfile(s.profile, t);
        if (reading) {
          attempted++;
          const json = formatMessage(reading, startUs + Math.round(t * 1e6));
          socket.send(sign ? sign(json) : json, afterSend);
        }
        if ((s.next & 255) === 0 && performance.now() > deadline) {
          budgetHit = true;
          break;
        }
      }
    }
    rotate = (rotate + 1) % services;
    if (onProgress && now - lastProgressS >= PROGRESS_EVERY_S) {
      lastProgressS = now;
      onProgress({ sent, elapsedS: now });
    }
    return now >= durationS;
  };

  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (sendDue()) stop();
    }, TICK_MS);
    const stop = () => {
      clearInterval(timer);
      signal?.removeEventListener('abort', stop);
      resolve();
    };
    if (signal?.aborted) stop();
    else signal?.addEventListener('abort', stop, { once: true });
  });

  // Sends still queued in libuv would be cancelled by close(); give them a moment to complete first.
  if (sent + failed < attempted) {
    await new Promise<void>((resolve) => {
      const timeout = setTimeout(resolve, DRAIN_TIMEOUT_MS);
      onDrained = () => {
        clearTimeout(timeout);
        resolve();
      };
    });
  }
  socket.close();
  onProgress?.({ sent, elapsedS: elapsedS() });
  return { sent };
}
