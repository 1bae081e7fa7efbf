/**
 * --log-format through the real daemon: human lines for a person (a terminal, or asked for), JSON lines for a
 * collector (a pipe, which is what supervisors, the demo and the test helpers read).
 */
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import test from 'ava';
import { CLI, killedAfterwards, waitFor } from '../helpers/daemon.js';
import { killAll, nodeProcess, processes } from '../helpers/processes.js';
import { Tmux } from '../helpers/tmux.js';

const startDaemon = killedAfterwards(test);

/** pino-pretty's first line of an entry: local time with its UTC offset, level, pid, message. */
const prettyLine = (msg: string) => new RegExp(`^\\[\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}\\.\\d{3} [+-]\\d{4}\\] INFO \\(\\d+\\): ${msg}$`, 'm');

const isJson = (line: string) => {
  try {
    return typeof JSON.parse(line) === 'object';
  } catch {
    return false;
  }
};

const daemonArgs = async () => ['--import', 'tsx', CLI, 'daemon', '--data-dir', await mkdtemp(join(tmpdir(), 'hms-logs-')), '--udp-port', '0', '--http-port', '0'];

test('--log-format pretty on a pipe: human lines, "daemon ready" among them, and the last line before exit', async (t) => {
  const proc = spawn(process.execPath, [...(await daemonArgs()), '--log-format', 'pretty'], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => proc.kill('SIGKILL'));
  const lines: string[] = [];
  createInterface({ input: proc.stderr }).on('line', (l) => lines.push(l));
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  await waitFor('the ready line', async () => prettyLine('daemon ready').test(lines.join('\n')));
  const ready = lines.find((l) => l.endsWith('daemon ready'))!;
  t.false(isJson(ready), ready);
  t.regex(lines.join('\n'), /daemon ready\n {4}udpPort: \d+\n {4}httpPort: \d+/, 'its fields, one a line below it');
  proc.kill('SIGTERM');
  t.is(await exited, 0);
  t.regex(lines.join('\n'), prettyLine('daemon stopped'), 'written synchronously: not lost at the exit');
});

test('the default on a pipe is JSON lines, every one of them', async (t) => {
  const d = await startDaemon();
  await d.stop();
  t.true(d.logs.length > 3);
  for (const line of d.logs) t.true(isJson(line), line);
  t.true(d.logs.some((l) => JSON.parse(l).msg === 'daemon stopped'));
});

test('on a terminal: human lines by default, JSON with --log-format json', async (t) => {
  for (const [flags, expected] of [
    ['', prettyLine('daemon ready')],
    [' --log-format json', /"msg":"daemon ready"/],
  ] as const) {
    const term = new Tmux();
    t.teardown(() => term.kill());
    const args = await daemonArgs();
    // Wide enough that a JSON line is not wrapped on the screen.
    await term.start(`${process.execPath} ${args.join(' ')}${flags}`, 400, 40, { NO_COLOR: '1' });
    await term.waitFor(expected);
    const daemon = nodeProcess(await processes(), `daemon --data-dir ${args[5]}`);
    if (!daemon) return t.fail('no daemon process');
    t.teardown(() => killAll([daemon]));
    process.kill(daemon.pid, 'SIGTERM');
    const screen = await term.waitFor(/EXIT:\d+/);
    t.regex(screen, /EXIT:0/);
    t.is(/daemon stopped/.test(screen), true, screen);
    if (flags === '') t.false(screen.split('\n').some((l) => l.startsWith('{')), 'no JSON line on the terminal');
  }
});

test('an unknown --log-format is refused, naming the setting', async (t) => {
  const proc = spawn(process.execPath, [...(await daemonArgs()), '--log-format', 'fancy'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => {
    stderr += d;
  });
  t.is(await new Promise((resolve) => proc.once('exit', resolve)), 2);
  t.regex(stderr, /--log-format \/ HMS_LOG_FORMAT \/ "logFormat": expected one of auto, json, pretty, got "fancy"/);
});
