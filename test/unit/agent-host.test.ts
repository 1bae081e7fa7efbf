/** Reading this host for `hms agent` and `hms mock --real`: the /proc/stat delta arithmetic and the parsers, then the real /proc. */
import { readFileSync, statfsSync } from 'node:fs';
import test from 'ava';
import fc from 'fast-check';
import { cpuPercent, hostReader, parseMeminfo, parseProcStat, readDisk } from '../../src/agent/host.js';
import { AGENT_SETTINGS, parseTarget } from '../../src/config/settings.js';

const RUNS = Number(process.env.HMS_PROPERTY_RUNS ?? 10_000);
const counters = fc.array(fc.nat({ max: Number.MAX_SAFE_INTEGER }), { minLength: 4, maxLength: 10 });

test('CPU is within [0, 100] for any pair of counter lines, backwards-running counters included', (t) => {
  fc.assert(
    fc.property(counters, counters, (prev, now) => {
      const cpu = cpuPercent(prev, now);
      return Number.isFinite(cpu) && cpu >= 0 && cpu <= 100;
    }),
    { numRuns: RUNS },
  );
  t.pass();
});

test('only idle and iowait ticks give 0 %, only busy ticks 100 %, and a mix their share', (t) => {
  fc.assert(
    fc.property(counters, fc.nat({ max: 1e9 }), fc.nat({ max: 1e9 }), (prev, idle, iowait) => {
      const now = [...prev];
      now[3] += idle;
      if (now.length > 4) now[4] += iowait;
      return cpuPercent(prev, now) === 0;
    }),
    { numRuns: RUNS },
  );
  fc.assert(
    fc.property(counters, fc.integer({ min: 0, max: 7 }), fc.integer({ min: 1, max: 1e9 }), (prev, field, ticks) => {
      const now = [...prev];
      if (field >= now.length || field === 3 || field === 4) return true;
      now[field] += ticks;
      return cpuPercent(prev, now) === 100;
    }),
    { numRuns: RUNS },
  );
  // user 30 + system 10 busy, idle 50 + iowait 10 idle: 40 %. guest (field 8) is already in user: not counted twice.
  t.is(cpuPercent([0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [30, 0, 10, 50, 10, 0, 0, 0, 25, 0]), 40);
  t.is(cpuPercent([5, 5, 5, 5], [5, 5, 5, 5]), 0, 'no ticks between the reads');
  t.is(cpuPercent([100, 0, 0, 100, 50], [120, 0, 0, 180, 20]), 20, 'iowait running backwards counts as no ticks');
});

test('parsers read the kernel formats and refuse what they cannot read', (t) => {
  t.deepEqual(parseProcStat('cpu  10039 0 4522 87279 538 0 230 954 0 0\ncpu0 5000 0 2000 40000 200 0 100 400 0 0\n'), [10039, 0, 4522, 87279, 538, 0, 230, 954]);
  t.deepEqual(parseProcStat('cpu 1 2 3 4\n'), [1, 2, 3, 4], 'an old kernel with four fields');
  for (const bad of ['', 'cpu0 1 2 3 4', 'cpu 1 2 x 4', 'cpu 1 2']) t.throws(() => parseProcStat(bad), { message: /no "cpu" line/ }, bad);
  t.deepEqual(parseMeminfo('MemTotal:       24683584 kB\nMemFree:        24293012 kB\nMemAvailable:   24309076 kB\n'), {
    total: 24683584 * 1024,
    available: 24309076 * 1024,
  });
  t.throws(() => parseMeminfo('MemTotal: 100 kB\nMemFree: 50 kB\n'), { message: /no MemAvailable/ });
});

test('the reader reports this host: totals exact to the rounding, CPU a delta within [0, 100]', async (t) => {
  const read = hostReader('/');
  await new Promise((r) => setTimeout(r, 200));
  const r = read();
  const { total } = parseMeminfo(readFileSync('/proc/meminfo', 'latin1'));
  const fs = statfsSync('/');
  t.is(r.RAM.Total, Math.round((total / 1024 ** 3) * 1000) / 1000);
  t.is(r.Disk.Total, Math.round(((fs.blocks * fs.bsize) / 1024 ** 3) * 1000) / 1000);
  t.true(r.RAM.Free > 0 && r.RAM.Free <= r.RAM.Total);
  t.true(r.Disk.Free >= 0 && r.Disk.Free <= r.Disk.Total);
  t.true(r.CPU >= 0 && r.CPU <= 100);
  t.throws(() => readDisk('/no/such/path'), { code: 'ENOENT' });
  t.throws(() => readDisk('/proc'), { message: /size 0 \(not a disk\)/ }, 'a pseudo file system');
});

test('targets: a name, an IPv4 address or a bracketed IPv6 address, and a port 1-65535', (t) => {
  const setting = AGENT_SETTINGS.describe('target');
  t.deepEqual(parseTarget('monitor.example:3500', setting), { host: 'monitor.example', port: 3500 });
  t.deepEqual(parseTarget('10.0.0.5:1', setting), { host: '10.0.0.5', port: 1 });
  t.deepEqual(parseTarget('[::1]:65535', setting), { host: '::1', port: 65535 });
  for (const bad of ['monitor', 'monitor:', ':3500', 'monitor:0', 'monitor:65536', '::1:3500', 'a b:3500', 'host:35x', 'http://x:3500']) {
    t.throws(() => parseTarget(bad, setting), { message: /^--target \/ HMS_AGENT_TARGET \/ "target": expected HOST:PORT/ }, bad);
  }
});
