import { encodeLine, type ReceivedTexts } from '../core/master-record.js';
import type { HealthMessage } from '../core/message.js';

/**
 * The journey of accepted messages after the decoder: their master record lines go to the open write-ahead
 * segment (durable within a flush interval) and to the speed layer (visible within a tick), and the messages
 * to the observers (the daemon's live state and health rules). Synchronous: it runs once per datagram read
 * here, and once per batch an ingest worker sends (ingest/ingest-workers.ts).
 *
 * Messages are refused (false) rather than accepted when the segment or the speed layer already holds
 * `maxUnflushedBytes` that a failing disk could not take: what is accepted is never dropped later.
 */

export interface FanOutDeps {
  segments: { append(lines: string, count: number): number | undefined };
  speed: { push(msg: HealthMessage, segment: number): void; accepts(maxBytes: number): boolean };
  maxUnflushedBytes: number;
  /** Messages older than the batch watermark are counted as late. */
  watermark(): number | null;
  onLate(): void;
  observers: readonly { observe(msg: HealthMessage, recvUs: number): void }[];
}

/** Messages already decoded and encoded elsewhere (an ingest worker): their lines, and each message. */
export interface MessageBatch {
  lines: string;
  count: number;
  each(fn: (msg: HealthMessage, recvUs: number) => void): void;
}

export interface Sinks {
  /** One decoded message (and its numbers' text as received, see encodeLine): true when accepted. */
  one(msg: HealthMessage, recvUs: number, _key?: unknown, texts?: ReceivedTexts | null): boolean;
  /** A batch, accepted or refused as a whole. */
  batch(b: MessageBatch): boolean;
}

export function fanOut(d: FanOutDeps): Sinks {
  /** The segment the lines went to, or undefined when they are refused. */
  const store = (lines: string, count: number): number | undefined => (d.speed.accepts(d.maxUnflushedBytes) ? d.segments.append(lines, count) : undefined);
  const rest = (msg: HealthMessage, recvUs: number, segment: number, watermark: number) => {
    d.speed.push(msg, segment);
    if (msg.ts < watermark) d.onLate();
    for (const o of d.observers) o.observe(msg, recvUs);
  };
  return {
    one(msg, recvUs, _key, texts) {
      const segment = store(encodeLine(msg, recvUs, texts), 1);
      if (segment === undefined) return false;
      rest(msg, recvUs, segment, d.watermark() ?? 0);
      return true;
    },
    batch(b) {
      const segment = store(b.lines, b.count);
      if (segment === undefined) return false;
      const watermark = d.watermark() ?? 0;
      b.each((msg, recvUs) => rest(msg, recvUs, segment, watermark));
      return true;
    },
  };
}
