import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import fc from 'fast-check';
import { CSV_HEADER, convertCommand, convertFile, formatTimestamp, ObjectScanner, type Scanned, type TimestampUnit } from '../../src/convert/convert.js';
import type { CompatMode } from '../../src/core/message.js';

const NONE: ReadonlySet<CompatMode> = new Set();

async function tempDir(t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(os.tmpdir(), 'hms-convert-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `input`, converts it, and returns the result with the CSV text. */
async function convert(t: { teardown: (fn: () => Promise<void>) => void }, input: string, compat = NONE, timestampUnit?: TimestampUnit) {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'in.txt'), input);
  const result = await convertFile(join(dir, 'in.txt'), join(dir, 'out.csv'), { compat, timestampUnit });
  return { ...result, csv: await readFile(join(dir, 'out.csv'), 'utf8'), dir };
}

test("JSON lines become CSV rows with the seed's integer epoch seconds", async (t) => {
  const input = [
    '{"serviceName": "orders", "Timestamp": 1764273214.25, "CPU": 42.5, "RAM": {"Total": 32, "Free": 12.5}, "Disk": {"Total": 512, "Free": 210.3}}',
    '{"serviceName": "payments", "Timestamp": 1700000000123, "CPU": 0, "RAM": {"Total": 8, "Free": 8}, "Disk": {"Total": 100, "Free": 0}}',
    '',
  ].join('\n');
  const { records, errors, csv } = await convert(t, input);
  t.is(records, 2);
  t.deepEqual(errors, []);
  t.is(
    csv,
    `${CSV_HEADER}\n` + 'orders,1764273214,42.5,32,12.5,512,210.3\n' + 'payments,1700000000,0,8,8,100,0\n',
  );
});

test("the seed client's multi-line objects with trailing commas and nanosecond timestamps, CPU a fraction (with compat seed)", async (t) => {
  const obj = (name: string, ns: string, cpu: number) =>
    `{\n    "serviceName": "${name}",\n    "Timestamp": ${ns},\n    "CPU": ${cpu},\n    "RAM": {\n        "Total": 16,\n        "Free": 4\n    },\n    "Disk": {\n        "Total": 256,\n        "Free": 128.5\n    }\n},\n`;
  const input = obj('auth', '1764273214250123000', 0.1225) + obj('search', '1764273215000000000', 0.07);
  const { records, errors, csv } = await convert(t, input, new Set<CompatMode>(['seed']), 'iso');
  t.deepEqual(errors, []);
  t.is(records, 2);
  t.deepEqual(csv.trimEnd().split('\n').slice(1), ['auth,2025-11-27T19:53:34.250123Z,12.25,16,4,256,128.5', 'search,2025-11-27T19:53:35.000Z,7,16,4,256,128.5']);
  // Without the mode, each object alone is strict JSON: nothing is guessed, its CPU is read as a percentage.
  const strict = await convert(t, input);
  t.deepEqual(strict.csv.trimEnd().split('\n').slice(1), ['auth,1764273214,0.1225,16,4,256,128.5', 'search,1764273215,0.07,16,4,256,128.5']);
});

test('course dataset: Python dicts, CPU fraction becomes percent (with compat course)', async (t) => {
  const input =
    "{'serviceName': 'orders', 'Timestamp': 1764273214, 'CPU': 0.07, 'RAM': {'Total': 16, 'Free': 4.5}, 'Disk': {'Total': 500, 'Free': 250}}\n" +
    "{'serviceName': \"o'brien\", 'Timestamp': 1764273215.5, 'CPU': 0.955, 'RAM': {'Total': 16, 'Free': 4.25}, 'Disk': {'Total': 500, 'Free': 249}}\n";
  const ok = await convert(t, input, new Set<CompatMode>(['course']));
  t.deepEqual(ok.errors, []);
  t.deepEqual(ok.csv.trimEnd().split('\n').slice(1), [
    'orders,1764273214,7,16,4.5,500,250',
    "o'brien,1764273215,95.5,16,4.25,500,249",
  ]);
  // Without the compat mode nothing is guessed: both lines are refused, and the reason says what to enable.
  const strict = await convert(t, input);
  t.is(strict.records, 0);
  t.deepEqual(
    strict.errors.map((e) => [e.line, e.reason]),
    [
      [1, 'malformed_json'],
      [2, 'malformed_json'],
    ],
  );
  t.regex(strict.errors[0].detail, /compat mode "course"/);
  t.is(strict.csv, `${CSV_HEADER}\n`);
});

test('bad records are reported with the line they start on and do not stop the rest', async (t) => {
  const good = (name: string) => `{"serviceName": "${name}", "Timestamp": 1764273214, "CPU": 1, "RAM": {"Total": 1, "Free": 1}, "Disk": {"Total": 1, "Free": 1}}`;
  const input = [
    good('a'), // 1
    'not json at all', // 2
    good('b'), // 3
    '{"serviceName": "c", "Timestamp": 1764273214, "CPU": 150, "RAM": {"Total": 1, "Free": 1}, "Disk": {"Total": 1, "Free": 1}}', // 4
    '{"serviceName": "truncated", "CPU": ', // 5: never closed, the next line starts a new object
    good('d'), // 6
    '{"serviceName": "e", "Timestamp": 1764273214, "CPU": 1}', // 7
    '{"serviceName": "unterminated, "CPU": 1}', // 8: string runs to the end of the line
    '', // 9
    '{', // 10: multi-line object whose RAM is missing, reported at the line it starts
    '  "serviceName": "f", "Timestamp": 1764273214, "CPU": 1,',
    '  "Disk": {"Total": 1, "Free": 1}',
    '}',
    good('g'), // 14
    '{"serviceName": "h", "Timestamp": 1764273214', // 15: input ends inside it
  ].join('\n');
  const { records, errors, csv } = await convert(t, input);
  t.is(records, 4);
  t.deepEqual(
    csv
      .trimEnd()
      .split('\n')
      .slice(1)
      .map((row) => row.split(',')[0]),
    ['a', 'b', 'd', 'g'],
  );
  t.deepEqual(
    errors.map((e) => [e.line, e.reason]),
    [
      [2, 'malformed_json'],
      [4, 'range'],
      [5, 'malformed_json'],
      [7, 'schema'],
      [8, 'malformed_json'],
      [10, 'schema'],
      [15, 'malformed_json'],
    ],
  );
  t.regex(errors[1].detail, /CPU 150/);
  t.regex(errors[5].detail, /RAM/);
});

test('service names with commas, quotes or braces are quoted in the CSV and never split the scan', async (t) => {
  const input =
    JSON.stringify({ serviceName: 'a,b "c"', Timestamp: 1764273214, CPU: 1, RAM: { Total: 1, Free: 1 }, Disk: { Total: 1, Free: 1 } }) +
    JSON.stringify({ serviceName: "we}ird{'", Timestamp: 1764273214, CPU: 2, RAM: { Total: 1, Free: 1 }, Disk: { Total: 1, Free: 1 } });
  const { records, errors, csv } = await convert(t, input);
  t.deepEqual(errors, []);
  t.is(records, 2);
  t.deepEqual(csv.trimEnd().split('\n').slice(1), ['"a,b ""c""",1764273214,1,1,1,1,1', "we}ird{',1764273214,2,1,1,1,1"]);
});

test('objects split across read chunks convert the same as small input', async (t) => {
  // Larger than the 64 KiB read chunk, with multi-line objects so boundaries fall inside them.
  let input = '';
  for (let i = 0; i < 3000; i++) {
    input += `{\n  "serviceName": "svc-${i}",\n  "Timestamp": ${1764273214 + i},\n  "CPU": ${i % 101},\n  "RAM": {"Total": 8, "Free": 2},\n  "Disk": {"Total": 8, "Free": 2}\n},\n`;
  }
  const { records, errors, csv } = await convert(t, input);
  t.deepEqual(errors, []);
  t.is(records, 3000);
  const rows = csv.trimEnd().split('\n');
  t.is(rows.length, 3001);
  t.is(rows[3000], 'svc-2999,1764276213,70,8,2,8,2');
});

test('the scanner gives the same pieces whatever the chunking', (t) => {
  const text = '{"a": "}{", \'b\': \'"\'}\n,{"c": {"d": 1}},\n junk\n{"e": "x\n{"f": 1}';
  const whole: Scanned[] = [];
  const scanner = new ObjectScanner();
  scanner.push(text, whole);
  scanner.end(whole);
  const pieces: Scanned[] = [];
  const bytewise = new ObjectScanner();
  for (const c of text) bytewise.push(c, pieces);
  bytewise.end(pieces);
  t.deepEqual(pieces, whole);
  t.deepEqual(whole, [
    { line: 1, text: '{"a": "}{", \'b\': \'"\'}', comma: true },
    { line: 2, text: '{"c": {"d": 1}}', comma: true },
    { line: 3, reason: 'malformed_json', detail: 'text outside any object: junk' },
    { line: 4, reason: 'malformed_json', detail: 'unterminated string (line 4 ends inside it)' },
    { line: 5, text: '{"f": 1}', comma: false },
  ]);
});

test('a failed conversion leaves no output or temp file behind', async (t) => {
  const dir = await tempDir(t);
  await t.throwsAsync(convertFile(join(dir, 'missing.json'), join(dir, 'out.csv'), { compat: NONE }), { code: 'ENOENT' });
  t.deepEqual(await readdir(dir), []);
});

function capture() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d) => {
    text += d;
  });
  return { stream, text: () => text };
}

test('convertCommand: exit 0, 1 and 2, the summary and one line per bad record', async (t) => {
  const dir = await tempDir(t);
  const good = '{"serviceName": "a", "Timestamp": 1764273214, "CPU": 1, "RAM": {"Total": 1, "Free": 1}, "Disk": {"Total": 1, "Free": 1}}';
  await writeFile(join(dir, 'good.json'), `${good}\n${good}\n`);
  await writeFile(join(dir, 'mixed.json'), `${good}\n{"serviceName": "b", "Timestamp": 1764273214, "CPU": -1, "RAM": {"Total": 1, "Free": 1}, "Disk": {"Total": 1, "Free": 1}}\n`);
  const course = join(dir, 'course.txt');
  await writeFile(course, "{'serviceName': 'c', 'Timestamp': 1764273214, 'CPU': 0.5, 'RAM': {'Total': 1, 'Free': 1}, 'Disk': {'Total': 1, 'Free': 1}}\n");

  const run = async (...argv: string[]) => {
    const out = capture();
    const err = capture();
    const code = await convertCommand(argv, out.stream, err.stream);
    return { code, out: out.text(), err: err.text() };
  };

  const ok = await run(join(dir, 'good.json'), join(dir, 'good.csv'));
  t.is(ok.code, 0);
  t.is(ok.out, `converted 2 records to ${join(dir, 'good.csv')}; 0 bad records\n`);
  t.is(ok.err, '');

  const mixed = await run(join(dir, 'mixed.json'), join(dir, 'mixed.csv'));
  t.is(mixed.code, 1);
  t.is(mixed.out, `converted 1 records to ${join(dir, 'mixed.csv')}; 1 bad records\n`);
  t.is(mixed.err, `${join(dir, 'mixed.json')}:2: range: CPU -1 outside 0-100\n`);

  t.is((await run(course, join(dir, 'c.csv'))).code, 1);
  const withCompat = await run(course, join(dir, 'c.csv'), '--compat', 'seed,course');
  t.is(withCompat.code, 0);
  t.is(await readFile(join(dir, 'c.csv'), 'utf8'), `${CSV_HEADER}\nc,1764273214,50,1,1,1,1\n`);
  t.is((await run(course, join(dir, 'c.csv'), '--compat=course')).code, 0);

  const none = await run();
  t.is(none.code, 2);
  t.regex(none.err, /missing IN/);
  const noOut = await run('in.json');
  t.is(noOut.code, 2);
  t.regex(noOut.err, /missing OUT\.csv/);
  const badMode = await run('in.json', 'out.csv', '--compat', 'python');
  t.is(badMode.code, 2);
  t.regex(badMode.err, /--compat \/ HMS_CONVERT_COMPAT \/ "compat": expected a comma-separated list of seed, course, got "python"/);
  t.is((await run('in.json', 'out.csv', '--compat')).code, 2);
  const unknown = await run('in.json', 'out.csv', '--timestamp-unti', 'ms');
  t.is(unknown.code, 2);
  t.true(unknown.err.startsWith('hms convert: unknown option --timestamp-unti; did you mean --timestamp-unit?\n'), unknown.err);
  const badUnit = await run('in.json', 'out.csv', '--timestamp-unit', 'min');
  t.is(badUnit.code, 2);
  t.regex(badUnit.err, /--timestamp-unit \/ HMS_CONVERT_TIMESTAMP_UNIT \/ "timestampUnit": expected one of s, ms, us, ns, iso, got "min"/);
  t.is((await run(join(dir, 'good.json'), join(dir, 'good-ms.csv'), '--timestamp-unit=ms')).code, 0);
  t.is(await readFile(join(dir, 'good-ms.csv'), 'utf8'), `${CSV_HEADER}\na,1764273214000,1,1,1,1,1\na,1764273214000,1,1,1,1,1\n`);
  const missing = await run(join(dir, 'nope.json'), join(dir, 'nope.csv'));
  t.is(missing.code, 2);
  t.regex(missing.err, /ENOENT/);
});

test('IN "-" reads stdin', async (t) => {
  const dir = await tempDir(t);
  const out = join(dir, 'out.csv');
  const module = fileURLToPath(new URL('../../src/convert/convert.ts', import.meta.url));
  const script = `import { convertCommand } from ${JSON.stringify(module)}; process.exitCode = await convertCommand(['-', ${JSON.stringify(out)}], process.stdout, process.stderr);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  child.stdin.on('error', () => {}); // a child that fails early: its exit code and stderr say why
  child.stdin.end('{"serviceName": "s", "Timestamp": 1764273214, "CPU": 3, "RAM": {"Total": 2, "Free": 1}, "Disk": {"Total": 2, "Free": 1}}\n');
  const code = await new Promise((resolve) => child.on('close', resolve));
  t.is(code, 0, stderr);
  t.is(stdout, `converted 1 records to ${out}; 0 bad records\n`);
  t.is(await readFile(out, 'utf8'), `${CSV_HEADER}\ns,1764273214,3,2,1,2,1\n`);
});

test('every timestamp unit, exact where the unit can hold the microseconds and cut down (floor) where not', (t) => {
  const us = Date.UTC(2025, 10, 27, 19, 53, 34) * 1000 + 999_999;
  t.is(formatTimestamp(us, 's'), '1764273214');
  t.is(formatTimestamp(us, 'ms'), '1764273214999');
  t.is(formatTimestamp(us, 'us'), '1764273214999999');
  t.is(formatTimestamp(us, 'ns'), '1764273214999999000');
  t.is(formatTimestamp(us, 'iso'), '2025-11-27T19:53:34.999999Z');
  // The last microsecond of a second, as late as a safe integer goes (2255): still that second.
  t.is(formatTimestamp(8_999_999_999_999_999, 's'), '8999999999');
  t.is(formatTimestamp(8_999_999_999_999_999, 'ms'), '8999999999999');
  t.is(formatTimestamp(Date.UTC(2025, 0, 1) * 1000, 'ns'), `${Date.UTC(2025, 0, 1)}000000`);
});

test("the default timestamp column is what Java's Long.parseLong reads: digits only, the seconds floored", async (t) => {
  const input = ['1764273214', '1764273214.999999', '1764273214000', '1764273214250123', '1764273214250123456', '"2025-11-27T19:53:34.5+01:00"']
    .map((ts) => `{"serviceName":"a","Timestamp":${ts},"CPU":1,"RAM":{"Total":1,"Free":1},"Disk":{"Total":1,"Free":1}}`)
    .join('\n');
  const { csv, errors } = await convert(t, input);
  t.deepEqual(errors, []);
  const column = csv
    .trimEnd()
    .split('\n')
    .slice(1)
    .map((row) => row.split(',')[1]);
  // Long.parseLong accepts an optional sign and decimal digits, nothing else (no point, no exponent).
  for (const ts of column) t.regex(ts, /^[0-9]+$/);
  t.deepEqual(column, ['1764273214', '1764273214', '1764273214', '1764273214', '1764273214', '1764269614']);
});

/** The CSV read back: each row's numbers as parsed from its text. */
const parseCsv = (csv: string) =>
  csv
    .trimEnd()
    .split('\n')
    .slice(1)
    .map((row) => row.split(',').slice(1).map(Number));

test('property: the CSV reads back to exactly the numbers decoded, in every unit (no digit lost)', async (t) => {
  const value = fc.oneof(fc.double({ min: 0, max: 1e6, noNaN: true }), fc.integer({ min: 0, max: 1e6 }), fc.double({ min: 0, max: 1e-5, noNaN: true }));
  const message = fc
    .record({
      ts: fc.integer({ min: Date.UTC(2000, 0, 1) * 1000, max: Date.UTC(2100, 0, 1) * 1000 }),
      cpu: fc.double({ min: 0, max: 100, noNaN: true }),
      ram: fc.tuple(value, value),
      disk: fc.tuple(value, value),
    })
    .map(({ ts, cpu, ram, disk }) => ({ ts, cpu, ramTotal: Math.max(...ram) || 1, ramFree: Math.min(...ram), diskTotal: Math.max(...disk) || 1, diskFree: Math.min(...disk) }));
  const dir = await tempDir(t);
  const perUnit = { s: 1e6, ms: 1e3, us: 1 };
  await fc.assert(
    fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 20 }), fc.constantFrom<'s' | 'ms' | 'us' | 'ns'>('s', 'ms', 'us', 'ns'), async (msgs, unit) => {
      const input = msgs.map((m) => JSON.stringify({ serviceName: 'p', Timestamp: m.ts, CPU: m.cpu, RAM: { Total: m.ramTotal, Free: m.ramFree }, Disk: { Total: m.diskTotal, Free: m.diskFree } }));
      await writeFile(join(dir, 'in.json'), input.join('\n'));
      const result = await convertFile(join(dir, 'in.json'), join(dir, 'out.csv'), { compat: NONE, timestampUnit: unit });
      t.deepEqual(result.errors, []);
      const expected = msgs.map((m) => [unit === 'ns' ? m.ts * 1000 : Math.floor(m.ts / perUnit[unit]), m.cpu, m.ramTotal, m.ramFree, m.diskTotal, m.diskFree]);
      t.deepEqual(parseCsv(await readFile(join(dir, 'out.csv'), 'utf8')), expected);
    }),
    { numRuns: 200 },
  );
});
