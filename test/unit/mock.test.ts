import dgram from 'node:dgram';
import { statfsSync } from 'node:fs';
import os from 'node:os';
import test, { type ExecutionContext } from 'ava';
import { type Behaviour, behaviourOf, isSilent, profileOf, type Reading, sample, sampleProfile, serviceName } from '../../mock/behaviours.js';
import { type MockOptions, runFleet } from '../../mock/fleet.js';
import { formatMessage } from '../../src/core/message.js';
import { Evaluator } from '../../src/health/evaluator.js';
import { parseRulesConfig } from '../../src/health/rules.js';
import { DEFAULT_MIN_TIMESTAMP_US, type DecodeOptions, decodeText } from '../../src/ingest/decode.js';
import type { HealthMessage } from '../../src/core/message.js';

const STRICT: DecodeOptions = { maxBytes: 8192, maxFutureUs: 300_000_000, minTimestampUs: DEFAULT_MIN_TIMESTAMP_US, compat: new Set() };
const EPOCH_US = Date.UTC(2026, 10, 27, 10, 0, 0) * 1000;
const SEED = 42;

const usedPct = (r: { Total: number; Free: number }) => ((r.Total - r.Free) / r.Total) * 100;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Readings of one service every `stepS` seconds over [fromS, toS); undefined where silent. */
function series(index: number, fromS: number, toS: number, stepS: number, seed = SEED): { t: number; r: Reading | undefined }[] {
  const p = profileOf(index, seed);
  const out = [];
  for (let t = fromS; t < toS; t += stepS) out.push({ t, r: sampleProfile(p, t) });
  return out;
}

const indexOf = (b: Behaviour): number => [0, 1, 2, 3, 4].find((i) => behaviourOf(i) === b)!;

test('services are named like a shop, then numbered', (t) => {
  t.deepEqual(
    Array.from({ length: 10 }, (_, i) => serviceName(i)),
    ['orders', 'payments', 'inventory', 'search', 'auth', 'shipping', 'email', 'reports', 'svc-009', 'svc-010'],
  );
  // A five-service fleet already shows every failure shape.
  t.deepEqual([0, 1, 2, 3, 4].map(behaviourOf).sort(), ['crasher', 'daily', 'disk-fill', 'leak', 'spiker']);
});

test('same seed gives identical messages, another seed different ones', (t) => {
  const run = (seed: number) => {
    const out: (string | undefined)[] = [];
    for (let i = 0; i < 12; i++) for (let s = 0; s < 1800; s += 1.37) out.push(sample(i, s, seed) && formatMessage(sample(i, s, seed)!, EPOCH_US));
    return out;
  };
  const a = run(SEED);
  t.deepEqual(run(SEED), a);
  const b = run(SEED + 1);
  const differing = a.filter((m, k) => m !== b[k]).length;
  t.true(differing > a.length * 0.9, `only ${differing} of ${a.length} messages differ between seeds`);
});

test('every generated message passes the strict decoder with the values it was built from', (t) => {
  let checked = 0;
  for (const seed of [1, 42, 2026, 0xffffffff]) {
    for (let i = 0; i < 16; i++) {
      for (let s = 0; s < 7200; s += 3.7) {
        const r = sample(i, s, seed);
        if (!r) continue;
        const tsUs = EPOCH_US + Math.round(s * 1e6);
        const text = formatMessage(r, tsUs);
        const d = decodeText(text, tsUs, STRICT);
        if (!d.ok) return t.fail(`${text} rejected: ${d.reason} ${d.detail}`);
        const expected: HealthMessage = {
          service: r.serviceName,
          ts: tsUs,
          cpu: r.CPU,
          ramTotal: r.RAM.Total,
          ramFree: r.RAM.Free,
          diskTotal: r.Disk.Total,
          diskFree: r.Disk.Free,
        };
        if (JSON.stringify(d.msg) !== JSON.stringify(expected)) return t.deepEqual(d.msg, expected);
        checked++;
      }
    }
  }
  t.true(checked > 100_000);
});

test('timestamps keep microseconds exactly', (t) => {
  const text = formatMessage(sample(0, 1, SEED)!, 1764273214000007);
  t.regex(text, /"Timestamp":1764273214\.000007,/);
  const d = decodeText(text, 1764273214000007, STRICT);
  t.true(d.ok && d.msg.ts === 1764273214000007);
});

// Behaviour signatures are checked under several seeds: they must not hold by luck of one draw.
const SEEDS = [1, SEED, 2026];

test('leak: RAM used climbs through the cycle, then a restart resets it', (t) => {
  for (const seed of SEEDS) leakShows(t, seed);
});

function leakShows(t: ExecutionContext, seed: number) {
  const i = indexOf('leak');
  const p = profileOf(i, seed);
  const ram = (s: number) => usedPct(sample(i, s, seed)!.RAM);
  const early = ram(p.cycleS * 0.05);
  const late = ram(p.cycleS * 0.95);
  t.true(late > early + 30, `RAM used ${early.toFixed(1)}% -> ${late.toFixed(1)}%`);
  t.true(late > 85);
  // Minute by minute it only grows within one cycle.
  const minutes = series(i, 0, p.cycleS - 60, 60, seed).map(({ r }) => usedPct(r!.RAM));
  t.true(
    minutes.every((v, k) => k === 0 || v > minutes[k - 1]),
    minutes.map((v) => v.toFixed(1)).join(' '),
  );
  t.true(ram(p.cycleS + 5) < early + 5, 'no reset after the restart');
}

test('disk filler: passes 90% used after 20-30 minutes, then cleanup', (t) => {
  for (const seed of SEEDS) diskFillShows(t, seed);
});

function diskFillShows(t: ExecutionContext, seed: number) {
  const i = indexOf('disk-fill');
  const p = profileOf(i, seed);
  const points = series(i, 0, p.cycleS, 10, seed).map(({ t: s, r }) => ({ s, used: usedPct(r!.Disk) }));
  t.true(points[0].used < 50);
  const over90 = points.find((x) => x.used > 90);
  t.truthy(over90);
  t.true(over90!.s >= 20 * 60 && over90!.s <= 30 * 60, `over 90% at ${over90!.s} s`);
  // Visible within minutes: at least 1.5 points of disk per minute.
  t.true(points[18].used - points[0].used > 4.5);
  t.true(usedPct(sample(i, p.cycleS + 30, seed)!.Disk) < 50, 'no cleanup after the cycle');
  // Other services' disks barely move over the same half hour.
  const steady = series(0, 0, p.cycleS, 60, seed).map(({ r }) => usedPct(r!.Disk));
  t.true(Math.max(...steady) - Math.min(...steady) < 1);
}

test('crasher: goes silent for 60-90 s every few minutes and comes back', (t) => {
  for (const seed of SEEDS) crasherShows(t, seed);
});

function crasherShows(t: ExecutionContext, seed: number) {
  const i = indexOf('crasher');
  const points = series(i, 0, 20 * 60, 1, seed);
  const stretches: { from: number; length: number }[] = [];
  for (const { t: s, r } of points) {
    const last = stretches.at(-1);
    if (r) continue;
    if (last && last.from + last.length === s) last.length++;
    else stretches.push({ from: s, length: 1 });
  }
  t.true(stretches.length >= 3, `${stretches.length} silent stretches in 20 min`);
  for (const { from, length } of stretches.slice(0, -1)) t.true(length >= 60 && length <= 91, `silent ${length} s from ${from} s`);
  t.true(stretches[0].from > 60 && stretches[0].from < 6 * 60, `first crash at ${stretches[0].from} s`);
  t.truthy(points.at(-1)!.r ?? points.at(-100)!.r, 'never comes back');
  // Only the crasher ever goes silent.
  for (const other of [0, 1, 2, 3]) t.false(series(other, 0, 20 * 60, 1, seed).some(({ r }) => r === undefined));
  t.true(isSilent(profileOf(i, seed), stretches[0].from));
}

test('spiker: bursts to 95-100% CPU that outlast the 30 s `for`, over a low median', (t) => {
  for (const seed of SEEDS) spikerShows(t, seed);
});

function spikerShows(t: ExecutionContext, seed: number) {
  const i = indexOf('spiker');
  const points = series(i, 0, 30 * 60, 0.5, seed);
  const cpu = points.map(({ r }) => r!.CPU);
  const high = cpu.filter((c) => c >= 95);
  t.true(Math.max(...cpu) <= 100);
  t.true(median(cpu) < 25, `median ${median(cpu)}`);
  const share = high.length / cpu.length;
  t.true(share > 0.05 && share < 0.35, `${(share * 100).toFixed(1)}% of the time at >= 95%`);
  // Each burst is one stretch at >= 95 % lasting 45 s or more; the first starts within two minutes.
  const bursts: { from: number; length: number }[] = [];
  for (const { t: s, r } of points) {
    if (r!.CPU < 95) continue;
    const last = bursts.at(-1);
    if (last && last.from + last.length === s) last.length += 0.5;
    else bursts.push({ from: s, length: 0.5 });
  }
  t.true(bursts.length >= 4, `${bursts.length} bursts in 30 min`);
  // A burst still going when the series ends is cut short by the end, not by the behaviour.
  const complete = bursts.filter((b) => b.from + b.length < 30 * 60);
  for (const { from, length } of complete) t.true(length >= 45 && length <= 80, `burst of ${length} s at ${from} s`);
  t.true(bursts[0]!.from < 120, `first burst at ${bursts[0]!.from} s`);
  // A daily-cycle service never spikes like that.
  t.true(Math.max(...series(0, 0, 30 * 60, 0.5, seed).map(({ r }) => r!.CPU)) < 95);
}

test('spiker: the default rules fire a CPU CRIT within three minutes, and once per burst', (t) => {
  for (const seed of SEEDS) {
    const i = indexOf('spiker');
    const p = profileOf(i, seed);
    const ev = new Evaluator(parseRulesConfig(undefined), { startUs: EPOCH_US });
    const crit: { fired: number; resolved?: number }[] = [];
    // The demo's rate: two messages a second; the daemon evaluates every second.
    for (let s = 0; s < 30 * 60; s += 0.5) {
      const r = sampleProfile(p, s)!;
      const us = EPOCH_US + s * 1e6;
      ev.observe(
        { service: r.serviceName, ts: us, cpu: r.CPU, ramTotal: r.RAM.Total, ramFree: r.RAM.Free, diskTotal: r.Disk.Total, diskFree: r.Disk.Free },
        us,
      );
      if (s % 1 !== 0) continue;
      for (const a of ev.evaluate(us)) {
        if (a.rule !== 'cpu' || a.severity !== 'CRIT') continue;
        if (a.state === 'FIRING') crit.push({ fired: s });
        else crit.at(-1)!.resolved = s;
      }
    }
    t.true(crit.length > 0 && crit[0]!.fired <= 180, `seed ${seed}: first CPU CRIT at ${crit[0]?.fired} s`);
    // No flapping: every alert resolves before the next fires, and there are no more alerts than bursts.
    const bursts = Math.ceil((30 * 60) / p.cycleS);
    t.true(crit.length >= 3 && crit.length <= bursts, `seed ${seed}: ${crit.length} CPU CRIT alerts for at most ${bursts} bursts`);
    for (const [k, a] of crit.slice(0, -1).entries()) t.true(a.resolved !== undefined && a.resolved < crit[k + 1]!.fired);
  }
});

test('daily services swing with the day', (t) => {
  const p = profileOf(0, SEED);
  const day = series(0, 0, 86_400, 600).map(({ r }) => r!.CPU);
  t.true(Math.max(...day) - Math.min(...day) > p.cpuSwing, `daily range ${Math.min(...day)}-${Math.max(...day)}`);
});

/** A UDP receiver on an ephemeral port that keeps every datagram as text. */
async function receiver(t: { teardown: (fn: () => void) => void }) {
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 * 1024 * 1024 });
  const messages: string[] = [];
  socket.on('message', (buf) => messages.push(buf.toString('utf8')));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  t.teardown(() => socket.close());
  return { port: socket.address().port, messages };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 200));

test('a real UDP run delivers rate * services * duration decodable messages', async (t) => {
  const rx = await receiver(t);
  const opts: MockOptions = { target: { host: '127.0.0.1', port: rx.port }, services: 4, rate: 250, duration: 1, seed: 7, real: false };
  const progress: number[] = [];
  const started = Date.now();
  const { sent } = await runFleet(opts, (p) => progress.push(p.sent));
  await settle();
  t.is(sent, 1000);
  t.is(progress.at(-1), sent);
  t.true(Date.now() - started < 5000, 'a 1 s run ends, it does not run on');
  t.true(rx.messages.length >= 980, `received ${rx.messages.length} of ${sent}`);
  const nowUs = Date.now() * 1000;
  const byService = new Map<string, number[]>();
  for (const text of rx.messages) {
    const d = decodeText(text, nowUs, STRICT);
    if (!d.ok) return t.fail(`${text}: ${d.reason} ${d.detail}`);
    const ts = byService.get(d.msg.service) ?? [];
    ts.push(d.msg.ts);
    byService.set(d.msg.service, ts);
  }
  t.deepEqual([...byService.keys()].sort(), ['inventory', 'orders', 'payments', 'search']);
  for (const ts of byService.values()) {
    ts.sort((a, b) => a - b);
    t.true(Math.abs(ts[1] - ts[0] - 4000) <= 1, 'messages of one service are 1/rate apart');
    t.true(Math.abs(ts[0] - started * 1000) < 1_000_000, 'timestamps are about now');
  }
  // Phases are spread: no two services start in the same microsecond.
  t.is(new Set([...byService.values()].map((ts) => ts[0])).size, 4);
});

test('the same seed sends the same values on the wire as sample() computes', async (t) => {
  const rx = await receiver(t);
  await runFleet({ target: { host: '127.0.0.1', port: rx.port }, services: 2, rate: 20, duration: 0.5, seed: 99, real: false });
  await settle();
  t.is(rx.messages.length, 20);
  const first = JSON.parse(rx.messages.find((m) => m.includes('"orders"'))!);
  const expected = sample(0, 0, 99)!;
  t.deepEqual({ CPU: first.CPU, RAM: first.RAM, Disk: first.Disk }, { CPU: expected.CPU, RAM: expected.RAM, Disk: expected.Disk });
});

test('abort stops an endless run and reports what was sent', async (t) => {
  const rx = await receiver(t);
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 300);
  const { sent } = await runFleet({ target: { host: '127.0.0.1', port: rx.port }, services: 8, rate: 100, seed: 1, real: false }, undefined, controller.signal);
  await settle();
  t.true(sent >= 150 && sent <= 400, `sent ${sent} in 0.3 s at 800/s`);
  t.is(rx.messages.length, sent);
});

test('--real reports this host from every service', async (t) => {
  const rx = await receiver(t);
  await runFleet({ target: { host: '127.0.0.1', port: rx.port }, services: 3, rate: 10, duration: 0.5, seed: 1, real: true });
  await settle();
  t.is(rx.messages.length, 15);
  const GB = 1024 ** 3;
  const fs = statfsSync('/');
  const names = new Set<string>();
  for (const text of rx.messages) {
    const d = decodeText(text, Date.now() * 1000, STRICT);
    if (!d.ok) return t.fail(`${text}: ${d.reason}`);
    names.add(d.msg.service);
    t.true(Math.abs(d.msg.ramTotal - os.totalmem() / GB) < 0.001);
    t.true(Math.abs(d.msg.diskTotal - (fs.blocks * fs.bsize) / GB) < 0.001);
    t.true(d.msg.cpu >= 0 && d.msg.cpu <= 100);
  }
  t.deepEqual([...names].sort(), ['inventory', 'orders', 'payments']);
});

test('bad options are refused before anything is sent', async (t) => {
  const base: MockOptions = { target: { host: '127.0.0.1', port: 3500 }, services: 8, rate: 1, seed: 1, real: false };
  await t.throwsAsync(runFleet({ ...base, rate: 0 }), { instanceOf: RangeError, message: /rate/ });
  await t.throwsAsync(runFleet({ ...base, services: 1.5 }), { instanceOf: RangeError, message: /services/ });
  await t.throwsAsync(runFleet({ ...base, target: { host: '127.0.0.1', port: 0 } }), { instanceOf: RangeError, message: /port/ });
});
