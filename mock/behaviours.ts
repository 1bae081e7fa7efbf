/**
 * What each mock service reports: a pure function of (service index, seed, elapsed seconds), so a fleet run
 * with the same seed is reproducible and tests need no sockets. Each behaviour is a failure shape the monitor
 * is meant to catch: a memory leak, a filling disk, a crashing service that goes silent, CPU spikes.
 */
import type { Reading } from '../src/core/message.js';
import { hashUnit, mulberry32, serviceKey, smoothNoise } from './random.js';

export type { Reading };

export type Behaviour = 'daily' | 'leak' | 'disk-fill' | 'crasher' | 'spiker';

// The first five cover every behaviour, so even a small fleet shows each failure shape.
const NAMED: readonly { name: string; behaviour: Behaviour }[] = [
  { name: 'orders', behaviour: 'daily' },
  { name: 'payments', behaviour: 'spiker' },
  { name: 'inventory', behaviour: 'leak' },
  { name: 'search', behaviour: 'disk-fill' },
  { name: 'auth', behaviour: 'crasher' },
  { name: 'shipping', behaviour: 'daily' },
  { name: 'email', behaviour: 'daily' },
  { name: 'reports', behaviour: 'spiker' },
];

export const serviceName = (index: number): string => NAMED[index]?.name ?? `svc-${String(index + 1).padStart(3, '0')}`;

export const behaviourOf = (index: number): Behaviour => NAMED[index % NAMED.length].behaviour;

/** A service's constants, drawn once from the seed. */
export interface ServiceProfile {
  index: number;
  name: string;
  behaviour: Behaviour;
  /** Hash key for this service's time-varying noise. */
  key: number;
  ramTotalGb: number;
  diskTotalGb: number;
  /** Mean CPU percent and the amplitude of its daily cycle. */
  cpuBase: number;
  cpuSwing: number;
  /** Where in its day the service starts, 0-1. */
  dayPhase: number;
  /** RAM and disk used fractions of a healthy service. */
  ramBase: number;
  diskBase: number;
  /**
   * Seconds per cycle of the behaviour: leak until restart, fill until cleanup, crash period, spike window.
   * A day for `daily`.
   */
  cycleS: number;
}


const RAM_SIZES = [4, 8, 16, 32, 64];
const DISK_SIZES = [64, 128, 256, 512, 1024];
const DAY_S = 86_400;

export function profileOf(index: number, seed: number): ServiceProfile {
  const key = serviceKey(seed, index);
  const rng = mulberry32(key);
  const behaviour = behaviourOf(index);
  // Draw every constant in a fixed order whatever the behaviour, so adding a field never reshuffles the others.
  const ramTotalGb = RAM_SIZES[Math.floor(rng() * RAM_SIZES.length)];
  const diskTotalGb = DISK_SIZES[Math.floor(rng() * DISK_SIZES.length)];
  const cpuBase = behaviour === 'spiker' ? 8 + 7 * rng() : 25 + 20 * rng();
  const cpuSwing = 10 + 15 * rng();
  const dayPhase = rng();
  const ramBase = 0.35 + 0.25 * rng();
  const diskBase = behaviour === 'disk-fill' ? 0.35 + 0.1 * rng() : 0.3 + 0.3 * rng();
  const r = rng();
  const cycleS = {
    daily: DAY_S,
    leak: 480 + 420 * r, // restarts every 8-15 min
    'disk-fill': 1500 + 300 * r, // >90% used after 22-26 min, cleanup at 25-30
    crasher: 240 + 120 * r, // down for 60-90 s every 4-6 min
    spiker: 240 + 120 * r, // one burst per 4-6 min window, in four windows out of five
  }[behaviour];
  return { index, name: serviceName(index), behaviour, key, ramTotalGb, diskTotalGb, cpuBase, cpuSwing, dayPhase, ramBase, diskBase, cycleS };
}

// Noise streams: each metric draws from its own, so changing one never moves another.
const CPU_FAST = 1;
const CPU_SLOW = 2;
const JITTER = 3;
const RAM_DRIFT = 4;
const DISK_DRIFT = 5;
const CRASH_LENGTH = 6;
const SPIKE_ON = 7;
const SPIKE_LENGTH = 8;
const SPIKE_START = 9;
const SPIKE_LEVEL = 10;

/** A crasher's silent stretch closes each cycle; how long it lasts varies per cycle. */
export function isSilent(p: ServiceProfile, t: number): boolean {
  if (p.behaviour !== 'crasher') return false;
  const cycle = Math.floor(t / p.cycleS);
  const silentS = 60 + 30 * hashUnit(p.key, CRASH_LENGTH, cycle);
  return t - cycle * p.cycleS >= p.cycleS - silentS;
}

/** Seconds since the crasher last came back, or undefined before its first crash. */
function sinceRestart(p: ServiceProfile, t: number): number | undefined {
  if (p.behaviour !== 'crasher' || t < p.cycleS) return undefined;
  return t % p.cycleS;
}

/**
 * Bursts of 50-75 s: longer than the default 30 s `for` of the CPU rule, so each one fires an alert (and
 * resolves after it), while the service idles most of the time. The first window always bursts, within its
 * first minute, so `npm run demo` shows the rule firing about a minute and a half after the start.
 */
function spikeAt(p: ServiceProfile, t: number): boolean {
  const w = Math.floor(t / p.cycleS);
  if (w > 0 && hashUnit(p.key, SPIKE_ON, w) >= 0.8) return false;
  const length = 50 + 25 * hashUnit(p.key, SPIKE_LENGTH, w);
  const start = hashUnit(p.key, SPIKE_START, w) * (w === 0 ? 60 : p.cycleS - length);
  const into = t - w * p.cycleS;
  return into >= start && into < start + length;
}

function cpuAt(p: ServiceProfile, t: number): number {
  const jitter = hashUnit(p.key, JITTER, Math.floor(t * 1000)) - 0.5;
  if (p.behaviour === 'spiker') {
    if (spikeAt(p, t)) return 95 + 5 * hashUnit(p.key, SPIKE_LEVEL, Math.floor(t * 1000));
    return p.cpuBase + 6 * (smoothNoise(p.key, CPU_FAST, t, 20) - 0.5) + 2 * jitter;
  }
  let cpu =
    p.cpuBase +
    p.cpuSwing * Math.sin(2 * Math.PI * (t / DAY_S + p.dayPhase)) +
    16 * (smoothNoise(p.key, CPU_FAST, t, 30) - 0.5) +
    10 * (smoothNoise(p.key, CPU_SLOW, t, 300) - 0.5) +
    4 * jitter;
  const since = sinceRestart(p, t);
  if (since !== undefined && since < 15) cpu += 40 * (1 - since / 15); // start-up work after a crash
  return cpu;
}

function ramUsedAt(p: ServiceProfile, t: number, cpu: number): number {
  const drift = smoothNoise(p.key, RAM_DRIFT, t, 120) - 0.5;
  if (p.behaviour === 'leak') {
    const phase = (t % p.cycleS) / p.cycleS;
    return p.ramBase + (0.96 - p.ramBase) * phase + 0.01 * drift;
  }
  let used = p.ramBase + 0.1 * (cpu / 100) + 0.06 * drift;
  const since = sinceRestart(p, t);
  if (since !== undefined && since < 60) used -= 0.15 * (1 - since / 60); // caches are cold after a restart
  return used;
}

function diskUsedAt(p: ServiceProfile, t: number): number {
  const drift = smoothNoise(p.key, DISK_DRIFT, t, 60) - 0.5;
  if (p.behaviour === 'disk-fill') {
    const phase = (t % p.cycleS) / p.cycleS;
    return p.diskBase + (0.97 - p.diskBase) * phase + 0.001 * drift;
  }
  return p.diskBase + (0.01 * t) / DAY_S + 0.002 * drift; // logs grow about 1% a day
}

const clamp = (x: number, lo: number, hi: number): number => Math.min(Math.max(x, lo), hi);
const round = (x: number, scale: number): number => Math.round(x * scale) / scale;

// Totals are whole GB, so rounding a clamped Free to 3 decimals can never push it past Total.
const freeGb = (total: number, used: number): number => round(total * (1 - clamp(used, 0, 1)), 1000);

/** The reading of a profiled service `t` seconds into the run, or undefined while it is silent. */
export function sampleProfile(p: ServiceProfile, t: number): Reading | undefined {
  if (isSilent(p, t)) return undefined;
  const cpu = clamp(cpuAt(p, t), 0, 100);
  return {
    serviceName: p.name,
    CPU: round(cpu, 100),
    RAM: { Total: p.ramTotalGb, Free: freeGb(p.ramTotalGb, ramUsedAt(p, t, cpu)) },
    Disk: { Total: p.diskTotalGb, Free: freeGb(p.diskTotalGb, diskUsedAt(p, t)) },
  };
}

/** The reading of service `serviceIndex` at `elapsedS` in a fleet seeded with `seed`; undefined = silent. */
export const sample = (serviceIndex: number, elapsedS: number, seed: number): Reading | undefined =>
  sampleProfile(profileOf(serviceIndex, seed), elapsedS);
