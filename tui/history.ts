/**
 * The last 15 minutes of CPU and RAM per service for the sparklines. Seeded on connect from one `history` query
 * (minute peaks of every service), then kept client-side from the `services` subscription: one query per row
 * per second would not scale to 1,000 rows. Fixed-size rings of slots keyed by the sample's own lastSeen, so a
 * silent service leaves a gap instead of repeating its last value, and memory stays flat however long the
 * dashboard runs.
 */
import type { ServiceHistory, ServiceRow } from './types.js';

export type HistoryMetric = 'cpu' | 'ram';

interface Ring {
  /** Slot number (lastSeen / slotMs) held at each position; -1 when empty. */
  slot: Float64Array;
  cpu: Float32Array;
  ram: Float32Array;
}

export interface HistoryOptions {
  /** @default 900000 (15 minutes) */
  spanMs?: number;
  /** @default 10000 */
  slotMs?: number;
}

export class ResourceHistory {
  readonly spanMs: number;
  readonly slotMs: number;
  private readonly size: number;
  private readonly rings = new Map<string, Ring>();

  constructor(opts: HistoryOptions = {}) {
    this.spanMs = opts.spanMs ?? 15 * 60_000;
    this.slotMs = opts.slotMs ?? 10_000;
    this.size = Math.max(1, Math.round(this.spanMs / this.slotMs));
  }

  /** Folds one push in; a slot keeps the max it saw, so a short spike survives until it ages out. */
  record(rows: readonly ServiceRow[]): void {
    for (const row of rows) this.put(this.ring(row.service), Math.floor(row.lastSeen / this.slotMs), row.cpu, row.ramUsed);
  }

  /**
   * Folds in minute peaks from the daemon: every slot of a minute gets that minute's peak, up to `upTo` (the
   * query's end, so no slot ahead of the clock is filled). Merged like pushes (max per slot), so seeding again
   * after a reconnect, or after pushes already arrived, loses nothing.
   */
  seed(history: readonly ServiceHistory[], upTo: number, minuteMs = 60_000): void {
    const oldest = Math.floor(upTo / this.slotMs) - this.size + 1;
    for (const { service, minutes } of history) {
      const ring = this.ring(service);
      for (const m of minutes) {
        const first = Math.max(oldest, Math.floor(m.start / this.slotMs));
        const last = Math.floor((Math.min(m.start + minuteMs, upTo) - 1) / this.slotMs);
        for (let slot = first; slot <= last; slot++) this.put(ring, slot, m.cpu, m.ram);
      }
    }
  }

  private ring(service: string): Ring {
    let ring = this.rings.get(service);
    if (!ring) {
      ring = { slot: new Float64Array(this.size).fill(-1), cpu: new Float32Array(this.size), ram: new Float32Array(this.size) };
      this.rings.set(service, ring);
    }
    return ring;
  }

  // A newer slot replaces what a position held; an older one (a late sample, a long-past minute) is dropped.
  private put(ring: Ring, slot: number, cpu: number, ram: number): void {
    const at = slot % this.size;
    const held = ring.slot[at]!;
    if (held < slot) {
      ring.slot[at] = slot;
      ring.cpu[at] = cpu;
      ring.ram[at] = ram;
    } else if (held === slot) {
      ring.cpu[at] = Math.max(ring.cpu[at]!, cpu);
      ring.ram[at] = Math.max(ring.ram[at]!, ram);
    }
  }

  /** Drops services absent from `keep` (removed from the fleet), so memory follows the fleet size. */
  retain(keep: ReadonlySet<string>): void {
    for (const name of this.rings.keys()) if (!keep.has(name)) this.rings.delete(name);
  }

  /** `width` columns covering (now - span, now], oldest first; each the max of its slots, null when empty. */
  series(service: string, metric: HistoryMetric, now: number, width: number): (number | null)[] {
    const out: (number | null)[] = new Array(Math.max(0, width)).fill(null);
    const ring = this.rings.get(service);
    if (!ring || width <= 0) return out;
    const values = ring[metric];
    const first = Math.floor(now / this.slotMs) - this.size + 1;
    for (let c = 0; c < width; c++) {
      const lo = Math.floor((c * this.size) / width);
      const hi = Math.max(lo + 1, Math.floor(((c + 1) * this.size) / width));
      let best: number | null = null;
      for (let i = lo; i < hi; i++) {
        const slot = first + i;
        const at = ((slot % this.size) + this.size) % this.size;
        if (ring.slot[at] === slot && (best === null || values[at]! > best)) best = values[at]!;
      }
      out[c] = best;
    }
    return out;
  }
}
