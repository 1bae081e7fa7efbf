/**
 * The systemd units in deploy/: systemd's own checker passes them, and what they start is this package's
 * entry point with a command it has. The units are not started here (no systemd as PID 1 on this machine).
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { AGENT_SETTINGS, settingsTable } from '../../src/config/settings.js';
import { CLI } from '../helpers/daemon.js';

const ROOT = join(import.meta.dirname, '..', '..');
const UNITS = { daemon: join(ROOT, 'deploy', 'hms-daemon.service'), agent: join(ROOT, 'deploy', 'hms-agent.service') };
/** Where `npm install -g` puts this package with Node's usual prefix /usr (Debian's and NodeSource's node). */
const INSTALLED = '/usr/lib/node_modules/hms/';

const verifier = spawnSync('systemd-analyze', ['--version']).status === 0;

/** `Key=value` lines of a unit, by key (a key may repeat). */
async function directives(path: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const line of (await readFile(path, 'utf8')).split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) out.set(m[1], [...(out.get(m[1]) ?? []), m[2]]);
  }
  return out;
}

const verify = (...paths: string[]) =>
  promisify(execFile)('systemd-analyze', ['verify', ...paths]).then(
    ({ stderr }) => ({ code: 0, stderr }),
    (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
  );

test('systemd-analyze verify passes both units without a warning, and fails a broken one', async (t) => {
  if (!verifier) {
    if (process.env.CI) t.fail('systemd-analyze required in CI (Debian package systemd)');
    else t.log('skipped: no systemd-analyze (Debian package systemd)');
    return t.pass();
  }
  const r = await verify(UNITS.daemon, UNITS.agent);
  t.deepEqual(r, { code: 0, stderr: '' });
  // The checker is real: an unknown directive and a missing program are reported.
  const dir = await mkdtemp(join(tmpdir(), 'hms-units-'));
  const broken = join(dir, 'hms-broken.service');
  await writeFile(broken, (await readFile(UNITS.agent, 'utf8')).replace('NoNewPrivileges=yes', 'NoNewPrivilege=yes').replace('/usr/bin/node ', '/usr/bin/no-such-node '));
  const bad = await verify(broken);
  t.not(bad.code, 0);
  t.regex(bad.stderr, /Unknown key 'NoNewPrivilege'/);
  t.regex(bad.stderr, /no-such-node is not executable/);
});

test("each unit runs this package's entry point (as installed by npm -g) with a command it has, as user hms, hardened", async (t) => {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { bin: { hms: string } };
  for (const [command, path] of Object.entries(UNITS)) {
    const d = await directives(path);
    const [node, script, ...args] = d.get('ExecStart')![0].split(' ');
    t.is(node, '/usr/bin/node', 'node itself, so SIGTERM reaches the process (npx does not pass it on)');
    t.is(script, `${INSTALLED}${pkg.bin.hms}`, "the package's bin entry");
    t.deepEqual(args, [command]);
    // The command exists: its --help runs (from the sources: the bin entry is their build).
    const help = spawnSync(process.execPath, ['--import', 'tsx', CLI, command, '--help'], { encoding: 'utf8' });
    t.is(help.status, 0, help.stderr);
    t.regex(help.stdout, new RegExp(`^hms ${command}: `));
    t.deepEqual(d.get('User'), ['hms']);
    t.deepEqual(d.get('EnvironmentFile'), [`-/etc/hms/${command}.env`]);
    t.deepEqual(d.get('Restart'), ['on-failure']);
    t.deepEqual(d.get('RestartPreventExitStatus'), ['2'], 'a configuration error (exit 2) is not restarted in a loop');
    for (const key of ['NoNewPrivileges', 'PrivateTmp', 'PrivateDevices']) t.deepEqual(d.get(key), ['yes'], key);
    t.deepEqual(d.get('ProtectSystem'), ['strict']);
    t.truthy(d.get('ProtectHome'));
    t.false(d.has('MemoryDenyWriteExecute'), "V8's JIT needs it off");
  }
  const daemon = await directives(UNITS.daemon);
  t.deepEqual(daemon.get('StateDirectory'), ['hms']);
  t.deepEqual(daemon.get('Environment'), ['HMS_DATA_DIR=/var/lib/hms'], 'the data dir is the StateDirectory (the env file may move it)');
  t.deepEqual(daemon.get('KillMode'), ['mixed'], 'SIGTERM to the daemon, which stops its ingest workers');
  t.deepEqual((await directives(UNITS.agent)).get('ProtectHome'), ['read-only'], 'statfs of a --disk under /home sees the real file system');
});

test('every HMS_ variable the README shows for the env files is a setting of that command', async (t) => {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Deploying'), readme.indexOf('\n## ', readme.indexOf('## Deploying') + 1));
  const known = new Set([...settingsTable(), ...AGENT_SETTINGS.table()].map((r) => r.env));
  const shown = [...section.matchAll(/^(HMS_[A-Z_]+)=/gm)].map((m) => m[1]);
  t.true(shown.length >= 4, `env file lines in the README's Deploying section: ${shown.join(', ')}`);
  for (const name of shown) t.true(known.has(name), name);
});
