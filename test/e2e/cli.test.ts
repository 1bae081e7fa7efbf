/** The command line through the real process: help and version on every command, unknown input refused with a guess. */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { settingsTable } from '../../src/config/settings.js';
import { CLI } from '../helpers/daemon.js';

const run = (args: string[]) =>
  promisify(execFile)(process.execPath, ['--import', 'tsx', CLI, ...args], { timeout: 60_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

test('--help and -h on every command print its usage and exit 0', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--help'], /hms daemon .*\n.*hms mock/],
    [['-h'], /hms daemon .*\n.*hms mock/],
    [['daemon', '--help'], /--auth-mode\s+HMS_AUTH_MODE\s+"authMode"\s+"off"\s+Signed datagrams/],
    [['mock', '-h'], /--key-id\s+HMS_MOCK_KEY_ID/],
    [['tui', '--help'], /--token\s+HMS_TOKEN/],
    [['demo', '--help'], /hms demo: .*\n\n\s+--data-dir\s+HMS_DEMO_DATA_DIR/],
    [['convert', '--help'], /usage: hms convert IN OUT\.csv/],
  ];
  for (const [args, usage] of cases) {
    const r = await run(args);
    t.is(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stdout, usage, args.join(' '));
  }
});

test('--version prints the package version', async (t) => {
  const { version } = JSON.parse(await readFile(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V']) {
    const r = await run([flag]);
    t.is(r.code, 0);
    t.is(r.stdout, `hms ${version}\n`);
  }
});

test('unknown commands and options are refused with exit 2 and the closest name', async (t) => {
  const cases: [string[], string][] = [
    [['deamon'], 'hms: unknown command "deamon"; did you mean hms daemon?'],
    [['mock', '--rat', '5'], 'hms: unknown option --rat; did you mean --rate?'],
    [['mock', '--bogus', '1'], 'hms: unknown option --bogus\n'],
    [['tui', '--tokn', 'x'], 'hms: unknown option --tokn; did you mean --token?'],
    [['demo', '--data-dri', '/tmp/x'], 'hms: unknown option --data-dri; did you mean --data-dir?'],
    [['daemon', '--flush-intervl', '1s'], 'hms: unknown option --flush-intervl; did you mean --flush-interval?'],
  ];
  for (const [args, message] of cases) {
    const r = await run(args);
    t.is(r.code, 2, args.join(' '));
    t.true(r.stderr.startsWith(message), `${args.join(' ')}: ${r.stderr}`);
  }
});

test('daemon --help: every column starts at the same place on every row, the file key included', async (t) => {
  const { stdout } = await run(['daemon', '--help']);
  const rows = settingsTable();
  const lines = stdout.split('\n').filter((l) => l.startsWith('  --'));
  t.is(lines.length, rows.length + 1, 'every setting and --config');
  const at = (line: string, text: string) => line.indexOf(`  ${text}`) + 2;
  const columns = rows.map((r, i) => {
    const line = lines[i];
    t.true(line.startsWith(`  ${r.flag} `), line);
    return [at(line, r.env), at(line, `"${r.key}"`), line.indexOf(`${JSON.stringify(r.default)}  `, at(line, `"${r.key}"`) + r.key.length + 2)];
  });
  for (const [i, c] of columns.entries()) t.deepEqual(c, columns[0], lines[i]);
});
