import { CONTROL, LONE_SURROGATE, MAX_TIME_US, valuesProblem } from '../../jobs/mapreduce/task/record.mjs';
import { pythonDictToJson, stripTrailingCommas } from './compat.js';
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
}

export type Decoded =
  | { ok: true; msg: HealthMessage; compat: CompatMode | undefined }
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

function validate(v: unknown, nowUs: number, opts: DecodeOptions, compat: CompatMode | undefined): Decoded {
  if (!isObject(v)) return reject('schema', 'not a JSON object');
  const { serviceName: name, Timestamp, CPU, RAM, Disk } = v;
  const service = serviceName(name);
  if (typeof service !== 'string') return service;

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
  if (ts > MAX_TIME_US) return reject('range', `Timestamp is beyond ${microsToIso(MAX_TIME_US)}`);

  if (typeof CPU !== 'number') return reject('schema', 'CPU must be a number');
  let cpu = CPU;
  if (compat === 'course') {
    if (!(cpu >= 0 && cpu <= 1)) return reject('range', `CPU ${CPU} outside 0-1 (course format is a fraction)`);
    cpu *= 100;
  }
  const ram = pair(RAM, 'RAM');
  if (!Array.isArray(ram)) return ram;
  const disk = pair(Disk, 'Disk');
  if (!Array.isArray(disk)) return disk;
  // JSON.parse gives Infinity for 1e400: every number must be finite, or no layer downstream can carry it.
  const problem = valuesProblem(cpu, ram[0], ram[1], disk[0], disk[1]);
  if (problem) return reject('range', problem);

  return {
    ok: true,
    compat,
    msg: { service, ts, cpu, ramTotal: ram[0], ramFree: ram[1], diskTotal: disk[0], diskFree: disk[1] },
  };
}

/** `[total, free]` of RAM or Disk (checked for range with the CPU), or the rejection. */
function pair(v: unknown, name: string): [number, number] | Decoded {
  if (!isObject(v)) return reject('schema', `${name} must be an object with Total and Free`);
  const { Total, Free } = v;
  if (typeof Total !== 'number' || typeof Free !== 'number') return reject('schema', `${name}.Total and ${name}.Free must be numbers`);
  return [Total, Free];
}
