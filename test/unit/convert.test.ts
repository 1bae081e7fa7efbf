import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { CSV_HEADER, convertCommand, convertFile, ObjectScanner, type Scanned } from '../../src/convert/convert.js';
import type { CompatMode } from '../../src/core/message.js';

const NONE: ReadonlySet<CompatMode> = new Set();

async function tempDir(t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(os.tmpdir(), 'hms-convert-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `input`, converts it, and returns the result with the CSV text. */
async function convert(t: { teardown: (fn: () => Promise<void>) => void }, input: string, compat = NONE) {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'in.txt'), input);
  const result = await convertFile(join(dir, 'in.txt'), join(dir, 'out.csv'), { compat });
  return { ...result, csv: await readFile(join(dir, 'out.csv'), 'utf8'), dir };
}

test('JSON lines become CSV rows with ISO timestamps', async (t) => {
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
    `${CSV_HEADER}\n` + 'orders,2025-11-27T19:53:34.250Z,42.5,32,12.5,512,210.3\n' + 'payments,2023-11-14T22:13:20.123Z,0,8,8,100,0\n',
  );
});

test("the seed client's multi-line objects with trailing commas and nanosecond timestamps", async (t) => {
  const obj = (name: string, ns: string, cpu: number) =>
    `{\n    "serviceName": "${name}",\n    "Timestamp": ${ns},\n    "CPU": ${cpu},\n    "RAM": {\n        "Total": 16,\n        "Free": 4\n    },\n    "Disk": {\n        "Total": 256,\n        "Free": 128.5\n    }\n},\n`;
  const { records, errors, csv } = await convert(t, obj('auth', '1764273214250123000', 12.25) + obj('search', '1764273215000000000', 99));
  t.deepEqual(errors, []);
  t.is(records, 2);
  t.deepEqual(csv.trimEnd().split('\n').slice(1), [
    'auth,2025-11-27T19:53:34.250123Z,12.25,16,4,256,128.5',
    'search,2025-11-27T19:53:35.000Z,99,16,4,256,128.5',
  ]);
});

test('course dataset: Python dicts, CPU fraction becomes percent (with compat course)', async (t) => {
  const input =
    "{'serviceName': 'orders', 'Timestamp': 1764273214, 'CPU': 0.07, 'RAM': {'Total': 16, 'Free': 4.5}, 'Disk': {'Total': 500, 'Free': 250}}\n" +
    "{'serviceName': \"o'brien\", 'Timestamp': 1764273215.5, 'CPU': 0.955, 'RAM': {'Total': 16, 'Free': 4.25}, 'Disk': {'Total': 500, 'Free': 249}}\n";
  const ok = await convert(t, input, new Set<CompatMode>(['course']));
  t.deepEqual(ok.errors, []);
  t.deepEqual(ok.csv.trimEnd().split('\n').slice(1), [
    'orders,2025-11-27T19:53:34.000Z,7,16,4.5,500,250',
    "o'brien,2025-11-27T19:53:35.500Z,95.5,16,4.25,500,249",
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
  t.deepEqual(csv.trimEnd().split('\n').slice(1), ['"a,b ""c""",2025-11-27T19:53:34.000Z,1,1,1,1,1', "we}ird{',2025-11-27T19:53:34.000Z,2,1,1,1,1"]);
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
  t.is(rows[3000], 'svc-2999,2025-11-27T20:43:33.000Z,70,8,2,8,2');
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
    { line: 1, text: '{"a": "}{", \'b\': \'"\'}' },
    { line: 2, text: '{"c": {"d": 1}}' },
    { line: 3, reason: 'malformed_json', detail: 'text outside any object: junk' },
    { line: 4, reason: 'malformed_json', detail: 'unterminated string (line 4 ends inside it)' },
    { line: 5, text: '{"f": 1}' },
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
  t.is(await readFile(join(dir, 'c.csv'), 'utf8'), `${CSV_HEADER}\nc,2025-11-27T19:53:34.000Z,50,1,1,1,1\n`);
  t.is((await run(course, join(dir, 'c.csv'), '--compat=course')).code, 0);

  const none = await run();
  t.is(none.code, 2);
  t.regex(none.err, /missing IN/);
  const noOut = await run('in.json');
  t.is(noOut.code, 2);
  t.regex(noOut.err, /missing OUT\.csv/);
  const badMode = await run('in.json', 'out.csv', '--compat', 'python');
  t.is(badMode.code, 2);
  t.regex(badMode.err, /unknown compat mode "python"/);
  t.is((await run('in.json', 'out.csv', '--compat')).code, 2);
  t.is((await run('in.json', 'out.csv', '--frobnicate')).code, 2);
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
  child.stdin.end('{"serviceName": "s", "Timestamp": 1764273214, "CPU": 3, "RAM": {"Total": 2, "Free": 1}, "Disk": {"Total": 2, "Free": 1}}\n');
  const code = await new Promise((resolve) => child.on('close', resolve));
  t.is(code, 0, stderr);
  t.is(stdout, `converted 1 records to ${out}; 0 bad records\n`);
  t.is(await readFile(out, 'utf8'), `${CSV_HEADER}\ns,2025-11-27T19:53:34.000Z,3,2,1,2,1\n`);
});
