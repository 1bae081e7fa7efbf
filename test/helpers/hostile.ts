/**
 * Generators of hostile input for the property tests (fast-check): datagrams as raw bytes, arbitrary JSON,
 * message-shaped text with adversarial service names, number tokens (Infinity included) and timestamps in
 * every unit and ISO spelling, and plausible messages so that many go all the way down.
 */
import fc from 'fast-check';
import { DEFAULT_MIN_TIMESTAMP_US, type DecodeOptions, decodeDatagram } from '../../src/ingest/decode.js';
import type { HealthMessage } from '../../src/core/message.js';

export const NOW = Date.UTC(2026, 10, 27, 12, 0, 0) * 1000;
export const OPTS: DecodeOptions = { maxBytes: 8192, maxFutureUs: 300e6, minTimestampUs: DEFAULT_MIN_TIMESTAMP_US, compat: new Set(['seed', 'course']) };

/** Characters that broke something once, or could: controls, bidi, surrogates, noncharacters, wide ones. */
export const NASTY = ['\u0000', '\u001b', '\u0085', '\u009b', '\u202e', '\u2066', '\u200b', '\u2028', '\ufeff', '\ufffe', '\ud800', '\udfff', 'é', 'e\u0301', '東', '🚀', '"', '\\', ' ', '\t', '\n'];
const serviceName = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.array(fc.oneof(fc.constantFrom(...NASTY), fc.string({ unit: 'grapheme', maxLength: 3 })), { maxLength: 12 }).map((a) => a.join('')),
  fc.constantFrom('orders', 'payments-eu', 'x'.repeat(200), 'x'.repeat(201)),
);

/** Number tokens as they appear in JSON text, including what JSON.parse turns into Infinity. */
export const numberToken = fc.oneof(
  fc.double().map((v) => (Number.isFinite(v) ? String(v) : '1e400')),
  fc.double({ min: 0, max: 100, noNaN: true }).map(String),
  fc.constantFrom('1e400', '-1e400', '-0', '0', '5e-324', '1e308', '1.7976931348623157e308', '100', '100.0000001', '1e-7', '12345678901234567890'),
);

const epochMs = fc.integer({ min: Date.UTC(1960, 0, 1), max: Date.UTC(2030, 0, 1) });
const timestampToken = fc.oneof(
  epochMs.map((ms) => String(ms / 1000)),
  epochMs.map(String),
  epochMs.map((ms) => `${ms}000`),
  epochMs.map((ms) => `${ms}000000`),
  fc.integer({ min: NOW / 1000 - 3_600_000, max: NOW / 1000 + 600_000 }).map((ms) => String(ms / 1000)),
  fc
    .tuple(fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }), fc.integer({ min: 0, max: 25 }), fc.integer({ min: -30, max: 30 }))
    .map(([y, mo, d, h, off]) => {
      const p2 = (n: number) => String(Math.abs(n)).padStart(2, '0');
      const zone = off === 0 ? 'Z' : `${off < 0 ? '-' : '+'}${p2(off)}:${p2(Math.abs(off * 7) % 70)}`;
      return JSON.stringify(`${String(y).padStart(4, '0')}-${p2(mo)}-${p2(d)}T${p2(h)}:30:15.123456${zone}`);
    }),
  numberToken,
  fc.string().map((s) => JSON.stringify(s)),
);

const messageText = fc
  .record({ name: serviceName, ts: timestampToken, cpu: numberToken, rt: numberToken, rf: numberToken, dt: numberToken, df: numberToken })
  .map(
    (m) =>
      `{"serviceName":${JSON.stringify(m.name)},"Timestamp":${m.ts},"CPU":${m.cpu},"RAM":{"Total":${m.rt},"Free":${m.rf}},"Disk":{"Total":${m.dt},"Free":${m.df}}}`,
  );

/** Plausible messages too, so that a good share of the inputs is accepted and goes all the way down. */
const plausible = fc
  .record({
    name: serviceName,
    tsMs: fc.integer({ min: Date.UTC(2000, 0, 1), max: NOW / 1000 }),
    cpu: fc.double({ min: 0, max: 100, noNaN: true }),
    rt: fc.double({ min: 1e-300, max: 1e300, noNaN: true }),
    freeShare: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .map((m) =>
    JSON.stringify({ serviceName: m.name, Timestamp: m.tsMs / 1000, CPU: m.cpu, RAM: { Total: m.rt, Free: m.rt * m.freeShare }, Disk: { Total: 100, Free: 100 * m.freeShare } }),
  );

export const datagram = fc.oneof(
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 400 }) },
  { weight: 1, arbitrary: fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null')) },
  { weight: 4, arbitrary: messageText.map((s) => Buffer.from(s)) },
  { weight: 8, arbitrary: plausible.map((s) => Buffer.from(s)) },
  // Legacy spellings of the same: trailing commas, Python dicts.
  { weight: 1, arbitrary: messageText.map((s) => Buffer.from(`${s.slice(0, -1)},}`)) },
  { weight: 1, arbitrary: plausible.map((s) => Buffer.from(s.replace(/"/g, "'"))) },
);

/** `n` messages the decoder accepts, from generated datagrams (deterministic for a seed). */
export function acceptedMessages(n: number, seed: number, nowUs = NOW): HealthMessage[] {
  const out: HealthMessage[] = [];
  for (const bytes of fc.sample(datagram, { numRuns: n * 20, seed })) {
    const d = decodeDatagram(bytes, nowUs, OPTS);
    if (d.ok) out.push(d.msg);
    if (out.length === n) break;
  }
  return out;
}
