/**
 * Signed datagrams, the sending side (the mock sender, tests, benchmarks). A signed datagram is one header line
 * and then the JSON message exactly as an unsigned one:
 *
 *     HMS1 <keyId> <unixMillis> <nonce> <hmacHex>\n<json>
 *
 * `hmacHex` is the lowercase hex HMAC-SHA256, keyed by the key's secret, of `HMS1 <keyId> <unixMillis> <nonce>\n<json>`:
 * every byte but the hmac field and the space before it. The verifier (src/ingest/datagram-auth.ts) hashes
 * through `hmacOf` too, so both sides agree on the signed bytes by construction.
 */
import { createHmac, type KeyObject, randomFillSync } from 'node:crypto';

/** The first bytes of every signed datagram, and of no unsigned one (JSON does not start with `H`). */
export const SIGNED_PREFIX = 'HMS1 ';
export const KEY_ID_MAX_LENGTH = 64;
export const NONCE_MIN_LENGTH = 8;
export const NONCE_MAX_LENGTH = 32;
/** Bytes of an HMAC-SHA256; the header carries twice as many hex digits. */
export const HMAC_BYTES = 32;

export interface SigningKey {
  id: string;
  /** The raw secret bytes (the keys file holds them hex-encoded), or a KeyObject of them: cheaper per HMAC. */
  secret: Buffer | KeyObject;
}

const isAlnum = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
/** A key id character: [A-Za-z0-9._-]. Takes a char code, which is the byte for ASCII. */
export const isKeyIdChar = (c: number): boolean => isAlnum(c) || c === 46 || c === 95 || c === 45;
/** A nonce character: [A-Za-z0-9]. */
export const isNonceChar = isAlnum;

function charsProblem(what: string, s: string, min: number, max: number, ok: (c: number) => boolean, set: string): string | undefined {
  let good = s.length >= min && s.length <= max;
  for (let i = 0; good && i < s.length; i++) good = ok(s.charCodeAt(i));
  return good ? undefined : `${what} must be ${min}-${max} characters from ${set} (got ${JSON.stringify(s.slice(0, max + 1))})`;
}

/** Why a string cannot be a key id, or undefined when it can. */
export const keyIdProblem = (id: string): string | undefined => charsProblem('a key id', id, 1, KEY_ID_MAX_LENGTH, isKeyIdChar, '[A-Za-z0-9._-]');

const nonceProblem = (nonce: string) => charsProblem('a nonce', nonce, NONCE_MIN_LENGTH, NONCE_MAX_LENGTH, isNonceChar, '[A-Za-z0-9]');

const NEWLINE = Buffer.from('\n');

/** The HMAC of a signed datagram: over `header` (`HMS1 <keyId> <unixMillis> <nonce>`, no hmac field), a newline, and `json`. */
export function hmacOf(secret: Buffer | KeyObject, header: Uint8Array, json: Uint8Array): Buffer {
  return createHmac('sha256', secret).update(header).update(NEWLINE).update(json).digest();
}

/** Signs one message. Throws on a key id, time or nonce that the wire format cannot carry (a caller's bug). */
export function signDatagram(key: SigningKey, json: string | Uint8Array, nowMs: number, nonce: string = randomNonce()): Buffer {
  const problem = keyIdProblem(key.id) ?? nonceProblem(nonce);
  if (problem) throw new RangeError(`cannot sign: ${problem}`);
  if (!Number.isSafeInteger(nowMs) || nowMs < 0) throw new RangeError(`cannot sign: the time must be a non-negative integer of milliseconds (got ${nowMs})`);
  const header = `${SIGNED_PREFIX}${key.id} ${nowMs} ${nonce}`; // ASCII only, so one byte per character
  const bodyAt = header.length + 1 + 2 * HMAC_BYTES + 1;
  const jsonBytes = typeof json === 'string' ? Buffer.byteLength(json) : json.length;
  // One buffer: the JSON is encoded once, into place, and hashed from there.
  const out = Buffer.allocUnsafe(bodyAt + jsonBytes);
  out.write(header, 0, 'latin1');
  if (typeof json === 'string') out.write(json, bodyAt, 'utf8');
  else out.set(json, bodyAt);
  const mac = hmacOf(key.secret, out.subarray(0, header.length), out.subarray(bodyAt));
  out[header.length] = 32;
  out.write(mac.toString('hex'), header.length + 1, 'latin1');
  out[bodyAt - 1] = 10;
  return out;
}

const NONCE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const NONCE_LENGTH = 16;
// Random bytes are drawn 4 KiB at a time: one randomBytes call per nonce would cost more than the HMAC.
const pool = Buffer.alloc(4096);
let poolAt = pool.length;

/**
 * 16 random characters from [A-Za-z0-9] (95 bits), uniform: bytes of 248 (4 × 62) and up are skipped rather
 * than folded, so that no character is likelier than another.
 */
export function randomNonce(): string {
  let nonce = '';
  while (nonce.length < NONCE_LENGTH) {
    if (poolAt === pool.length) {
      randomFillSync(pool);
      poolAt = 0;
    }
    const b = pool[poolAt++];
    if (b < 248) nonce += NONCE_ALPHABET[b % 62];
  }
  return nonce;
}
