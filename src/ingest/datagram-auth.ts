/**
 * Authenticated datagrams: the keys file (`--auth-keys`) and the verifier, which runs on every datagram
 * before it is decoded. The wire format is described, and signed, in src/core/sign.ts.
 */
import { createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/settings.js';
import type { AuthRejectReason } from '../core/message.js';
import { compileGlob, globProblem } from '../core/glob.js';
import {
  HMAC_BYTES,
  hmacOf,
  isKeyIdChar,
  isNonceChar,
  KEY_ID_MAX_LENGTH,
  keyIdProblem,
  NONCE_MAX_LENGTH,
  NONCE_MIN_LENGTH,
  SIGNED_PREFIX,
} from '../core/sign.js';

/** One key of the keys file. It is a SigningKey too: the mock sender signs with it. */
export interface AuthKey {
  readonly id: string;
  /** The secret's bytes (hex-decoded from the file) as a KeyObject: the HMAC key, set up once, not per datagram. */
  readonly secret: KeyObject;
  /** The `services` globs as written; null: any service. */
  readonly services: readonly string[] | null;
  /** May this key send for `service`? */
  readonly allows: (service: string) => boolean;
}

/** The key a datagram was verified with, as the rest of ingest sees it: no secret. */
export type VerifiedKey = Pick<AuthKey, 'id' | 'services' | 'allows'>;

export interface AuthKeys {
  /** The file the keys came from, for messages. */
  readonly source: string;
  readonly byId: ReadonlyMap<string, AuthKey>;
}

const MIN_SECRET_HEX_DIGITS = 64;
const KEY_FIELDS = ['id', 'secret', 'services'];
const HEX = /^[0-9a-fA-F]*$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads and validates a keys file. Throws ConfigError naming the file (and the key at fault). */
export function loadAuthKeys(path: string): AuthKeys {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`--auth-keys ${path}: ${(err as Error).message}`);
  }
  return parseAuthKeys(text, path);
}

/**
 * Validates the text of a keys file, `{"keys": [{"id", "secret" (hex, at least 64 digits), "services"?: globs}]}`.
 * Throws ConfigError naming `name` and the key by index and id. Secrets never appear in messages.
 */
export function parseAuthKeys(text: string, name: string): AuthKeys {
  // Typed explicitly, so that TypeScript narrows after a call as after a throw.
  const fail: (problem: string) => never = (problem) => {
    throw new ConfigError(`--auth-keys ${name}: ${problem}`);
  };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    fail(`not JSON: ${(err as Error).message}`);
  }
  if (!isObject(raw)) fail('expected an object {"keys": [{"id", "secret", "services"?}, ...]}');
  for (const field of Object.keys(raw)) if (field !== 'keys') fail(`unknown field ${JSON.stringify(field)} (known: keys)`);
  if (!Array.isArray(raw.keys)) fail('"keys" must be an array of {"id", "secret", "services"?}');
  if (raw.keys.length === 0) fail('"keys" is empty: at least one key is needed');

  const byId = new Map<string, AuthKey>();
  const indexOf = new Map<string, number>();
  for (const [i, entry] of (raw.keys as unknown[]).entries()) {
    const at = `keys[${i}]${isObject(entry) && typeof entry.id === 'string' ? ` (${JSON.stringify(entry.id.slice(0, KEY_ID_MAX_LENGTH))})` : ''}`;
    if (!isObject(entry)) fail(`${at} must be an object {"id", "secret", "services"?}`);
    for (const field of Object.keys(entry)) {
      if (!KEY_FIELDS.includes(field)) fail(`${at}: unknown field ${JSON.stringify(field)} (known: ${KEY_FIELDS.join(', ')})`);
    }
    const { id, secret, services } = entry;
    if (typeof id !== 'string') fail(`${at}: "id" must be a string`);
    const idProblem = keyIdProblem(id);
    if (idProblem) fail(`${at}: ${idProblem}`);
    const first = indexOf.get(id);
    if (first !== undefined) fail(`${at}: duplicate id (also keys[${first}])`);
    if (typeof secret !== 'string') fail(`${at}: "secret" must be a string of hex digits`);
    if (!HEX.test(secret)) fail(`${at}: secret must be hex digits only (0-9, a-f)`);
    if (secret.length < MIN_SECRET_HEX_DIGITS) fail(`${at}: secret must be at least ${MIN_SECRET_HEX_DIGITS} hex digits (got ${secret.length})`);
    if (secret.length % 2 !== 0) fail(`${at}: secret must have an even number of hex digits, two per byte (got ${secret.length})`);
    indexOf.set(id, i);
    byId.set(id, { id, secret: createSecretKey(Buffer.from(secret, 'hex')), ...servicesOf(services, at, fail) });
  }
  return { source: name, byId };
}

/** The `services` of one key: its globs and the matcher for them. */
function servicesOf(v: unknown, at: string, fail: (problem: string) => never): Pick<AuthKey, 'services' | 'allows'> {
  if (v === undefined) return { services: null, allows: () => true };
  if (!Array.isArray(v)) fail(`${at}: "services" must be an array of service globs (omit it to allow any service)`);
  if (v.length === 0) fail(`${at}: "services" is empty, which would allow nothing: omit services to allow any service`);
  const matchers = v.map((pattern: unknown, j: number) => {
    if (typeof pattern !== 'string') fail(`${at}: services[${j}] must be a string`);
    const problem = globProblem(pattern);
    if (problem) fail(`${at}: services[${j}]: ${problem}`);
    return compileGlob(pattern);
  });
  return { services: Object.freeze([...v]), allows: (service) => matchers.some((m) => m(service)) };
}

/** The key `id` of a keys file, to sign with (the mock sender's `--key-id`). Throws ConfigError when there is none. */
export function signingKeyFrom(keys: AuthKeys, id: string): AuthKey {
  const key = keys.byId.get(id);
  if (!key) throw new ConfigError(`--key-id ${id}: no such key in --auth-keys ${keys.source} (its ids: ${[...keys.byId.keys()].join(', ')})`);
  return key;
}

export type AuthMode = 'off' | 'optional' | 'required';

export interface AuthOptions {
  mode: AuthMode;
  /** How far a signed datagram's time may be from the receiver clock, either way, µs. */
  windowUs: number;
  /** Replay filter capacity, entries. @default 1_000_000 */
  maxNonces?: number;
}

export type Verified =
  | {
      ok: true;
      /** The JSON bytes: a subarray of the input (the input itself when unsigned). */
      body: Buffer;
      /** null: unsigned, accepted in optional (or off) mode. */
      key: VerifiedKey | null;
    }
  | { ok: false; reason: AuthRejectReason | 'malformed_json'; detail: string };

export const DEFAULT_MAX_NONCES = 1_000_000;

/** Longest header line accepted, newline excluded. The longest valid one is 184 bytes. */
const MAX_HEADER_BYTES = 200;
const PREFIX_LENGTH = SIGNED_PREFIX.length;
const [P0, P1, P2, P3, P4] = [...SIGNED_PREFIX].map((c) => c.charCodeAt(0));
const HEADER_SHAPE = 'HMS1 <keyId> <unixMillis> <nonce> <hmacHex>';
/** Digits of Number.MAX_SAFE_INTEGER. */
const MAX_MILLIS_DIGITS = 16;

type Refused = Extract<Verified, { ok: false }>;
const refusal = (reason: Refused['reason'], detail: string): Refused => ({ ok: false, reason, detail });
const malformed = (what: string) => refusal('bad_signature', `malformed HMS1 header: ${what}`);

// Refusals whose detail never varies are built once (and frozen, as they are shared): a flood of them allocates nothing.
const UNSIGNED = Object.freeze(refusal('unsigned', 'an unsigned datagram, but --auth-mode is required: sign it (HMS1 header) or set --auth-mode optional'));
const SIGNED_BUT_OFF = Object.freeze(
  refusal('malformed_json', 'a signed datagram (HMS1 header), but --auth-mode is off: set --auth-mode optional or required and --auth-keys'),
);
const NO_NEWLINE = Object.freeze(malformed(`no newline within the first ${MAX_HEADER_BYTES + 1} bytes (expected "${HEADER_SHAPE}\\n<json>")`));
const BAD_KEY_ID = Object.freeze(malformed(`the key id must be 1-${KEY_ID_MAX_LENGTH} characters from [A-Za-z0-9._-]`));
const BAD_MILLIS = Object.freeze(malformed(`unixMillis must be 1-${MAX_MILLIS_DIGITS} decimal digits, a safe integer`));
const BAD_NONCE = Object.freeze(malformed(`the nonce must be ${NONCE_MIN_LENGTH}-${NONCE_MAX_LENGTH} characters from [A-Za-z0-9]`));
const BAD_HMAC = Object.freeze(malformed(`the hmac must be ${2 * HMAC_BYTES} lowercase hex digits`));

/** A lowercase hex digit's value, or -1. */
const nibble = (c: number) => (c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1);

function allBytes(buf: Buffer, from: number, to: number, ok: (c: number) => boolean): boolean {
  for (let i = from; i < to; i++) if (!ok(buf[i])) return false;
  return true;
}

const seconds = (us: number) => `${Number((us / 1e6).toFixed(1))} s`;
/** Epoch ms as ISO-8601, or as a number beyond the years Date can show. */
const iso = (ms: number) => (Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : `${ms} ms since the epoch`);

/**
 * Checks datagrams against the keys: signature, freshness and replay. `verify` runs before decoding;
 * `allows` after it, once the service is known. Never throws on input.
 */
export class DatagramAuth {
  private keys: AuthKeys | null;
  private readonly replay: ReplayFilter;
  /** The received hmac, decoded: one buffer for every datagram. */
  private readonly received = Buffer.alloc(HMAC_BYTES);

  constructor(
    keys: AuthKeys | null,
    private readonly opts: AuthOptions,
  ) {
    if (opts.mode !== 'off' && !keys) throw new ConfigError(`--auth-mode ${opts.mode} needs --auth-keys FILE`);
    if (!(opts.windowUs > 0 && Number.isFinite(opts.windowUs))) throw new ConfigError(`the signed datagram window must be a positive duration (got ${opts.windowUs} µs)`);
    const maxNonces = opts.maxNonces ?? DEFAULT_MAX_NONCES;
    if (!(Number.isSafeInteger(maxNonces) && maxNonces > 0)) throw new ConfigError(`the replay filter capacity must be a positive integer (got ${maxNonces})`);
    this.keys = keys;
    this.replay = new ReplayFilter(maxNonces, opts.windowUs);
  }

  /** New keys (SIGHUP), from the next datagram on. The replay filter is kept: a nonce seen stays seen. */
  reload(keys: AuthKeys): void {
    this.keys = keys;
  }

  /** The answer for an unsigned datagram let through; valid until the next call. */
  private readonly passed: { ok: true; body: Buffer; key: null } = { ok: true, body: Buffer.alloc(0), key: null };

  /** Signature, freshness and replay of one datagram. An unsigned pass is valid until the next call. */
  verify(buf: Buffer, nowUs: number): Verified {
    // The first comparison settles it for every JSON datagram: they start with `{` or a space, never `H`.
    const signed = buf[0] === P0 && buf.length >= PREFIX_LENGTH && buf[1] === P1 && buf[2] === P2 && buf[3] === P3 && buf[4] === P4;
    if (!signed) {
      if (this.opts.mode === 'required') return UNSIGNED;
      // Every unsigned datagram in off mode passes here: one answer object, reused, so this path allocates nothing.
      this.passed.body = buf;
      return this.passed;
    }
    if (this.opts.mode === 'off') return SIGNED_BUT_OFF;
    return this.verifySigned(buf, nowUs);
  }

  /** Checks in order: header format, key, HMAC, window, replay. */
  private verifySigned(buf: Buffer, nowUs: number): Verified {
    const nl = buf.indexOf(10, PREFIX_LENGTH);
    if (nl < 0 || nl > MAX_HEADER_BYTES) return NO_NEWLINE;
    // The header after `HMS1 ` is four fields: keyId [PREFIX_LENGTH, s1), millis (s1, s2), nonce (s2, s3), hmac (s3, nl).
    let s1 = -1;
    let s2 = -1;
    let s3 = -1;
    let fields = 2; // `HMS1` and the one after it
    for (let i = PREFIX_LENGTH; i < nl; i++) {
      if (buf[i] !== 32) continue;
      fields++;
      if (s1 < 0) s1 = i;
      else if (s2 < 0) s2 = i;
      else if (s3 < 0) s3 = i;
    }
    if (fields !== 5) return malformed(`${fields} space-separated fields, expected 5: ${HEADER_SHAPE}`);
    if (s1 === PREFIX_LENGTH || s1 - PREFIX_LENGTH > KEY_ID_MAX_LENGTH || !allBytes(buf, PREFIX_LENGTH, s1, isKeyIdChar)) return BAD_KEY_ID;
    if (s2 - s1 - 1 < 1 || s2 - s1 - 1 > MAX_MILLIS_DIGITS) return BAD_MILLIS;
    let millis = 0;
    for (let i = s1 + 1; i < s2; i++) {
      const d = buf[i] - 48;
      if (d < 0 || d > 9) return BAD_MILLIS;
      millis = millis * 10 + d;
    }
    if (!Number.isSafeInteger(millis)) return BAD_MILLIS;
    if (s3 - s2 - 1 < NONCE_MIN_LENGTH || s3 - s2 - 1 > NONCE_MAX_LENGTH || !allBytes(buf, s2 + 1, s3, isNonceChar)) return BAD_NONCE;
    if (nl - s3 - 1 !== 2 * HMAC_BYTES) return BAD_HMAC;
    for (let i = 0, p = s3 + 1; i < HMAC_BYTES; i++, p += 2) {
      const hi = nibble(buf[p]);
      const lo = nibble(buf[p + 1]);
      if (hi < 0 || lo < 0) return BAD_HMAC;
      this.received[i] = (hi << 4) | lo;
    }

    const keys = this.keys!; // not null: the mode is not off
    const id = buf.toString('latin1', PREFIX_LENGTH, s1); // at most 64 characters: checked above
    const key = keys.byId.get(id);
    if (!key) return refusal('unknown_key', `no key ${JSON.stringify(id)} in --auth-keys ${keys.source}`);

    const body = buf.subarray(nl + 1);
    if (!timingSafeEqual(hmacOf(key.secret, buf.subarray(0, s3), body), this.received)) {
      return refusal('bad_signature', `the HMAC does not match key ${JSON.stringify(id)}: another secret, or the datagram was altered`);
    }

    const offUs = millis * 1000 - nowUs;
    if (offUs > this.opts.windowUs || -offUs > this.opts.windowUs) {
      return refusal('stale', `the timestamp is ${seconds(Math.abs(offUs))} in the ${offUs < 0 ? 'past' : 'future'}, outside the ±${seconds(this.opts.windowUs)} window`);
    }

    const nonce = buf.toString('latin1', s2 + 1, s3);
    const seen = this.replay.record(`${id} ${nonce}`, millis, nowUs);
    if (seen !== 'fresh') return this.replayRefusal(seen, id, nonce);
    this.lastNonce = nonce;
    this.lastMillis = millis;
    return { ok: true, body, key };
  }

  /** The nonce and time of the last datagram `verify` passed as signed (an ingest worker reports them). */
  lastNonce = '';
  lastMillis = 0;

  /**
   * The daemon's own check of a nonce an ingest worker passed: each worker remembers only what it saw, and
   * a replay may reach another one. Null when fresh, else the refusal.
   */
  recheck(keyId: string, nonce: string, millis: number, nowUs: number): Refused | null {
    const seen = this.replay.record(`${keyId} ${nonce}`, millis, nowUs);
    return seen === 'fresh' ? null : this.replayRefusal(seen, keyId, nonce);
  }

  private replayRefusal(seen: Exclude<Recorded, 'fresh'>, id: string, nonce: string): Refused {
    if (seen === 'replayed') return refusal('replayed', `nonce ${nonce} of key ${JSON.stringify(id)} was already seen within the window`);
    const before = iso(this.replay.horizonMs);
    if (seen === 'full') {
      return refusal(
        'stale',
        `the replay filter is full (${this.replay.capacity} nonces): timestamps before ${before} can no longer be checked for replay; raise its capacity or lower the rate`,
      );
    }
    return refusal('stale', `the timestamp is before ${before}, whose nonces were forgotten while the receiver clock was later (did it step back?)`);
  }

  /** After decoding: may this key send for this service? True for unsigned datagrams and any-service keys. */
  allows(key: VerifiedKey | null, service: string): boolean {
    return key === null || key.allows(service);
  }

  /** Nonces the replay filter remembers; at most maxNonces. */
  get size(): number {
    return this.replay.size;
  }
}

/** 'fresh': recorded. 'full', 'behind': at or before the horizon (refused as stale), for the reason given. */
type Recorded = 'fresh' | 'replayed' | 'full' | 'behind';

/**
 * The (keyId, nonce) pairs of the verified datagrams, in memory bounded by `capacity`, without ever letting a
 * replay through. Pairs are bucketed by the second of the datagram's own timestamp, which the HMAC covers,
 * so a replay always falls in its original's bucket. Buckets are only ever dropped whole and oldest first,
 * and dropping one raises the horizon past it: a datagram timestamped before the horizon is refused (as
 * stale), because its nonce can no longer be checked. Invariant: every pair accepted with a timestamp at or after
 * the horizon is remembered. A replay is therefore refused as `replayed` or, once its bucket is gone, as `stale`.
 *
 * A bucket is dropped for one of two reasons:
 * - expiry: every timestamp in it is outside the window. The horizon then refuses nothing the window would
 *   accept, unless the receiver clock steps back (then datagrams older than the horizon are refused until
 *   the clock catches up: a replay of them could not be told apart).
 * - capacity: recording would exceed it. The oldest bucket goes, even if it is the current second (the
 *   datagram being recorded is then refused too): with more than `capacity` datagrams per window, some are
 *   refused rather than some replays accepted.
 */
class ReplayFilter {
  private readonly seen = new Set<string>();
  private readonly buckets = new Map<number, string[]>();
  /** Seconds of the buckets, ascending. */
  private readonly order: number[] = [];
  /** Timestamps before this (epoch ms) are refused: the end of the last bucket dropped. */
  private horizon = Number.NEGATIVE_INFINITY;
  /** Why the horizon was last raised. */
  private full = false;

  constructor(
    readonly capacity: number,
    private readonly windowUs: number,
  ) {}

  get size(): number {
    return this.seen.size;
  }

  get horizonMs(): number {
    return this.horizon;
  }

  record(pair: string, millis: number, nowUs: number): Recorded {
    // Expiry: the oldest bucket's newest timestamp, (s + 1) s - 1 ms, is outside the window.
    while (this.order.length > 0 && ((this.order[0] + 1) * 1000 - 1) * 1000 < nowUs - this.windowUs) this.dropOldest(false);
    if (millis < this.horizon) return this.full ? 'full' : 'behind';
    if (this.seen.has(pair)) return 'replayed';
    while (this.seen.size >= this.capacity) this.dropOldest(true);
    if (millis < this.horizon) return 'full';
    const second = Math.floor(millis / 1000);
    let bucket = this.buckets.get(second);
    if (!bucket) {
      bucket = [];
      this.buckets.set(second, bucket);
      // Most new buckets are the newest second, so the search from the end is short.
      let i = this.order.length;
      while (i > 0 && this.order[i - 1] > second) i--;
      this.order.splice(i, 0, second);
    }
    bucket.push(pair);
    this.seen.add(pair);
    return 'fresh';
  }

  private dropOldest(full: boolean): void {
    const second = this.order.shift()!;
    for (const pair of this.buckets.get(second)!) this.seen.delete(pair);
    this.buckets.delete(second);
    this.horizon = (second + 1) * 1000;
    this.full = full;
  }
}
