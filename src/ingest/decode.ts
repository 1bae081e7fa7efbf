import { CONTROL, LONE_SURROGATE, MAX_TIME_US, valuesProblem } from '../../jobs/mapreduce/task/record.mjs';
import { pythonDictToJson, stripTrailingCommas } from './compat.js';
import type { ReceivedTexts } from '../core/master-record.js';
import type { CompatMode, HealthMessage, RejectReason } from '../core/message.js';
import { epochToMicros, isoToMicros, microsToIso } from '../core/time.js';

export interface DecodeOptions {
  /** Datagrams longer than this are refused unread. @default 8192 */
  maxBytes: number;
  /** How far ahead of `nowUs` an event time may be. @default 300_000_000 (5 minutes) */
  maxFutureUs: number;
  /** Legacy formats to accept. @default none */
  compat: ReadonlySet<CompatMode>;
  /** Event times before this are refused (range), epoch microseconds. @default 2000-01-01T00:00:00Z */
  minTimestampUs: number;
  /**
   * Event times older than this before `nowUs` are refused (expired): their hour has left, or is about to leave,
   * the master dataset (--retention-raw). @default no limit
   */
  maxAgeUs?: number;
}

export type Decoded =
  | {
      ok: true;
      msg: HealthMessage;
      compat: CompatMode | undefined;
      /** The numbers' text as received, for `encodeLine`, when the datagram took the canonical path; else null. */
      texts: ReceivedTexts | null;
    }
  | { ok: false; reason: RejectReason; detail: string };

const MAX_SERVICE_LENGTH = 200;

/** The default floor of event times: 2000-01-01T00:00:00Z. */
export const DEFAULT_MIN_TIMESTAMP_US = Date.UTC(2000, 0, 1) * 1000;

const reject = (reason: RejectReason, detail: string): Decoded => ({ ok: false, reason, detail });

/** Decodes one datagram. Never throws: a bad datagram is data, returned as a reason. */
export function decodeDatagram(buf: Uint8Array, nowUs: number, opts: DecodeOptions): Decoded {
  if (buf.length > opts.maxBytes) return reject('too_large', `${buf.length} bytes > limit ${opts.maxBytes}`);
  return decodeText(Buffer.from(buf.buffer, buf.byteOffset, buf.length).toString('utf8'), nowUs, opts);
}

export function decodeText(text: string, nowUs: number, opts: DecodeOptions): Decoded {
  const c = scanCanonical(text);
  if (c) {
    const service = serviceName(c.name);
    if (typeof service !== 'string') return service;
    const ts = eventTime(c.ts, nowUs, opts);
    if (typeof ts !== 'number') return ts;
    return checked(service, ts, c.values, undefined, c.texts);
  }
  return decodeGeneric(text, nowUs, opts);
}

/** The decoder without its canonical fast path: what the fast path must agree with (a property test holds them together). */
export function decodeGeneric(text: string, nowUs: number, opts: DecodeOptions): Decoded {
  let value: unknown;
  let compat: CompatMode | undefined;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const parsed = parseLegacy(text, opts.compat);
    if (!parsed) return reject('malformed_json', legacyHint(text, opts.compat) ?? (err as Error).message);
    ({ value, compat } = parsed);
  }
  return validate(value, nowUs, opts, compat);
}

function parseLegacy(text: string, modes: ReadonlySet<CompatMode>): { value: unknown; compat: CompatMode } | undefined {
  for (const mode of modes) {
    try {
      return { value: JSON.parse(mode === 'seed' ? stripTrailingCommas(text) : pythonDictToJson(text)), compat: mode };
    } catch {
      // try the next mode
    }
  }
  return undefined;
}

/** Tells the operator which setting would accept a legacy datagram instead of a bare parse error. */
function legacyHint(text: string, modes: ReadonlySet<CompatMode>): string | undefined {
  if (!modes.has('course') && text.trimStart().startsWith("{'")) return 'Python dict text; enable compat mode "course" to accept it';
  if (!modes.has('seed') && /,\s*[}\]]|,\s*$/.test(text)) return 'trailing comma; enable compat mode "seed" to accept it';
  return undefined;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Characters a service name may not hold, beyond controls: format characters (Cf: bidi overrides and
 * isolates, zero-width characters, the BOM), unassigned code points and noncharacters (Cn), and the line and
 * paragraph separators (Zl, Zp). Each could make a terminal or a log show something other than the name.
 */
const INVISIBLE = /[\p{Cf}\p{Cn}\p{Zl}\p{Zp}]/u;

const codePoint = (c: string) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** The service name as stored (trimmed, NFC: two spellings of one name are one service), or the rejection. */
function serviceName(v: unknown): string | Decoded {
  if (typeof v !== 'string') return reject('schema', 'serviceName must be a string');
  // The common case, and a cheap one: printable ASCII is NFC already and holds nothing to refuse.
  const ascii = PRINTABLE_ASCII.test(v);
  if (!ascii && LONE_SURROGATE.test(v)) return reject('schema', 'serviceName is not well-formed Unicode (a lone surrogate)');
  const service = ascii ? v.trim() : v.trim().normalize('NFC');
  if (service === '') return reject('schema', 'serviceName is empty');
  if (service.length > MAX_SERVICE_LENGTH) return reject('schema', `serviceName longer than ${MAX_SERVICE_LENGTH}`);
  if (ascii) return service;
  const control = CONTROL.exec(service);
  if (control) return reject('schema', `serviceName has control characters (${codePoint(control[0])})`);
  const invisible = INVISIBLE.exec(service);
  if (invisible) return reject('schema', `serviceName has an invisible, formatting or unassigned character (${codePoint(invisible[0])})`);
  return service;
}

/** Why the decoder would refuse `name` as a service name, or undefined: for a sender to check its own name at start. */
export function serviceNameProblem(name: string): string | undefined {
  const checked = serviceName(name);
  return typeof checked === 'string' || checked.ok ? undefined : checked.detail;
}

function validate(v: unknown, nowUs: number, opts: DecodeOptions, compat: CompatMode | undefined): Decoded {
  if (!isObject(v)) return reject('schema', 'not a JSON object');
  const { serviceName: name, Timestamp, CPU, RAM, Disk } = v;
  const service = serviceName(name);
  if (typeof service !== 'string') return service;

  const ts = eventTime(Timestamp, nowUs, opts);
  if (typeof ts !== 'number') return ts;

  if (typeof CPU !== 'number') return reject('schema', 'CPU must be a number');
  let cpu = CPU;
  // Both legacy senders write CPU as a 0-1 fraction: the seed's client sends random.random(), the course dataset the same.
  if (compat !== undefined) {
    if (!(cpu >= 0 && cpu <= 1)) return reject('range', `CPU ${CPU} outside 0-1 (the ${compat} format is a fraction)`);
    cpu = fractionToPercent(cpu);
  }
  const ram = pair(RAM, 'RAM');
  if (!Array.isArray(ram)) return ram;
  const disk = pair(Disk, 'Disk');
  if (!Array.isArray(disk)) return disk;
  return checked(service, ts, [cpu, ram[0], ram[1], disk[0], disk[1]], compat, null);
}

/**
 * 100 × a fraction, as decimals: the fraction's shortest text with its point moved two places, read back. So
 * 0.07 is stored as 7, not 7.000000000000001 (0.07 * 100), and every digit the sender wrote is kept.
 */
export function fractionToPercent(f: number): number {
  const [digits, exponent = '0'] = String(f).split('e');
  return Number(`${digits}e${Number(exponent) + 2}`);
}

/** The event time in epoch µs, or the rejection. */
function eventTime(Timestamp: unknown, nowUs: number, opts: DecodeOptions): number | Decoded {
  let ts: number | undefined;
  if (typeof Timestamp === 'number') {
    ts = epochToMicros(Timestamp);
    if (ts === undefined) return reject('range', `Timestamp ${Timestamp} is not a positive epoch time`);
  } else if (typeof Timestamp === 'string') {
    ts = isoToMicros(Timestamp);
    if (ts === undefined) return reject('schema', 'Timestamp string must be ISO-8601 with a zone, e.g. 2026-11-27T10:00:00Z');
  } else return reject('schema', 'Timestamp must be a number (epoch) or an ISO-8601 string');
  if (ts < opts.minTimestampUs) return reject('range', `Timestamp ${microsToIso(ts)} is before --min-timestamp ${microsToIso(opts.minTimestampUs)}`);
  if (ts > nowUs + opts.maxFutureUs) return reject('future', `Timestamp is ${Math.round((ts - nowUs) / 1e6)} s ahead of the receiver clock`);
  if (opts.maxAgeUs !== undefined && ts < nowUs - opts.maxAgeUs) {
    return reject('expired', `Timestamp ${microsToIso(ts)} is older than --retention-raw (${Math.round(opts.maxAgeUs / 864e8)}d): past what the master dataset keeps`);
  }
  if (ts > MAX_TIME_US) return reject('range', `Timestamp is beyond ${microsToIso(MAX_TIME_US)}`);
  return ts;
}

/** The last check, of the values together: cpu, RAM total and free, disk total and free. */
function checked(service: string, ts: number, v: readonly number[], compat: CompatMode | undefined, texts: ReceivedTexts | null): Decoded {
  // JSON.parse gives Infinity for 1e400: every number must be finite, or no layer downstream can carry it.
  const problem = valuesProblem(v[0], v[1], v[2], v[3], v[4]);
  if (problem) return reject('range', problem);
  return { ok: true, compat, texts, msg: { service, ts, cpu: v[0], ramTotal: v[1], ramFree: v[2], diskTotal: v[3], diskFree: v[4] } };
}

/**
 * The canonical fast path. Nearly every datagram is a JSON object with exactly these keys in this order
 * (whitespace between tokens allowed), a service name of printable ASCII without escapes, and a number
 * for the time:
 *   {"serviceName":"...","Timestamp":N,"CPU":N,"RAM":{"Total":N,"Free":N},"Disk":{"Total":N,"Free":N}}
 * Such a datagram is read here in one pass, without JSON.parse building objects; anything else (other
 * keys or order, escapes, an ISO time, a token JSON would refuse) returns undefined and goes the generic
 * way, which then decides. A number is read by Number() on a token that JSON's grammar accepts, which gives
 * the same double JSON.parse would. Its text is kept when it is already how JavaScript prints that double,
 * so the segment line reuses it instead of printing the number again.
 */
interface Canonical {
  name: string;
  ts: number;
  /** cpu, RAM total, RAM free, disk total, disk free. */
  values: number[];
  texts: ReceivedTexts;
}

let src = '';
let at = 0;

const isSpace = (c: number) => c === 32 || c === 10 || c === 13 || c === 9;

function literal(l: string): boolean {
  while (at < src.length && isSpace(src.charCodeAt(at))) at++;
  if (!src.startsWith(l, at)) return false;
  at += l.length;
  return true;
}

/** A string of printable ASCII without escapes, its text; undefined otherwise. */
function plainString(): string | undefined {
  if (!literal('"')) return undefined;
  const start = at;
  for (; at < src.length; at++) {
    const c = src.charCodeAt(at);
    if (c === 34) return src.slice(start, at++);
    if (c < 0x20 || c > 0x7e || c === 92) return undefined;
  }
  return undefined;
}

/** Digits a decimal may have and still be the text JavaScript prints for its double (DBL_DIG). */
const ROUND_TRIP_DIGITS = 15;

let tokenText = '';

/**
 * A JSON number token, its value; NaN when the token is not JSON. `tokenText` is its text when that is
 * exactly what String(value) gives, '' when not: no sign, exponent or trailing fractional zero, at most 15
 * significant digits, and not below 1e-6 (printed with an exponent).
 */
function number(): number {
  const start = at;
  let canonical = true;
  if (src.charCodeAt(at) === 45) {
    at++;
    canonical = false;
  }
  // The digits as an integer (exact below 2^53: at most 15 significant digits when canonical).
  let mantissa = 0;
  let significant = 0;
  let c = src.charCodeAt(at);
  if (c === 48) c = src.charCodeAt(++at);
  else if (c >= 49 && c <= 57) {
    do {
      mantissa = mantissa * 10 + (c - 48);
      significant++;
      c = src.charCodeAt(++at);
    } while (c >= 48 && c <= 57);
  } else return Number.NaN;
  let fraction = 0;
  if (c === 46) {
    c = src.charCodeAt(++at);
    if (!(c >= 48 && c <= 57)) return Number.NaN;
    do {
      mantissa = mantissa * 10 + (c - 48);
      if (significant > 0 || c !== 48) significant++;
      fraction++;
      c = src.charCodeAt(++at);
    } while (c >= 48 && c <= 57);
    // A trailing zero is not printed; below 1e-6 JavaScript prints an exponent.
    if (src.charCodeAt(at - 1) === 48 || (mantissa > 0 && mantissa < 10 ** (fraction - 6))) canonical = false;
  }
  if (c === 101 || c === 69) {
    canonical = false;
    c = src.charCodeAt(++at);
    if (c === 43 || c === 45) c = src.charCodeAt(++at);
    if (!(c >= 48 && c <= 57)) return Number.NaN;
    do c = src.charCodeAt(++at);
    while (c >= 48 && c <= 57);
  }
  if (canonical && significant <= ROUND_TRIP_DIGITS) {
    tokenText = src.slice(start, at);
    // Both exact doubles, so one division rounds correctly: the double JSON.parse gives (Clinger's fast path).
    return fraction === 0 ? mantissa : mantissa / 10 ** fraction;
  }
  tokenText = '';
  return Number(src.slice(start, at));
}

const FIELDS = [',"CPU":', ',"RAM":{"Total":', ',"Free":', '},"Disk":{"Total":', ',"Free":'];

function scanCanonical(text: string): Canonical | undefined {
  src = text;
  at = 0;
  if (!literal('{"serviceName":')) return undefined;
  const name = plainString();
  if (name === undefined || !literal(',"Timestamp":')) return undefined;
  const ts = number();
  if (Number.isNaN(ts)) return undefined;
  const values = new Array<number>(5);
  const texts = new Array<string>(5);
  for (let i = 0; i < 5; i++) {
    if (!literal(FIELDS[i])) return undefined;
    const v = number();
    if (Number.isNaN(v)) return undefined;
    values[i] = v;
    texts[i] = tokenText;
  }
  if (!literal('}}')) return undefined;
  while (at < src.length && isSpace(src.charCodeAt(at))) at++;
  if (at !== src.length) return undefined;
  return { name, ts, values, texts };
}

/** `[total, free]` of RAM or Disk (checked for range with the CPU), or the rejection. */
function pair(v: unknown, name: string): [number, number] | Decoded {
  if (!isObject(v)) return reject('schema', `${name} must be an object with Total and Free`);
  const { Total, Free } = v;
  if (typeof Total !== 'number' || typeof Free !== 'number') return reject('schema', `${name}.Total and ${name}.Free must be numbers`);
  return [Total, Free];
}
