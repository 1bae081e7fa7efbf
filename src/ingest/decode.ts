import { pythonDictToJson, stripTrailingCommas } from './compat.js';
import type { CompatMode, HealthMessage, RejectReason } from './message.js';
import { epochToMicros, isoToMicros } from './timestamp.js';

export interface DecodeOptions {
  /** Datagrams longer than this are refused unread. @default 8192 */
  maxBytes: number;
  /** How far ahead of `nowUs` an event time may be. @default 300_000_000 (5 minutes) */
  maxFutureUs: number;
  /** Legacy formats to accept. @default none */
  compat: ReadonlySet<CompatMode>;
}

export type Decoded =
  | { ok: true; msg: HealthMessage; compat: CompatMode | undefined }
  | { ok: false; reason: RejectReason; detail: string };

const MAX_SERVICE_LENGTH = 200;

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

function validate(v: unknown, nowUs: number, opts: DecodeOptions, compat: CompatMode | undefined): Decoded {
  if (!isObject(v)) return reject('schema', 'not a JSON object');
  const { serviceName, Timestamp, CPU, RAM, Disk } = v;
  if (typeof serviceName !== 'string') return reject('schema', 'serviceName must be a string');
  const service = serviceName.trim();
  if (service === '') return reject('schema', 'serviceName is empty');
  if (service.length > MAX_SERVICE_LENGTH) return reject('schema', `serviceName longer than ${MAX_SERVICE_LENGTH}`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(service)) return reject('schema', 'serviceName has control characters');

  let ts: number | undefined;
  if (typeof Timestamp === 'number') {
    ts = epochToMicros(Timestamp);
    if (ts === undefined) return reject('range', `Timestamp ${Timestamp} is not a positive epoch time`);
  } else if (typeof Timestamp === 'string') {
    ts = isoToMicros(Timestamp);
    if (ts === undefined) return reject('schema', 'Timestamp string must be ISO-8601 with a zone, e.g. 2026-11-27T10:00:00Z');
  } else return reject('schema', 'Timestamp must be a number (epoch) or an ISO-8601 string');
  if (ts > nowUs + opts.maxFutureUs) return reject('future', `Timestamp is ${Math.round((ts - nowUs) / 1e6)} s ahead of the receiver clock`);

  if (typeof CPU !== 'number') return reject('schema', 'CPU must be a number');
  let cpu = CPU;
  if (compat === 'course') {
    if (!(cpu >= 0 && cpu <= 1)) return reject('range', `CPU ${CPU} outside 0-1 (course format is a fraction)`);
    cpu *= 100;
  } else if (!(cpu >= 0 && cpu <= 100)) return reject('range', `CPU ${CPU} outside 0-100`);

  const ram = pair(RAM, 'RAM');
  if (!Array.isArray(ram)) return ram;
  const disk = pair(Disk, 'Disk');
  if (!Array.isArray(disk)) return disk;

  return {
    ok: true,
    compat,
    msg: { service, ts, cpu, ramTotal: ram[0], ramFree: ram[1], diskTotal: disk[0], diskFree: disk[1] },
  };
}

/** `[total, free]` of RAM or Disk, or the rejection. */
function pair(v: unknown, name: string): [number, number] | Decoded {
  if (!isObject(v)) return reject('schema', `${name} must be an object with Total and Free`);
  const { Total, Free } = v;
  if (typeof Total !== 'number' || typeof Free !== 'number') return reject('schema', `${name}.Total and ${name}.Free must be numbers`);
  if (Total <= 0) return reject('range', `${name}.Total ${Total} must be > 0`);
  if (Free < 0) return reject('range', `${name}.Free ${Free} is negative`);
  if (Free > Total) return reject('range', `${name}.Free ${Free} > Total ${Total}`);
  return [Total, Free];
}
