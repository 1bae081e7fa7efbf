/** Authenticated datagrams: the signer, the verifier (signature, window, replay), the keys file. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { AUTH_REJECT_REASONS, type AuthRejectReason } from '../../src/core/message.js';
import { ConfigError } from '../../src/config/settings.js';
import { randomNonce, type SigningKey, signDatagram } from '../../src/core/sign.js';
import {
  type AuthKeys,
  type AuthMode,
  DatagramAuth,
  loadAuthKeys,
  parseAuthKeys,
  signingKeyFrom,
  type Verified,
} from '../../src/ingest/datagram-auth.js';

const NOW_MS = Date.UTC(2026, 10, 27, 12, 0, 0);
const NOW = NOW_MS * 1000;
const WINDOW = 30e6;
const SECRET_1 = 'a1'.repeat(32);
const SECRET_2 = '5c'.repeat(40);
const SECRET_3 = '0f'.repeat(32);
const KEYS_TEXT = JSON.stringify({
  keys: [
    { id: 'k1', secret: SECRET_1, services: ['orders-*'] },
    { id: 'k2', secret: SECRET_2, services: ['orders-*', 'payments'] },
    { id: 'any.key_3-x', secret: SECRET_3 },
  ],
});
const keys = parseAuthKeys(KEYS_TEXT, 'keys.json');
const k1 = signingKeyFrom(keys, 'k1');
const k2 = signingKeyFrom(keys, 'k2');
const k3 = signingKeyFrom(keys, 'any.key_3-x');
const JSON_TEXT = JSON.stringify({ serviceName: 'orders-eu', Timestamp: NOW_MS / 1000, CPU: 42.5, RAM: { Total: 32, Free: 12.5 }, Disk: { Total: 512, Free: 210.3 } });

const auth = (mode: AuthMode = 'required', maxNonces?: number, k: AuthKeys | null = keys) => new DatagramAuth(k, { mode, windowUs: WINDOW, maxNonces });
const sign = (key: SigningKey = k1, json: string | Uint8Array = JSON_TEXT, ms = NOW_MS, nonce?: string) => signDatagram(key, json, ms, nonce);
/** A datagram with the given header line (no signature check possible) and the usual JSON. */
const withHeader = (header: string) => Buffer.from(`${header}\n${JSON_TEXT}`, 'latin1');
const HMAC = 'ab'.repeat(32);
/** The same datagram with byte `at` replaced by `by`. */
const patched = (buf: Buffer, at: number, by: string) => {
  const copy = Buffer.from(buf);
  copy[at < 0 ? copy.length + at : at] = by.charCodeAt(0);
  return copy;
};

/** Asserts a refusal for `reason`, with the detail given (exact, or a pattern). */
function refused(t: ExecutionContext, v: Verified, reason: AuthRejectReason | 'malformed_json', detail?: string | RegExp, what?: string) {
  if (v.ok) return t.fail(`verified, expected ${reason}${what ? ` (${what})` : ''}`);
  t.is(v.reason, reason, what);
  if (typeof detail === 'string') t.is(v.detail, detail, what);
  else if (detail) t.regex(v.detail, detail, what);
}

test('round trip: a signed datagram verifies to exactly the JSON bytes and its key', (t) => {
  const a = auth();
  const buf = sign();
  t.true(buf.toString('latin1').startsWith(`HMS1 k1 ${NOW_MS} `));
  t.regex(buf.toString('latin1').split('\n')[0], /^HMS1 k1 \d+ [A-Za-z0-9]{16} [0-9a-f]{64}$/);
  const v = a.verify(buf, NOW);
  if (!v.ok) return t.fail(v.detail);
  t.true(v.body.equals(Buffer.from(JSON_TEXT)));
  t.true(v.body.buffer === buf.buffer && v.body.byteOffset === buf.byteOffset + buf.length - v.body.length, 'a subarray of the input, not a copy');
  t.is(v.key?.id, 'k1');
  t.deepEqual(v.key?.services, ['orders-*']);
});

test('the signer takes text or bytes alike, and non-ASCII JSON', (t) => {
  const text = JSON.stringify({ serviceName: 'zürich-東', x: '🚀' });
  t.true(sign(k1, text, NOW_MS, 'nonce1234').equals(sign(k1, new TextEncoder().encode(text), NOW_MS, 'nonce1234')));
  const v = auth().verify(sign(k1, text), NOW);
  t.true(v.ok && v.body.toString('utf8') === text);
});

test('the signer refuses what the wire format cannot carry', (t) => {
  t.throws(() => sign({ id: 'a b', secret: k1.secret }), { instanceOf: RangeError, message: /key id must be 1-64 characters from \[A-Za-z0-9._-\]/ });
  t.throws(() => sign({ id: '', secret: k1.secret }), { instanceOf: RangeError });
  t.throws(() => sign({ id: 'x'.repeat(65), secret: k1.secret }), { instanceOf: RangeError });
  t.throws(() => sign(k1, JSON_TEXT, NOW_MS, 'short'), { message: /nonce must be 8-32 characters from \[A-Za-z0-9\]/ });
  t.throws(() => sign(k1, JSON_TEXT, NOW_MS, 'x'.repeat(33)), { instanceOf: RangeError });
  t.throws(() => sign(k1, JSON_TEXT, NOW_MS, 'nonce-123'), { instanceOf: RangeError });
  t.throws(() => sign(k1, JSON_TEXT, NOW_MS + 0.5), { message: /non-negative integer of milliseconds/ });
  t.throws(() => sign(k1, JSON_TEXT, -1), { instanceOf: RangeError });
  t.notThrows(() => sign(k1, JSON_TEXT, NOW_MS, 'x'.repeat(8)));
  t.notThrows(() => sign(k1, JSON_TEXT, NOW_MS, 'x'.repeat(32)));
});

test('random nonces: 16 characters from [A-Za-z0-9], all different', (t) => {
  const nonces = new Set<string>();
  for (let i = 0; i < 10_000; i++) {
    const n = randomNonce();
    t.regex(n, /^[A-Za-z0-9]{16}$/);
    nonces.add(n);
  }
  t.is(nonces.size, 10_000);
});

test('required mode refuses unsigned datagrams; optional mode passes them through', (t) => {
  const unsigned = Buffer.from(JSON_TEXT);
  refused(t, auth('required').verify(unsigned, NOW), 'unsigned', /unsigned datagram, but --auth-mode is required/);
  refused(t, auth('required').verify(Buffer.alloc(0), NOW), 'unsigned');
  refused(t, auth('required').verify(Buffer.from('HMS1'), NOW), 'unsigned', undefined, 'the prefix is five bytes, the space included');
  const a = auth('optional');
  const v = a.verify(unsigned, NOW);
  t.true(v.ok && v.body === unsigned && v.key === null);
  t.true(a.verify(sign(), NOW).ok, 'a signed one is verified');
  refused(t, a.verify(patched(sign(), -2, '0'), NOW), 'bad_signature', undefined, 'a signed one is verified, and refused if altered');
});

test('off mode: unsigned datagrams pass unchanged; a signed one is refused with the hint', (t) => {
  const a = new DatagramAuth(null, { mode: 'off', windowUs: WINDOW });
  const buf = Buffer.from(JSON_TEXT);
  const v = a.verify(buf, NOW);
  t.true(v.ok && v.body === buf && v.key === null);
  refused(
    t,
    a.verify(sign(), NOW),
    'malformed_json',
    'a signed datagram (HMS1 header), but --auth-mode is off: set --auth-mode optional or required and --auth-keys',
  );
  t.throws(() => new DatagramAuth(null, { mode: 'required', windowUs: WINDOW }), { instanceOf: ConfigError, message: '--auth-mode required needs --auth-keys FILE' });
  t.throws(() => new DatagramAuth(keys, { mode: 'optional', windowUs: 0 }), { instanceOf: ConfigError });
  t.throws(() => new DatagramAuth(keys, { mode: 'optional', windowUs: WINDOW, maxNonces: 0 }), { instanceOf: ConfigError });
});

test('an unknown key is named in the refusal', (t) => {
  const stranger = { id: 'k9', secret: k1.secret };
  refused(t, auth().verify(sign(stranger), NOW), 'unknown_key', 'no key "k9" in --auth-keys keys.json');
  const long = { id: 'x'.repeat(64), secret: k1.secret };
  refused(t, auth().verify(sign(long), NOW), 'unknown_key', `no key "${'x'.repeat(64)}" in --auth-keys keys.json`);
});

test('a changed bit anywhere the HMAC covers, or in the HMAC, is a bad signature', (t) => {
  const buf = sign(k1, JSON_TEXT, NOW_MS, 'abcdefgh12345678');
  const text = buf.toString('latin1');
  const mismatch = /^the HMAC does not match key "k1": another secret, or the datagram was altered$/;
  const json = text.indexOf('\n') + 1;
  const flipped = Buffer.from(buf);
  flipped[json + 5] ^= 1;
  refused(t, auth().verify(flipped, NOW), 'bad_signature', mismatch);
  refused(t, auth().verify(patched(buf, -1, ' '), NOW), 'bad_signature', mismatch);
  refused(t, auth().verify(patched(buf, text.indexOf(String(NOW_MS)) + 12, '9'), NOW), 'bad_signature', mismatch, 'the time');
  refused(t, auth().verify(patched(buf, text.indexOf('abcdefgh') + 3, 'X'), NOW), 'bad_signature', mismatch, 'the nonce');
  const hmacAt = text.indexOf('\n') - 64;
  refused(t, auth().verify(patched(buf, hmacAt, text[hmacAt] === '0' ? '1' : '0'), NOW), 'bad_signature', mismatch, 'the hmac');
  refused(t, auth().verify(Buffer.concat([buf, Buffer.from(' ')]), NOW), 'bad_signature', mismatch, 'a byte appended');
  refused(t, auth().verify(sign({ id: 'k1', secret: k2.secret }), NOW), 'bad_signature', mismatch, 'another secret');
  t.true(auth().verify(buf, NOW).ok, 'the original verifies');
});

test('malformed headers are bad signatures that say what is malformed', (t) => {
  const m = (what: string) => `malformed HMS1 header: ${what}`;
  const cases: [Buffer, string | RegExp, string][] = [
    [Buffer.from(`HMS1 k1 ${NOW_MS} abcdefgh ${HMAC}`), /no newline within the first 201 bytes/, 'no newline at all'],
    [withHeader(`HMS1 k1 ${NOW_MS} abcdefgh ${HMAC}${'x'.repeat(150)}`), /no newline within the first 201 bytes/, 'header too long'],
    [withHeader(`HMS1 k1 ${NOW_MS} ${HMAC}`), m('4 space-separated fields, expected 5: HMS1 <keyId> <unixMillis> <nonce> <hmacHex>'), 'a field missing'],
    [withHeader(`HMS1 k1 ${NOW_MS} abcdefgh ${HMAC} extra`), /6 space-separated fields/, 'a field too many'],
    [withHeader(`HMS1 k1 ${NOW_MS} abcdefgh ${HMAC} `), /6 space-separated fields/, 'a trailing space'],
    [withHeader('HMS1 '), /2 space-separated fields/, 'nothing after the prefix'],
    [withHeader(`HMS1  ${NOW_MS} abcdefgh ${HMAC}`), m('the key id must be 1-64 characters from [A-Za-z0-9._-]'), 'empty key id'],
    [withHeader(`HMS1 k/1 ${NOW_MS} abcdefgh ${HMAC}`), /key id must be/, 'key id with a slash'],
    [withHeader(`HMS1 ${'k'.repeat(65)} ${NOW_MS} abcdefgh ${HMAC}`), /key id must be/, 'key id of 65 characters'],
    [withHeader(`HMS1 k1 ${NOW_MS}.5 abcdefgh ${HMAC}`), m('unixMillis must be 1-16 decimal digits, a safe integer'), 'fractional millis'],
    [withHeader(`HMS1 k1 -${NOW_MS} abcdefgh ${HMAC}`), /unixMillis/, 'negative millis'],
    [withHeader(`HMS1 k1 9999999999999999 abcdefgh ${HMAC}`), /unixMillis/, 'millis beyond a safe integer'],
    [withHeader(`HMS1 k1 12345678901234567 abcdefgh ${HMAC}`), /unixMillis/, '17 digits'],
    [withHeader(`HMS1 k1  abcdefgh ${HMAC}`), /unixMillis/, 'empty millis'],
    [withHeader(`HMS1 k1 ${NOW_MS} abcdefg ${HMAC}`), m('the nonce must be 8-32 characters from [A-Za-z0-9]'), 'nonce of 7'],
    [withHeader(`HMS1 k1 ${NOW_MS} ${'n'.repeat(33)} ${HMAC}`), /nonce must be/, 'nonce of 33'],
    [withHeader(`HMS1 k1 ${NOW_MS} abcd-efgh ${HMAC}`), /nonce must be/, 'nonce with a dash'],
    [withHeader(`HMS1 k1 ${NOW_MS} abcdéfgh ${HMAC}`), /nonce must be/, 'nonce with a non-ASCII byte'],
    [withHeader(`HMS1 k1 ${NOW_MS} abcdefgh ${HMAC.toUpperCase()}`), m('the hmac must be 64 lowercase hex digits'), 'uppercase hmac'],
    [withHeader(`HMS1 k1 ${NOW_MS} abcdefgh ${HMAC.slice(1)}`), /hmac must be/, '63 digits'],
    [withHeader(`HMS1 k1 ${NOW_MS} abcdefgh ${HMAC}0`), /hmac must be/, '65 digits'],
    [withHeader(`HMS1 k1 ${NOW_MS} abcdefgh ${HMAC.slice(2)}zz`), /hmac must be/, 'not hex'],
    [withHeader(`HMS1 k1 ${NOW_MS} abcdefgh ${HMAC}\r`), /hmac must be/, 'CRLF'],
  ];
  for (const [buf, detail, what] of cases) {
    const v = auth().verify(buf, NOW);
    t.false(v.ok, what);
    if (v.ok) continue;
    t.is(v.reason, 'bad_signature', what);
    if (typeof detail === 'string') t.is(v.detail, detail, what);
    else t.regex(v.detail, detail, what);
  }
});

test('a timestamp outside the window is stale, past or future, with how far off; the edges are inside', (t) => {
  refused(t, auth().verify(sign(k1, JSON_TEXT, NOW_MS - 45_500), NOW), 'stale', 'the timestamp is 45.5 s in the past, outside the ±30 s window');
  refused(t, auth().verify(sign(k1, JSON_TEXT, NOW_MS + 31_000), NOW), 'stale', 'the timestamp is 31 s in the future, outside the ±30 s window');
  refused(t, auth().verify(sign(k1, JSON_TEXT, 0), NOW), 'stale', /in the past/);
  t.true(auth().verify(sign(k1, JSON_TEXT, NOW_MS - 30_000), NOW).ok);
  t.true(auth().verify(sign(k1, JSON_TEXT, NOW_MS + 30_000), NOW).ok);
  refused(t, auth().verify(sign(k1, JSON_TEXT, NOW_MS + 30_001), NOW), 'stale');
});

test('a replay within the window is refused; a fresh nonce is accepted', (t) => {
  const a = auth();
  const buf = sign(k1, JSON_TEXT, NOW_MS, 'abcdefgh12345678');
  t.true(a.verify(buf, NOW).ok);
  refused(t, a.verify(buf, NOW + 5e6), 'replayed', 'nonce abcdefgh12345678 of key "k1" was already seen within the window');
  refused(t, a.verify(sign(k1, JSON_TEXT, NOW_MS + 3000, 'abcdefgh12345678'), NOW), 'replayed', undefined, 'the same nonce at another time');
  t.true(a.verify(sign(k2, JSON_TEXT, NOW_MS, 'abcdefgh12345678'), NOW).ok, 'the same nonce under another key');
  t.true(a.verify(sign(k1, JSON_TEXT, NOW_MS), NOW).ok, 'a fresh nonce');
  refused(t, a.verify(buf, NOW + 40e6), 'stale', undefined, 'out of the window, a replay is stale');
  // Forged datagrams are not recorded: the genuine one with the same nonce still gets through.
  const forged = sign({ id: 'k1', secret: k2.secret }, JSON_TEXT, NOW_MS, 'zzzzzzzz');
  refused(t, a.verify(forged, NOW), 'bad_signature');
  t.true(a.verify(sign(k1, JSON_TEXT, NOW_MS, 'zzzzzzzz'), NOW).ok);
});

test('services: a key may only send for its globs; unsigned and any-service keys for all', (t) => {
  const a = auth('optional');
  const ok = (buf: Buffer) => {
    const v = a.verify(buf, NOW);
    if (!v.ok) throw new Error(v.detail);
    return v.key;
  };
  const key1 = ok(sign(k1));
  t.true(a.allows(key1, 'orders-eu'));
  t.false(a.allows(key1, 'payments'), 'service_not_allowed');
  t.false(a.allows(key1, 'orders'));
  t.true(a.allows(ok(sign(k2)), 'payments'));
  t.true(a.allows(ok(sign(k3)), 'anything at all'));
  t.true(a.allows(ok(Buffer.from(JSON_TEXT)), 'anything at all'));
  t.true(AUTH_REJECT_REASONS.includes('service_not_allowed'));
});

test('rotation: two keys for one service both verify; after a reload without the old one its datagrams are unknown', (t) => {
  const a = auth();
  const old = sign(k1);
  const v1 = a.verify(old, NOW);
  const v2 = a.verify(sign(k2), NOW);
  t.true(v1.ok && v2.ok && a.allows(v1.key, 'orders-eu') && a.allows(v2.key, 'orders-eu'));
  const replayLater = sign(k2, JSON_TEXT, NOW_MS, 'replayme1');
  t.true(a.verify(replayLater, NOW).ok);
  a.reload(parseAuthKeys(JSON.stringify({ keys: [{ id: 'k2', secret: SECRET_2, services: ['orders-*'] }] }), 'keys2.json'));
  refused(t, a.verify(sign(k1), NOW), 'unknown_key', 'no key "k1" in --auth-keys keys2.json');
  t.true(a.verify(sign(k2), NOW).ok);
  refused(t, a.verify(replayLater, NOW), 'replayed', undefined, 'the replay filter is kept across a reload');
  const v = a.verify(sign(k2), NOW);
  t.true(v.ok && !a.allows(v.key, 'payments'), 'the new services apply');
});

/** Sends `n` fresh datagrams `stepMs` apart, each at its own time, then replays them all; every replay must be refused. */
function floodAndReplay(t: ExecutionContext, n: number, stepMs: number, maxNonces: number) {
  const a = auth('required', maxNonces);
  const sent: Buffer[] = [];
  let accepted = 0;
  for (let i = 0; i < n; i++) {
    const ms = NOW_MS + i * stepMs;
    const buf = sign(k1, JSON_TEXT, ms);
    sent.push(buf);
    const v = a.verify(buf, ms * 1000);
    if (v.ok) accepted++;
    else refused(t, v, 'stale', /^the replay filter is full \(100 nonces\): timestamps before \S+ can no longer be checked for replay; raise its capacity or lower the rate$/);
    t.true(a.size <= maxNonces);
  }
  const end = (NOW_MS + n * stepMs) * 1000;
  const replays = new Map<string, number>();
  for (const buf of sent) {
    const v = a.verify(buf, end);
    t.false(v.ok);
    if (!v.ok) replays.set(v.reason, (replays.get(v.reason) ?? 0) + 1);
    t.true(a.size <= maxNonces);
  }
  t.true(a.verify(sign(k1, JSON_TEXT, NOW_MS + n * stepMs), end).ok, 'a fresh datagram still gets through');
  return { accepted, replays: Object.fromEntries(replays) };
}

test('the replay filter is bounded and still refuses every replay: steady, under capacity per second', (t) => {
  // 1000 datagrams over 12 s, about 83 a second with room for 100: old seconds are evicted whole.
  const { accepted, replays } = floodAndReplay(t, 1000, 12, 100);
  t.is(accepted, 1000);
  t.deepEqual(Object.keys(replays).sort(), ['replayed', 'stale'], 'the newest seconds are remembered, the older ones are beyond the horizon');
  t.true(replays.replayed <= 100);
});

test('the replay filter is bounded and still refuses every replay: a burst beyond its capacity', (t) => {
  // 1000 datagrams over 4 s, 250 a second with room for 100: each second, the ones past the 100th are refused.
  const { accepted, replays } = floodAndReplay(t, 1000, 4, 100);
  t.is(accepted, 400);
  t.deepEqual(replays, { stale: 1000 });
});

test('buckets that leave the window are forgotten, and a clock stepping back cannot bring their replays back', (t) => {
  const a = auth();
  const old = sign(k1, JSON_TEXT, NOW_MS);
  t.true(a.verify(old, NOW).ok);
  t.is(a.size, 1);
  t.true(a.verify(sign(k1, JSON_TEXT, NOW_MS + 40_000), NOW + 40e6).ok);
  t.is(a.size, 1, 'the first bucket expired');
  refused(t, a.verify(old, NOW), 'stale', /forgotten while the receiver clock was later \(did it step back\?\)/);
});

const numRuns = Math.min(Number(process.env.HMS_PROPERTY_RUNS ?? 1000), 20_000);
const VERDICTS = new Set<string>([...AUTH_REJECT_REASONS, 'malformed_json']);
const SIGNED_PREFIX_BYTES = Buffer.from('HMS1 ');

/** A header field: often valid, sometimes arbitrary bytes, empty, or a stray space or CR. */
const field = (...valid: string[]) => fc.oneof(fc.constantFrom(...valid), fc.string({ unit: 'binary', maxLength: 70 }), fc.constantFrom('', ' ', '\r', 'é'));

/** Header-shaped datagrams, to get past the prefix: each field right or wrong, with or without a newline. */
const headerish = fc
  .tuple(
    field('k1', 'k2', 'k9', 'x'.repeat(65)),
    field(String(NOW_MS), String(NOW_MS - 45_000), '9999999999999999', '0'),
    field('abcdefgh', 'n'.repeat(32), 'n'.repeat(33)),
    field(HMAC, HMAC.toUpperCase()),
    fc.constantFrom('\n', '\r\n', ''),
    fc.string({ unit: 'binary', maxLength: 60 }),
  )
  .map(([id, ms, nonce, hmac, nl, json]) => Buffer.from(`HMS1 ${id} ${ms} ${nonce} ${hmac}${nl}${json}`, 'utf8'));

/** Genuinely signed datagrams, by known and unknown keys, in and out of the window, nonces often repeated. */
const signedish = fc
  .tuple(
    fc.constantFrom(k1, k2, k3, { id: 'k9', secret: k1.secret }),
    fc.integer({ min: -60_000, max: 60_000 }),
    fc.constantFrom('abcdefgh', 'nonce123', 'ZZZZZZZZZZZZZZZZ'),
    fc.string({ unit: 'binary', maxLength: 60 }),
  )
  .map(([key, offMs, nonce, json]) => sign(key, json, NOW_MS + offMs, nonce));

const anyBuffer = fc.oneof(
  fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)),
  fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.concat([SIGNED_PREFIX_BYTES, b])),
  headerish,
  signedish,
);

test('property: verify never throws, whatever the bytes, and answers ok or a known reason', (t) => {
  const verifiers = (['off', 'optional', 'required'] as const).map((mode) => auth(mode));
  const seen = new Map<string, number>();
  fc.assert(
    fc.property(anyBuffer, (buf) => {
      for (const a of verifiers) {
        const v = a.verify(buf, NOW);
        const verdict = v.ok ? 'ok' : v.reason;
        seen.set(verdict, (seen.get(verdict) ?? 0) + 1);
        if (!v.ok && !VERDICTS.has(v.reason)) return false;
        if (v.ok && v.key === null && v.body !== buf) return false;
      }
      return true;
    }),
    { numRuns },
  );
  t.log(Object.fromEntries(seen));
  // The generators reach every verdict of verify() (service_not_allowed is not one), given enough runs.
  if (numRuns >= 1000) t.deepEqual([...seen.keys()].sort(), ['bad_signature', 'malformed_json', 'ok', 'replayed', 'stale', 'unknown_key', 'unsigned']);
  else t.pass();
});

test('property: any JSON bytes round-trip; any single-byte change of a signed datagram is refused', (t) => {
  const a = auth();
  fc.assert(
    fc.property(
      fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 100 }).map((s) => new TextEncoder().encode(s))),
      fc.nat(),
      fc.integer({ min: 1, max: 255 }),
      (json, position, delta) => {
        const buf = sign(k1, json);
        const at = position % buf.length;
        const mutated = Buffer.from(buf);
        mutated[at] = (mutated[at] + delta) % 256;
        const m = a.verify(mutated, NOW);
        // Every byte is covered by the HMAC or is the HMAC, so no change is accepted, not even one keeping the body.
        if (m.ok) return false;
        const v = a.verify(buf, NOW);
        return v.ok && v.body.equals(json) && v.key?.id === 'k1';
      },
    ),
    { numRuns },
  );
  t.pass();
});

/** Keys-file text from an object. */
const file = (v: unknown) => JSON.stringify(v);
const key = (over: Record<string, unknown> = {}) => ({ id: 'k1', secret: SECRET_1, ...over });

/** Each text with its error message, after `--auth-keys <file>: `. */
const keyFileErrors: [string, string][] = [
  [file([]), 'expected an object {"keys": [{"id", "secret", "services"?}, ...]}'],
  [file({ keys: [key()], key: 1 }), 'unknown field "key" (known: keys)'],
  [file({}), '"keys" must be an array of {"id", "secret", "services"?}'],
  [file({ keys: {} }), '"keys" must be an array of {"id", "secret", "services"?}'],
  [file({ keys: [] }), '"keys" is empty: at least one key is needed'],
  [file({ keys: ['k1'] }), 'keys[0] must be an object {"id", "secret", "services"?}'],
  [file({ keys: [key({ secrt: 'x' })] }), 'keys[0] ("k1"): unknown field "secrt" (known: id, secret, services)'],
  [file({ keys: [key({ id: 7 })] }), 'keys[0]: "id" must be a string'],
  [file({ keys: [key({ id: 'k 1' })] }), 'keys[0] ("k 1"): a key id must be 1-64 characters from [A-Za-z0-9._-] (got "k 1")'],
  [file({ keys: [key({ id: '' })] }), 'keys[0] (""): a key id must be 1-64 characters from [A-Za-z0-9._-] (got "")'],
  [file({ keys: [key(), key({ id: 'k2' }), key()] }), 'keys[2] ("k1"): duplicate id (also keys[0])'],
  [file({ keys: [key({ secret: 42 })] }), 'keys[0] ("k1"): "secret" must be a string of hex digits'],
  [file({ keys: [key({ secret: `${SECRET_1}zz` })] }), 'keys[0] ("k1"): secret must be hex digits only (0-9, a-f)'],
  [file({ keys: [key(), key({ id: 'k2', secret: 'ab'.repeat(20) })] }), 'keys[1] ("k2"): secret must be at least 64 hex digits (got 40)'],
  [file({ keys: [key({ secret: `${SECRET_1}a` })] }), 'keys[0] ("k1"): secret must have an even number of hex digits, two per byte (got 65)'],
  [file({ keys: [key({ services: [] })] }), 'keys[0] ("k1"): "services" is empty, which would allow nothing: omit services to allow any service'],
  [file({ keys: [key({ services: 'orders-*' })] }), 'keys[0] ("k1"): "services" must be an array of service globs (omit it to allow any service)'],
  [file({ keys: [key({ services: ['a', 3] })] }), 'keys[0] ("k1"): services[1] must be a string'],
  [file({ keys: [key({ services: [''] })] }), 'keys[0] ("k1"): services[0]: a service pattern must not be empty'],
  [file({ keys: [key({ services: ['x'.repeat(201)] })] }), 'keys[0] ("k1"): services[0]: a service pattern is at most 200 characters (got 201)'],
];

test('keys file: every validation error names the file and the key', (t) => {
  for (const [text, message] of keyFileErrors) {
    t.throws(() => parseAuthKeys(text, '/etc/hms/keys.json'), { instanceOf: ConfigError, message: `--auth-keys /etc/hms/keys.json: ${message}` }, message);
  }
  t.throws(() => parseAuthKeys('{"keys": [', '/etc/hms/keys.json'), { instanceOf: ConfigError, message: /^--auth-keys \/etc\/hms\/keys\.json: not JSON: \S/ });
});

test('keys file: secrets never appear in error messages', (t) => {
  const secret = 'ab'.repeat(20);
  const err = t.throws(() => parseAuthKeys(file({ keys: [key({ secret })] }), 'k.json'));
  t.false(err.message.includes(secret));
});

test('keys file: loaded from disk, with errors naming the file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hms-auth-keys-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const good = join(dir, 'keys.json');
  await writeFile(good, KEYS_TEXT);
  const loaded = loadAuthKeys(good);
  t.is(loaded.source, good);
  t.deepEqual([...loaded.byId.keys()], ['k1', 'k2', 'any.key_3-x']);
  t.true(loaded.byId.get('k1')!.secret.export().equals(Buffer.from(SECRET_1, 'hex')));
  t.is(loaded.byId.get('any.key_3-x')!.services, null);

  const bad = join(dir, 'bad.json');
  await writeFile(bad, file({ keys: [key(), key({ id: 'k2', secret: 'ab'.repeat(20) })] }));
  t.throws(() => loadAuthKeys(bad), { instanceOf: ConfigError, message: `--auth-keys ${bad}: keys[1] ("k2"): secret must be at least 64 hex digits (got 40)` });
  const notJson = join(dir, 'not.json');
  await writeFile(notJson, 'keys: []');
  t.throws(() => loadAuthKeys(notJson), { instanceOf: ConfigError, message: new RegExp(`^--auth-keys ${notJson}: not JSON: `) });
  const missing = join(dir, 'missing.json');
  t.throws(() => loadAuthKeys(missing), { instanceOf: ConfigError, message: `--auth-keys ${missing}: ENOENT: no such file or directory, open '${missing}'` });
  t.throws(() => loadAuthKeys(dir), { instanceOf: ConfigError, message: new RegExp(`^--auth-keys ${dir}: EISDIR`) });
});

test('signingKeyFrom: the key to sign with, or an error listing the ids', (t) => {
  t.true(signingKeyFrom(keys, 'k2').secret.export().equals(Buffer.from(SECRET_2, 'hex')));
  t.throws(() => signingKeyFrom(keys, 'k7'), { instanceOf: ConfigError, message: '--key-id k7: no such key in --auth-keys keys.json (its ids: k1, k2, any.key_3-x)' });
});

test('speed (informative only): µs per sign and per verify', (t) => {
  const n = 100_000;
  const bufs: Buffer[] = new Array(n);
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) bufs[i] = sign(k1, JSON_TEXT, NOW_MS);
  const signUs = Number(process.hrtime.bigint() - t0) / 1e3 / n;
  const a = auth();
  let ok = 0;
  t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) if (a.verify(bufs[i], NOW).ok) ok++;
  const verifyUs = Number(process.hrtime.bigint() - t0) / 1e3 / n;
  const off = new DatagramAuth(null, { mode: 'off', windowUs: WINDOW });
  const unsigned = Buffer.from(JSON_TEXT);
  t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) if (off.verify(unsigned, NOW).ok) ok++;
  const offUs = Number(process.hrtime.bigint() - t0) / 1e3 / n;
  t.is(ok, 2 * n);
  t.log(`sign ${signUs.toFixed(2)} µs, verify ${verifyUs.toFixed(2)} µs, off-mode pass-through ${offUs.toFixed(3)} µs (${JSON_TEXT.length}-byte JSON, ${n} each)`);
});
