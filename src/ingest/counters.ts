import type { RejectedDatagram } from '../api.js';
import { COMPAT_MODES, type CompatMode, REJECT_REASONS, type RejectReason } from '../core/message.js';

const SAMPLE_SIZE = 100;
const EXCERPT_BYTES = 200;
const RATE_WINDOW_S = 5;

/** Every datagram is counted once, as accepted or as rejected with its reason (invariant 4). */
export class IngestCounters {
  received = 0;
  accepted = 0;
  /** Accepted with a valid signature; the rest of `accepted` came unsigned (--auth-mode optional or off). */
  acceptedSigned = 0;
  late = 0;
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
    const second = Math.floor(nowMs / 1000);
    if (second !== this.currentSecond) this.rollTo(second);
    this.perSecond[second % this.perSecond.length]++;
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
