import { encodeLine } from '../core/master-record.js';
import type { HealthMessage } from '../core/message.js';

/**
 * The journey of one accepted message after the decoder: its master record line goes to the open
 * write-ahead segment (durable within a flush interval) and to the speed layer (visible within a tick), and
 * the message to the observers (the daemon's live state and health rules). Synchronous: it runs once per
 * datagram.
 *
 * A message is refused (false) rather than accepted when the segment or the speed layer already holds
 * `maxUnflushedBytes` that a failing disk could not take: what is accepted is never dropped later.
 */

export interface FanOutDeps {
  segments: { append(line: string): number | undefined };
  speed: { push(line: string, segment: number): void; accepts(maxBytes: number): boolean };
  maxUnflushedBytes: number;
  /** Messages older than the batch watermark are counted as late. */
  watermark(): number | null;
  onLate(): void;
  observers: readonly { observe(msg: HealthMessage, recvUs: number): void }[];
}

/** The sink the UDP server calls for each decoded message: true when accepted, false when refused. */
export function fanOut(d: FanOutDeps): (msg: HealthMessage, recvUs: number) => boolean {
  return (msg, recvUs) => {
    if (!d.speed.accepts(d.maxUnflushedBytes)) return false;
    const line = encodeLine(msg, recvUs);
    const segment = d.segments.append(line);
    if (segment === undefined) return false;
    if (msg.ts < (d.watermark() ?? 0)) d.onLate();
    d.speed.push(line, segment);
    for (const o of d.observers) o.observe(msg, recvUs);
    return true;
  };
}
