/**
 * This host's CPU, RAM and disk in the wire format's units (CPU percent 0-100, sizes in GiB), read from Linux's
 * /proc and statfs. The one implementation of host reading: `hms agent` and `hms mock --real` both use it.
 */
import { readFileSync, statfsSync } from 'node:fs';
import type { Reading } from '../core/message.js';

export type HostReading = Omit<Reading, 'serviceName'>;

const GIB = 1024 ** 3;
/** /proc/stat's aggregate line: user nice system idle iowait irq softirq steal (guest and guest_nice follow, already counted in user and nice). */
const COUNTED_FIELDS = 8;
const IDLE = 3;
const IOWAIT = 4;

/** The counters of /proc/stat's aggregate `cpu` line, in clock ticks since boot. */
export function parseProcStat(text: string): number[] {
  const line = /^cpu\s+(.*)$/m.exec(text)?.[1];
  const fields = line?.trim().split(/\s+/).map(Number) ?? [];
  if (fields.length < 4 || !fields.every((n) => Number.isSafeInteger(n) && n >= 0)) throw new Error('/proc/stat has no "cpu" line of counters');
  return fields.slice(0, COUNTED_FIELDS);
}

/**
 * CPU utilisation in percent between two reads of /proc/stat: the share of ticks not idle (idle and iowait
 * count as idle). A counter that went backwards (iowait can, on some kernels) counts as no ticks; no ticks
 * at all (reads within one tick) gives 0. Always within [0, 100].
 */
export function cpuPercent(prev: readonly number[], now: readonly number[]): number {
  let busy = 0;
  let idle = 0;
  for (let i = 0; i < Math.min(prev.length, now.length, COUNTED_FIELDS); i++) {
    const d = Math.max(0, now[i] - prev[i]);
    if (i === IDLE || i === IOWAIT) idle += d;
    else busy += d;
  }
  const total = busy + idle;
  return total > 0 ? (busy / total) * 100 : 0;
}

/** MemTotal and MemAvailable of /proc/meminfo, in bytes. MemAvailable is what can be given to programs without swapping. */
export function parseMeminfo(text: string): { total: number; available: number } {
  const kib = (name: string) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
    if (!m) throw new Error(`/proc/meminfo has no ${name} (Linux 3.14 or later has it)`);
    return Number(m[1]) * 1024;
  };
  return { total: kib('MemTotal'), available: kib('MemAvailable') };
}

/** Bytes to GiB, to 1 MiB or so: the precision the wire format needs, and no float noise in the datagram. */
const gib = (bytes: number) => Math.round((bytes / GIB) * 1000) / 1000;

/** Size and free space (for unprivileged users, as `df` shows it) of the file system holding `path`, in GiB. */
export function readDisk(path: string): HostReading['Disk'] {
  const fs = statfsSync(path);
  const total = gib(fs.blocks * fs.bsize);
  // A total of 0 is refused by the daemon (range): a pseudo file system, or a path that is not on a disk.
  if (!(total > 0)) throw new Error(`${path} is on a file system of size 0 (not a disk)`);
  return { Total: total, Free: Math.min(gib(fs.bavail * fs.bsize), total) };
}

export function readMemory(): HostReading['RAM'] {
  const { total, available } = parseMeminfo(readFileSync('/proc/meminfo', 'latin1'));
  return { Total: gib(total), Free: Math.min(gib(available), gib(total)) };
}

const readCpuCounters = () => parseProcStat(readFileSync('/proc/stat', 'latin1'));

/**
 * Reads this host at each call. CPU is the utilisation since the previous call (the first: since the reader
 * was made), never an average since boot. Throws an Error saying what could not be read; the CPU interval
 * then runs on to the next call.
 */
export function hostReader(diskPath = '/'): () => HostReading {
  let prev = readCpuCounters();
  return () => {
    const Disk = readDisk(diskPath);
    const RAM = readMemory();
    const now = readCpuCounters();
    const CPU = Math.round(cpuPercent(prev, now) * 100) / 100;
    prev = now;
    return { CPU, RAM, Disk };
  };
}
