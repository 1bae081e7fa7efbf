import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { CLI, type Daemon, message, sendUdp, startDaemon } from '../helpers/daemon.js';
import { startSshd } from '../helpers/sshd.js';
import { Tmux } from '../helpers/tmux.js';

// The real `hms tui` in a real pseudo-terminal (tmux), against the real daemon fed over real UDP.

const cleanups: (() => Promise<unknown>)[] = [];
test.after.always(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

/** Thresholds that fire at once (no `for`), so the screen shows CRIT and WARN without waiting 30 s. */
async function instantRules(): Promise<string> {
  const path = join(tmpdir(), `hms-tui-rules-${process.pid}.json`);
  const now = { for: '0s' };
  await writeFile(path, JSON.stringify({ defaults: { cpu: now, ram: now, disk: now } }));
  return path;
}

async function fedDaemon(args: string[] = [], dataDir?: string): Promise<Daemon> {
  const d = await startDaemon(['--batch-schedule', 'off', '--rules', await instantRules(), ...args], dataDir);
  cleanups.push(() => d.stop('SIGKILL'));
  const now = Date.now() / 1000;
  const payloads: string[] = [];
  for (let i = 0; i < 20; i++) {
    payloads.push(message('alpha', now - 60 + i, 20 + i));
    payloads.push(message('bravo', now - 60 + i, 97)); // CRIT on CPU
    payloads.push(message('charlie', now - 60 + i, 50, 8, 10)); // disk 90 % used: WARN
  }
  await sendUdp(d.udpPort, payloads);
  return d;
}

const tuiCommand = (url: string) => `${process.execPath} --import tsx ${CLI} tui --url ${url}`;

test.serial('the dashboard shows live health worst first; filter, detail, rejections, Esc and q work; the terminal is restored', async (t) => {
  const d = await fedDaemon();
  // Two datagrams the daemon refuses, one with a terminal escape that must not reach the screen raw.
  await sendUdp(d.udpPort, ['not json at all', '{"service":"evil\u001b[2J"']);
  const term = new Tmux();
  cleanups.push(() => term.kill());
  await term.start(tuiCommand(d.url), 100, 30, { NO_COLOR: '1', TERM: 'xterm-256color', TZ: 'America/New_York' });
  const screen = await term.waitFor(/CRIT\s+bravo[\s\S]*WARN\s+charlie[\s\S]*OK\s+alpha/);
  const rows = screen.split('\n');
  const rowOf = (name: string) => rows.findIndex((l) => l.includes(` ${name} `));
  t.true(rowOf('bravo') < rowOf('charlie') && rowOf('charlie') < rowOf('alpha'), screen);
  t.regex(rows[rowOf('bravo')], /CRIT/);
  t.regex(rows[rowOf('charlie')], /WARN/);
  t.regex(rows[rowOf('alpha')], /OK/);
  t.regex(rows[rowOf('bravo')], /97%/);
  // The daemon's reason, in the row (a SILENT reason comes first once the burst of messages is 10 s old).
  t.regex(rows[rowOf('bravo')], /cpu 97% >= 95%|no message for/);
  t.true(await term.alternateOn());

  // The alerts pane, from the daemon's rules: the CRIT service's CPU alert is firing, ahead of the WARNs.
  await term.keys('a');
  const pane = await term.waitFor(/✖ CRIT\s+bravo\s+cpu\s+FIRING/);
  t.regex(pane, /Alerts: \d+ firing/);
  const lines = pane.split('\n');
  const crit = lines.findIndex((l) => /CRIT\s+bravo\s+cpu\s+FIRING/.test(l));
  const warn = lines.findIndex((l) => /WARN\s+charlie\s+disk\s+FIRING/.test(l));
  t.true(warn > crit, pane);
  await term.keys('Escape');
  await term.waitFor(/HEALTH▼\s+SERVICE/);

  // The rejections pane, from the daemon's own sample: the reason, and the datagram shown with its escape spelled out.
  await term.keys('x');
  const rejects = await term.waitFor(/Newest rejected datagrams as of \d\d:\d\d:\d\d EST: 2 kept/);
  t.regex(rejects, /Rejected 2 of \d+ received/);
  t.regex(rejects, /\s2 100\.0% {2}malformed_json/);
  t.regex(rejects, /from 127\.0\.0\.1:\d+ {2}not json at all/);
  t.true(rejects.includes('{"service":"evil\\u{1b}[2J"'), rejects);
  await term.keys('Escape');
  await term.waitFor(/HEALTH▼\s+SERVICE/);

  // Keys sent in one go arrive in one read, backspaces among them: the filter is "cha", not "xycha".
  await term.keys('/', 'x', 'y', 'BSpace', 'BSpace', 'c', 'h', 'a', 'Enter');
  const filtered = await term.waitFor(/matching \/cha/);
  t.false(filtered.includes(' alpha '));
  t.true(filtered.includes(' charlie '));

  await term.keys('Enter');
  const detail = await term.waitFor(/messages: batch \d+ \+ realtime \d+/);
  t.regex(detail, /charlie/);
  t.regex(detail, /20 messages: batch 0 \+ realtime 20/);
  t.regex(detail, /Disk used %\s+90\.0\s+90\.0\s+90\.0/);
  t.regex(detail, /CPU %\s+50\.0/);
  t.regex(detail, /peak \(EST\)/, 'times in the local zone (TZ), named');
  await term.keys('u');
  await term.waitFor(/peak \(UTC\)/);

  await term.keys('Escape');
  await term.waitFor(/HEALTH▼\s+SERVICE/);
  await term.resize(80, 24);
  await term.waitFor(/charlie/);
  await term.keys('q');
  const after = await term.waitFor('EXIT:0');
  t.false(await term.alternateOn());
  t.false(after.includes('Error'));
});

test.serial('connection loss: stale data stays, the dashboard says it reconnects, and resumes when the daemon returns', async (t) => {
  const d = await fedDaemon();
  const term = new Tmux();
  cleanups.push(() => term.kill());
  await term.start(tuiCommand(d.url), 100, 30, { NO_COLOR: '1' });
  await term.waitFor('bravo');
  t.is(await d.stop('SIGTERM'), 0);
  const lost = await term.waitFor(/reconnecting/i);
  t.regex(lost, /STALE/i);
  t.true(lost.includes('bravo'), 'the last data stays on screen');
  // The daemon comes back on the same port with the same data.
  const again = await startDaemon(['--batch-schedule', 'off', '--http-port', String(d.httpPort)], d.dataDir);
  cleanups.push(() => again.stop('SIGKILL'));
  await sendUdp(again.udpPort, [message('delta', Date.now() / 1000, 10)]);
  const back = await term.waitFor('delta');
  t.false(/STALE/i.test(back.split('\n').slice(0, 3).join('\n')), back);
  await term.keys('q');
  await term.waitFor('EXIT:0');
});

test.serial('over a real ssh -t session to localhost', async (t) => {
  const d = await fedDaemon();
  const sshd = await startSshd();
  cleanups.push(() => sshd.stop());
  const term = new Tmux();
  cleanups.push(() => term.kill());
  const root = join(dirname(CLI), '..');
  const remote = `cd ${root} && NO_COLOR=1 ${tuiCommand(d.url)}`;
  await term.start(`ssh ${sshd.sshArgs.join(' ')} '${remote}'`, 80, 24);
  const screen = await term.waitFor('bravo');
  t.regex(screen, /CRIT/);
  await term.keys('q');
  await term.waitFor('EXIT:0');
  t.false(await term.alternateOn());
});

test.serial('SIGHUP (an SSH session dropping) ends the dashboard with the terminal restored', async (t) => {
  const d = await fedDaemon();
  const term = new Tmux();
  cleanups.push(() => term.kill());
  await term.start(tuiCommand(d.url), 100, 30, { NO_COLOR: '1' });
  await term.waitFor('bravo');
  await promisify(execFile)('pkill', ['-HUP', '-f', `tui --url ${d.url}$`]);
  const after = await term.waitFor(/EXIT:\d+/);
  t.regex(after, /EXIT:129/);
  t.false(await term.alternateOn());
});

test.serial('hms demo runs daemon, mock fleet and dashboard; quitting stops all three', async (t) => {
  const term = new Tmux();
  cleanups.push(() => term.kill());
  await term.start(`${process.execPath} --import tsx ${CLI} demo`, 100, 30, { NO_COLOR: '1' });
  await term.waitFor(/orders[\s\S]*payments|payments[\s\S]*orders/);
  await term.keys('q');
  const after = await term.waitFor('EXIT:0');
  const dir = /data kept in (\S+)\)/.exec(after)?.[1];
  t.truthy(dir, after);
  const running = await promisify(execFile)('pgrep', ['-f', `--data-dir ${dir}`]).then(
    (r) => r.stdout.trim(),
    () => '',
  );
  t.is(running, '', 'the daemon is gone');
});
