import type { RejectedDatagram } from '../api.js';
import { COMPAT_MODES, type CompatMode, REJECT_REASONS, type RejectReason } from '../core/message.js';

export const SAMPLE_SIZE = 100;
const EXCERPT_BYTES = 200;
const RATE_WINDOW_S = 5;

/** The counts an ingest worker sends with each batch (see IngestCounters.merge). */
export interface CounterDelta {
  received: number;
  accepted: number;
  acceptedSigned: number;
  rejectedBy: Record<RejectReason, number>;
  compat: Record<CompatMode, number>;
  /** Rejections sampled since the last report, oldest first. */
  sample: RejectedDatagram[];
}

/** Every datagram is counted once, as accepted or as rejected with its reason (invariant 4). */
export class IngestCounters {
  received = 0;
  accepted = 0;
  /** Accepted with a valid signature; the rest of `accepted` came unsigned (--auth-mode optional or off). */
  acceptedSigned = 0;
  late = 0;
  /** Messages taken through `importMessages` (hms import --url): not datagrams, so in none of the counts above. */
  imported = 0;
  readonly rejectedBy = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;
  readonly compat = Object.fromEntries(COMPAT_MODES.map((m) => [m, 0])) as Record<CompatMode, number>;
  private readonly sample: RejectedDatagram[] = [];
  private sampleNext = 0;
  private readonly perSecond = new Array<number>(RATE_WINDOW_S + 1).fill(0);
  private currentSecond = 0;

  get rejected(): number {
    let n = 0;
    for (const r of REJECT_REASONS) n += this.rejectedBy[r];
    return n;
  }

  accept(nowMs: number, compat: CompatMode | undefined, signed: boolean): void {
    this.accepted++;
    if (signed) this.acceptedSigned++;
    if (compat) this.compat[compat]++;
    this.countRate(nowMs, 1);
  }

  private countRate(nowMs: number, n: number): void {
    const second = Math.floor(nowMs / 1000);
    if (second !== this.currentSecond) this.rollTo(second);
    this.perSecond[second % this.perSecond.length] += n;
  }

  /**
   * What an ingest worker counted since its last report (`takeDelta`), added to these counters. When the
   * main process could not keep the worker's accepted messages (`stored` false), they count as rejected
   * `storage_unavailable` instead.
   */
  merge(d: CounterDelta, nowMs: number, stored: boolean): void {
    this.received += d.received;
    for (const r of REJECT_REASONS) this.rejectedBy[r] += d.rejectedBy[r];
    for (const e of d.sample) this.addSample(e);
    if (!stored) {
      this.rejectedBy.storage_unavailable += d.accepted;
      return;
    }
    this.accepted += d.accepted;
    this.acceptedSigned += d.acceptedSigned;
    for (const m of COMPAT_MODES) this.compat[m] += d.compat[m];
    this.countRate(nowMs, d.accepted);
  }

  /** The counts since the last call (and the rejections sampled since), then starts again from zero. */
  takeDelta(): CounterDelta {
    const d: CounterDelta = {
      received: this.received,
      accepted: this.accepted,
      acceptedSigned: this.acceptedSigned,
      rejectedBy: { ...this.rejectedBy },
      compat: { ...this.compat },
      sample: this.sample.length < SAMPLE_SIZE ? this.sample.slice() : [...this.sample.slice(this.sampleNext), ...this.sample.slice(0, this.sampleNext)],
    };
    this.received = this.accepted = this.acceptedSigned = 0;
    for (const r of REJECT_REASONS) this.rejectedBy[r] = 0;
    for (const m of COMPAT_MODES) this.compat[m] = 0;
    this.sample.length = 0;
    this.sampleNext = 0;
    return d;
  }

  reject(reason: RejectReason, detail: string, data: Uint8Array, from: string, nowUs: number): void {
    this.rejectedBy[reason]++;
    const entry: RejectedDatagram = {
      at: nowUs,
      reason,
      detail,
      from,
      excerpt: Buffer.from(data.subarray(0, EXCERPT_BYTES)).toString('utf8'),
    };
    this.addSample(entry);
  }

  private addSample(entry: RejectedDatagram): void {
    // A ring: the newest SAMPLE_SIZE rejections, whatever the rate of bad input.
    this.sample[this.sampleNext] = entry;
    this.sampleNext = (this.sampleNext + 1) % SAMPLE_SIZE;
  }

  /** Newest first. */
  rejectedSample(): RejectedDatagram[] {
    return [...this.sample].sort((a, b) => b.at - a.at);
  }

  private rollTo(second: number): void {
    const len = this.perSecond.length;
    const gap = Math.min(second - this.currentSecond, len);
    for (let i = 1; i <= gap; i++) this.perSecond[(this.currentSecond + i) % len] = 0;
    this.currentSecond = second;
  }

  /** Accepted messages per second over the last complete seconds. */
  rate(nowMs: number): number {
    const second = Math.floor(nowMs / 1000);
    if (second !== this.currentSecond) this.rollTo(second);
    let sum = 0;
    for (let i = 1; i <= RATE_WINDOW_S; i++) sum += this.perSecond[(second - i + this.perSecond.length) % this.perSecond.length];
    return sum / RATE_WINDOW_S;
  }
}
