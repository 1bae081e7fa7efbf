import { readFile } from 'node:fs/promises';
import type { Logger } from '../log.js';
import { segmentName } from '../core/master-record.js';
import type { SegmentLog } from './segment-log.js';
import { type MasterStore, splitByPartition } from './store.js';

export interface ShipResult {
  shipped: number;
  bytes: number;
  /** Sealed segments still waiting (the store failed on the first of them). */
  backlog: number;
  /** Why shipping stopped; its message names the store and the cause. */
  error?: Error;
}

/**
 * Moves sealed segments into the master dataset, oldest first, stopping at the first failure so that
 * shipped segments always form a prefix of the id sequence: the batch layer relies on that.
 */
export class Shipper {
  private running?: Promise<ShipResult>;
  private lastBacklog = 0;
  private highestShipped: number;

  constructor(
    private readonly segments: SegmentLog,
    private readonly store: MasterStore,
    private readonly log: Logger,
    /** Highest segment id known to be in the store already. */
    shippedUpTo: number,
  ) {
    this.highestShipped = shippedUpTo;
  }

  get backlog(): number {
    return this.lastBacklog;
  }

  /** Highest segment id that is in the master dataset, with every lower id. */
  get shippedUpTo(): number {
    return this.highestShipped;
  }

  /** Ships everything sealed; concurrent callers share one run. */
  ship(): Promise<ShipResult> {
    this.running ??= this.shipAll().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async shipAll(): Promise<ShipResult> {
    const sealed = await this.segments.sealed();
    let shipped = 0;
    let bytes = 0;
    for (const seg of sealed) {
      try {
        const data = await readFile(seg.path);
        const { parts, unplaced } = splitByPartition(data);
        for (const [partition, lines] of parts) {
          await this.store.put(partition, segmentName(seg.id, 'jsonl'), Buffer.concat(lines));
        }
        // A line without an event time has no partition: it is kept in the quarantine, not shipped (after
        // the puts, so that a retried shipment does not quarantine it twice).
        if (unplaced.length > 0) {
          const runs = unplaced.map(({ offset, line }) => ({ offset, lines: 1, reason: 'no event time (ts)', data: Buffer.from(line) }));
          await this.segments.quarantine(segmentName(seg.id, 'jsonl'), runs);
        }
        await this.segments.remove(seg);
        this.highestShipped = Math.max(this.highestShipped, seg.id);
        shipped++;
        bytes += data.length;
      } catch (err) {
        this.lastBacklog = sealed.length - shipped;
        this.log.warn({ err, segment: seg.id, store: this.store.location }, 'shipping failed; the segment stays local and is retried');
        return { shipped, bytes, backlog: this.lastBacklog, error: new Error(`${this.store.kind} store: ${(err as Error).message}`, { cause: err }) };
      }
    }
    this.lastBacklog = 0;
    return { shipped, bytes, backlog: 0 };
  }
}
