import type { ImportResult } from '../api.js';
import type { CompatMode } from '../core/message.js';
import type { Sinks } from '../ingest/fan-out.js';
import { type DecodeOptions, decodeText } from '../ingest/decode.js';

/** Most messages one `importMessages` call takes (the request body is capped anyway, --max-request-bytes). */
export const MAX_IMPORT_MESSAGES = 10_000;

/**
 * The one path of imported messages, through the daemon (`importMessages`) and straight into a data dir
 * (`hms import --data-dir`): each text is decoded and checked exactly as a datagram of that size would be, then
 * handed to the pipeline's sink like one (write-ahead segment, realtime views), without the health observers:
 * history is not news of a service's health. A message the sink refuses (the disk is failing) is returned as
 * `storage_unavailable`, for the caller to send again.
 */
export function takeMessages(texts: readonly string[], opts: DecodeOptions, sink: Sinks, nowUs: number): ImportResult {
  let accepted = 0;
  const rejected: ImportResult['rejected'] = [];
  for (let index = 0; index < texts.length; index++) {
    const text = texts[index];
    const bytes = Buffer.byteLength(text);
    if (bytes > opts.maxBytes) {
      rejected.push({ index, reason: 'too_large', detail: `${bytes} bytes > limit ${opts.maxBytes}` });
      continue;
    }
    const d = decodeText(text, nowUs, opts);
    if (!d.ok) rejected.push({ index, reason: d.reason, detail: d.detail });
    else if (sink.one(d.msg, nowUs, undefined, d.texts)) accepted++;
    else rejected.push({ index, reason: 'storage_unavailable', detail: 'the write-ahead segments cannot take more now (a failing disk); send it again' });
  }
  return { accepted, rejected };
}

/** `compat` as a request gives it, checked; a string naming what is wrong otherwise. */
export function compatModes(compat: readonly string[], known: readonly CompatMode[]): Set<CompatMode> | string {
  const bad = compat.find((m) => !known.includes(m as CompatMode));
  return bad === undefined ? new Set(compat as CompatMode[]) : `unknown compat mode "${bad}" (known: ${known.join(', ')})`;
}
