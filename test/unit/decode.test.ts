import test from 'ava';
import fc from 'fast-check';
import { encodeLine } from '../../src/core/master-record.js';
import { DEFAULT_MIN_TIMESTAMP_US, type DecodeOptions, type Decoded, decodeDatagram, decodeGeneric, decodeText } from '../../src/ingest/decode.js';
import type { CompatMode, RejectReason } from '../../src/core/message.js';
import { epochToMicros, isoToMicros, microsToIso } from '../../src/core/time.js';

const NOW = Date.UTC(2026, 10, 27, 12, 0, 0) * 1000;
const opts = (compat: CompatMode[] = []): DecodeOptions => ({ maxBytes: 8192, maxFutureUs: 300e6, minTimestampUs: DEFAULT_MIN_TIMESTAMP_US, compat: new Set(compat) });
const good = { serviceName: 'orders', Timestamp: NOW / 1e6 - 10, CPU: 42.5, RAM: { Total: 32, Free: 12.5 }, Disk: { Total: 512, Free: 210.3 } };
const decode = (v: unknown, o = opts()) => decodeText(typeof v === 'string' ? v : JSON.stringify(v), NOW, o);

test('a valid message decodes to microseconds and the same numbers', (t) => {
  const d = decode(good);
  if (!d.ok) return t.fail(d.detail);
  t.deepEqual(d.msg, { service: 'orders', ts: NOW - 10e6, cpu: 42.5, ramTotal: 32, ramFree: 12.5, diskTotal: 512, diskFree: 210.3 });
  t.is(d.compat, undefined);
});

test('timestamp units are told apart by magnitude', (t) => {
  const us = Date.UTC(2026, 10, 27, 11, 59, 0) * 1000 + 123;
  t.is(epochToMicros(us / 1e6), us);
  t.is(epochToMicros(Math.floor(us / 1000)), Math.floor(us / 1000) * 1000);
  t.is(epochToMicros(us), us);
  t.is(epochToMicros(us * 1000), us);
  t.is(epochToMicros(0), undefined);
  t.is(epochToMicros(-5), undefined);
  t.is(epochToMicros(Number.NaN), undefined);
});

test('ISO-8601 with a zone is accepted to the microsecond; without a zone or invalid dates are refused', (t) => {
  t.is(isoToMicros('2026-11-27T11:59:00.123456Z'), Date.UTC(2026, 10, 27, 11, 59, 0) * 1000 + 123456);
  t.is(isoToMicros('2026-11-27T13:59:00+02:00'), Date.UTC(2026, 10, 27, 11, 59, 0) * 1000);
  t.is(isoToMicros('2026-11-27T11:59:00'), undefined);
  t.is(isoToMicros('2026-02-30T11:59:00Z'), undefined);
  t.is(microsToIso(Date.UTC(2026, 10, 27) * 1000 + 5), '2026-11-27T00:00:00.000005Z');
  const d = decode({ ...good, Timestamp: '2026-11-27T11:59:00.5Z' });
  t.true(d.ok && d.msg.ts === Date.UTC(2026, 10, 27, 11, 59, 0) * 1000 + 500000);
});

const rejects: [RejectReason, unknown, string][] = [
  ['malformed_json', '{"serviceName": "a",', 'not JSON'],
  ['schema', [1, 2], 'an array'],
  ['schema', { ...good, serviceName: 7 }, 'numeric service name'],
  ['schema', { ...good, serviceName: '   ' }, 'empty service name'],
  ['schema', { ...good, CPU: '42.5' }, 'CPU as a string (no coercion)'],
  ['schema', { ...good, RAM: { Total: '32', Free: 1 } }, 'RAM total as a string'],
  ['schema', { ...good, Disk: undefined }, 'Disk missing'],
  ['schema', { ...good, Timestamp: '1764273214' }, 'numeric string timestamp'],
  ['schema', { ...good, Timestamp: '2026-11-27T11:59:00' }, 'ISO without zone'],
  ['range', { ...good, CPU: 100.5 }, 'CPU over 100'],
  ['range', { ...good, CPU: -1 }, 'CPU negative'],
  ['range', { ...good, RAM: { Total: 8, Free: 9 } }, 'Free > Total'],
  ['range', { ...good, RAM: { Total: 0, Free: 0 } }, 'Total 0'],
  ['range', { ...good, Disk: { Total: 10, Free: -1 } }, 'Free negative'],
  ['range', { ...good, Timestamp: -1 }, 'negative time'],
  ['range', { ...good, Timestamp: Date.UTC(1969, 11, 31, 23, 59, 30) / 1000 }, 'before 1970'],
  ['range', { ...good, Timestamp: Date.UTC(1999, 11, 31, 23, 59, 59) / 1000 }, 'before the 2000-01-01 floor'],
  ['range', { ...good, Timestamp: '0050-06-01T00:00:00Z' }, 'ISO year 0050 (not 1950)'],
  ['schema', { ...good, Timestamp: '2026-11-27T11:59:00+99:99' }, 'ISO offset +99:99'],
  ['schema', { ...good, Timestamp: '2026-11-27T24:00:00Z' }, 'ISO hour 24'],
  ['schema', { ...good, Timestamp: '26-11-27T11:59:00Z' }, 'ISO two-digit year'],
  ['schema', { ...good, serviceName: 'x\ud800' }, 'a lone surrogate in the service name'],
  ['schema', { ...good, serviceName: 'a\u0085b' }, 'a C1 control (NEL) in the service name'],
  ['schema', { ...good, serviceName: 'a\u009b31mb' }, 'a C1 CSI in the service name'],
  ['schema', { ...good, serviceName: 'a\u001b[31mb' }, 'an ESC in the service name'],
  ['schema', { ...good, serviceName: 'abc\u202edcba' }, 'a bidi override in the service name'],
  ['schema', { ...good, serviceName: 'abc\u2066x\u2069' }, 'a bidi isolate in the service name'],
  ['schema', { ...good, serviceName: 'zero\u200bwidth' }, 'a zero-width space in the service name'],
  ['schema', { ...good, serviceName: 'line\u2028sep' }, 'a line separator in the service name'],
  ['schema', { ...good, serviceName: 'non\ufffechar' }, 'a noncharacter in the service name'],
  ['schema', { ...good, serviceName: 'x'.repeat(201) }, 'a service name over 200 characters'],
  ['future', { ...good, Timestamp: NOW / 1e6 + 301 }, 'more than 5 minutes ahead'],
];

// Non-finite numbers: JSON.parse reads 1e400 as Infinity, which passes typeof checks.
const base = '{"serviceName":"orders","Timestamp":$TS,"CPU":$CPU,"RAM":{"Total":$RT,"Free":$RF},"Disk":{"Total":$DT,"Free":$DF}}';
const text = (over: Record<string, string>) =>
  Object.entries({ TS: String(NOW / 1e6 - 10), CPU: '42.5', RT: '32', RF: '12.5', DT: '512', DF: '210.3', ...over }).reduce((s, [k, v]) => s.replace(`$${k}`, v), base);
for (const field of ['TS', 'CPU', 'RT', 'RF', 'DT', 'DF']) {
  for (const v of ['1e400', '-1e400']) {
    test(`rejected as range: ${v} (Infinity) in ${field}`, (t) => {
      const d = decode(text({ [field]: v }));
      t.false(d.ok);
      if (!d.ok) t.is(d.reason, 'range', d.detail);
    });
  }
}

test('a service name is trimmed and NFC-normalised: two spellings of one name are one service', (t) => {
  const composed = decode({ ...good, serviceName: ' caf\u00e9 ' });
  const decomposed = decode({ ...good, serviceName: 'cafe\u0301' });
  t.true(composed.ok && decomposed.ok);
  if (composed.ok && decomposed.ok) {
    t.is(composed.msg.service, 'café');
    t.is(decomposed.msg.service, composed.msg.service);
  }
  const wide = decode({ ...good, serviceName: '東京-🚀-ünï' });
  t.true(wide.ok, 'letters, symbols and emoji of any script are fine');
});

test('ISO-8601 years 0000-0099 are those years, offsets are checked, and the floor is configurable', (t) => {
  const d50 = new Date(isoToMicros('0050-06-01T00:00:00Z')! / 1000);
  t.is(d50.getUTCFullYear(), 50);
  t.is(isoToMicros('2026-11-27T13:59:00+23:59'), Date.UTC(2026, 10, 27, 11, 59, 0) * 1000 - (23 * 60 + 59 - 120) * 60e6);
  t.is(isoToMicros('2026-11-27T13:59:00+24:00'), undefined);
  t.is(isoToMicros('2026-11-27T13:59:00+02:60'), undefined);
  const old = { ...good, Timestamp: '1990-01-01T00:00:00Z' };
  t.false(decode(old).ok);
  t.true(decode(old, { ...opts(), minTimestampUs: 0 }).ok);
});

for (const [reason, value, why] of rejects) {
  test(`rejected as ${reason}: ${why}`, (t) => {
    const d = decode(value);
    t.false(d.ok);
    if (!d.ok) {
      t.is(d.reason, reason);
      t.true(d.detail.length > 0);
    }
  });
}

test('a timestamp just inside the skew is accepted', (t) => {
  t.true(decode({ ...good, Timestamp: NOW / 1e6 + 299 }).ok);
});

test('datagrams over the size limit are refused unread', (t) => {
  const big = Buffer.from(JSON.stringify({ ...good, pad: 'x'.repeat(9000) }));
  const d = decodeDatagram(big, NOW, opts());
  t.true(!d.ok && d.reason === 'too_large');
  t.true(decodeDatagram(Buffer.from(JSON.stringify(good)), NOW, opts()).ok);
});

const seedText = `{
    "serviceName": "legacy",
    "Timestamp": ${(NOW - 5e6) * 1000},
    "CPU": 0.125,
    "RAM": {"Total": 16, "Free": 4,},
    "Disk": {"Total": 100, "Free": 50},
},`;

test('seed client format (multi-line, trailing commas, nanoseconds) only with compat "seed", counted as such', (t) => {
  const off = decode(seedText);
  t.true(!off.ok && off.reason === 'malformed_json' && off.detail.includes('seed'));
  const on = decode(seedText, opts(['seed']));
  if (!on.ok) return t.fail(on.detail);
  t.is(on.compat, 'seed');
  t.is(on.msg.ts, NOW - 5e6);
  t.is(on.msg.cpu, 12.5, "the seed's client sends CPU as random.random(): a fraction, stored as percent");
  t.is(on.msg.ramFree, 4);
  const percent = decode(seedText.replace('"CPU": 0.125', '"CPU": 12.5'), opts(['seed']));
  t.true(!percent.ok && percent.reason === 'range' && percent.detail.includes('seed format is a fraction'));
  // A string containing ",}" is data, not a trailing comma.
  const tricky = decode(seedText.replace('"legacy"', '"a,}b"'), opts(['seed']));
  t.true(tricky.ok && tricky.msg.service === 'a,}b');
});

/** A seed-client datagram for CPU text `f`, laid out as the seed writes it (indented lines, trailing commas). */
const seedDatagram = (f: string) =>
  `{\n    "serviceName": "legacy",\n    "Timestamp": ${(NOW - 5e6) * 1000},\n    "CPU": ${f},\n    "RAM": {"Total": 16, "Free": 4,},\n    "Disk": {"Total": 100, "Free": 50},\n},`;

/** `text` (a decimal in 0-1 as a sender writes it) times 100, by moving the point in the text: no arithmetic. */
function shiftedTwoPlaces(text: string): number {
  const [whole, fraction = ''] = text.split('.');
  const digits = fraction.padEnd(2, '0');
  return Number(`${whole}${digits.slice(0, 2)}.${digits.slice(2) || '0'}`);
}

test('property: a seed-format datagram with CPU fraction f is stored as 100f, digit for digit, for any f in 0-1', (t) => {
  // As decimals a sender writes (Python's repr of random.random() has up to 17 significant digits), and any double in 0-1.
  const decimal = fc.oneof(
    fc.stringMatching(/^0\.[0-9]{1,17}$/),
    fc.constantFrom('0', '1', '0.0', '1.0', '0.07', '0.29', '0.57', '0.999999999999999', '0.000001'),
  );
  fc.assert(
    fc.property(decimal, (f) => {
      const d = decode(seedDatagram(f), opts(['seed']));
      if (!d.ok) return t.fail(`${f}: ${d.detail}`);
      t.is(d.compat, 'seed');
      t.is(d.msg.cpu, shiftedTwoPlaces(f), f);
    }),
    { numRuns: 5000 },
  );
  fc.assert(
    // Normal doubles (and 0): subnormal fractions, far below any CPU a sender reports, round in ways this bound does not model.
    fc.property(fc.oneof(fc.constant(0), fc.double({ min: 2.2250738585072014e-308, max: 1, noNaN: true })), (f) => {
      const d = decode(seedDatagram(String(f)), opts(['seed']));
      if (!d.ok) return t.fail(`${f}: ${d.detail}`);
      // 100 times f's shortest decimal, which is within half an ulp of f: a few roundings from 100f at most
      t.true(Math.abs(d.msg.cpu - 100 * f) <= 2 * 100 * f * Number.EPSILON, `${f} -> ${d.msg.cpu}`);
    }),
    { numRuns: 5000 },
  );
});

const courseText = `{'serviceName': "o'hare", 'Timestamp': ${NOW / 1e6 - 1}, 'CPU': 0.25, 'RAM': {'Total': 8, 'Free': 2}, 'Disk': {'Total': 100, 'Free': 10}}`;

test('course dataset format (Python dict, CPU fraction) only with compat "course"', (t) => {
  const off = decode(courseText);
  t.true(!off.ok && off.reason === 'malformed_json' && off.detail.includes('course'));
  const on = decode(courseText, opts(['course']));
  if (!on.ok) return t.fail(on.detail);
  t.is(on.compat, 'course');
  t.is(on.msg.cpu, 25);
  t.is(on.msg.service, "o'hare");
  const over = decode(courseText.replace("'CPU': 0.25", "'CPU': 25"), opts(['course']));
  t.true(!over.ok && over.reason === 'range');
});

test('strict JSON stays strict when compat modes are on', (t) => {
  const d = decode(good, opts(['seed', 'course']));
  t.true(d.ok && d.compat === undefined && d.msg.cpu === 42.5);
});

/** A number as some sender might write it: JSON or not, canonical or not (trailing zeros, exponents, signs, long). */
const numberText = fc.oneof(
  fc.double({ noNaN: true }).map(String),
  fc.integer({ min: 0, max: 600 }).map(String),
  fc.tuple(fc.integer({ min: 0, max: 999 }), fc.stringMatching(/^[0-9]{1,8}$/)).map(([i, f]) => `${i}.${f}`),
  fc.tuple(fc.stringMatching(/^-?(0|[1-9][0-9]{0,20})$/), fc.stringMatching(/^(\.[0-9]{1,20})?$/), fc.stringMatching(/^([eE][+-]?[0-9]{1,3})?$/)).map(([i, f, e]) => i + f + e),
  fc.constantFrom('0', '-0', '0.0', '00', '01', '.5', '5.', '1e', '+1', '0x10', 'Infinity', 'NaN', '1e400', '0.000001', '0.0000001', '100.000', '1.7976931348623157e308', '9007199254740993', '123456789012345.6'),
);
const nameText = fc.oneof(
  fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/).map((s) => JSON.stringify(s)),
  fc.string({ maxLength: 12 }).map((s) => JSON.stringify(s)),
  fc.string({ unit: 'binary', maxLength: 8 }).map((s) => JSON.stringify(s)),
  fc.constantFrom('" padded "', '""', '"a\\u0041"', '"tab\\there"', '"x\\"y"', '123', 'null'),
);
const timeText = fc.oneof(
  fc.integer({ min: (NOW - 86_400e6) / 1e6, max: NOW / 1e6 + 100 }).map(String),
  fc.double({ min: NOW / 1e6 - 86_400, max: NOW / 1e6 + 400, noNaN: true }).map(String),
  fc.constantFrom(String(NOW / 1000), String(NOW), '"2026-11-27T11:00:00Z"', '-5', '0', '1e400'),
);
const space = fc.constantFrom('', '', '', ' ', '\n', ' \t');

/** What a well-behaved sender writes: in range, mostly as JavaScript or C's printf would print it. */
const small = fc.oneof(
  fc.double({ min: 0, max: 100, noNaN: true }).map(String),
  fc.tuple(fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 99 })).map(([i, f]) => `${i}.${String(f).padStart(2, '0')}`),
  fc.integer({ min: 0, max: 100 }).map(String),
);
const wellBehaved = fc.record({
  name: fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/).map((s) => JSON.stringify(s)),
  ts: timeText,
  cpu: small,
  rt: fc.constantFrom('100', '512', '1000.5'),
  rf: small,
  dt: fc.constantFrom('100', '512', '1000.5'),
  df: small,
  ws: fc.constant(''),
  reorder: fc.constant(false),
});
const anything = fc.record({ name: nameText, ts: timeText, cpu: numberText, rt: numberText, rf: numberText, dt: numberText, df: numberText, ws: space, reorder: fc.boolean() });

/** Canonical layout (most senders), whitespace between tokens, or the keys in another order. */
const datagram = fc
  .oneof(wellBehaved, anything)
  .map(({ name, ts, cpu, rt, rf, dt, df, ws, reorder }) => {
    const fields = [`"serviceName":${ws}${name}`, `"Timestamp":${ws}${ts}`, `"CPU":${cpu}`, `"RAM":{"Total":${rt},${ws}"Free":${rf}}`, `"Disk":{"Total":${dt},"Free":${df}}`];
    if (reorder) fields.reverse();
    return `${ws}{${fields.join(`,${ws}`)}}${ws}`;
  });

test('property: the canonical fast path decides every datagram exactly as JSON.parse would, and writes the same segment line', (t) => {
  let fast = 0;
  fc.assert(
    fc.property(datagram, (text) => {
      const d = decodeText(text, NOW, opts());
      const g = decodeGeneric(text, NOW, opts());
      const { texts, ...rest } = d as Extract<Decoded, { ok: true }>;
      if (!g.ok || !d.ok) return t.deepEqual(d, g, text);
      const { texts: none, ...generic } = g;
      t.is(none, null);
      t.deepEqual(rest, generic, text);
      if (texts) fast++;
      t.is(encodeLine(d.msg, NOW, texts), encodeLine(g.msg, NOW), text);
    }),
    { numRuns: 20_000 },
  );
  t.log(`${fast} of 20,000 took the fast path`);
  t.true(fast > 5000, `only ${fast} datagrams took the fast path`);
});

test('the fast path reuses the received text only where it is how JavaScript prints the number', (t) => {
  const d = decodeText(
    '{"serviceName":"orders","Timestamp":1795000000.5,"CPU":42.50,"RAM":{"Total":32,"Free":0.000001},"Disk":{"Total":5e2,"Free":0.0000001}}',
    NOW,
    opts(),
  );
  if (!d.ok) return t.fail(d.detail);
  t.deepEqual(d.texts, ['', '32', '0.000001', '', '']);
  t.is(encodeLine(d.msg, 7, d.texts), '{"service":"orders","ts":1795000000500000,"cpu":42.5,"ram_total":32,"ram_free":0.000001,"disk_total":500,"disk_free":1e-7,"recv":7}\n');
  t.is(decodeText(JSON.stringify(good).replace('"orders"', '"ord\\u0065rs"'), NOW, opts()).ok && 'generic', 'generic');
});

test('past --retention-raw a message is expired: its hour has left the master dataset', (t) => {
  const day = 86_400e6;
  const o = { ...opts(), maxAgeUs: 30 * day };
  const at = (us: number) => decodeText(JSON.stringify({ serviceName: 'orders', Timestamp: us / 1e6, CPU: 1, RAM: { Total: 1, Free: 1 }, Disk: { Total: 1, Free: 1 } }), NOW, o);
  const old = at(NOW - 30 * day - 1e6);
  t.false(old.ok);
  if (!old.ok) {
    t.is(old.reason, 'expired');
    t.regex(old.detail, /older than --retention-raw \(30d\)/);
  }
  t.true(at(NOW - 30 * day).ok, 'the boundary itself is kept');
  t.true(decodeText(JSON.stringify({ serviceName: 'orders', Timestamp: 0.001 + (NOW - 300 * day) / 1e6, CPU: 1, RAM: { Total: 1, Free: 1 }, Disk: { Total: 1, Free: 1 } }), NOW, opts()).ok, 'no limit unless asked');
});
