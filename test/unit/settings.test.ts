import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { DEFAULT_API_LIMITS } from '../../graphql/server.js';
import { AGENT_SETTINGS, bindHosts, ConfigError, CONVERT_SETTINGS, DEMO_SETTINGS, didYouMean, IMPORT_SETTINGS, isLoopback, loadConfig, MOCK_SETTINGS, settingsTable, TUI_SETTINGS } from '../../src/config/settings.js';

const load = (flags: Record<string, string>) => loadConfig({ flags, env: {} });

test('the README configuration tables are the settings registries, row for row', async (t) => {
  const readme = await readFile(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
  const value = (d: string) => (d === '' ? '(none)' : `\`${d}\``);
  for (const r of settingsTable()) {
    const row = `| \`${r.flag}\` | \`${r.env}\` | \`${r.key}\` | ${value(r.default)} | ${r.doc} |`;
    t.true(readme.includes(row), `README lacks or differs on: ${row}`);
  }
  for (const r of [...TUI_SETTINGS.table(), ...MOCK_SETTINGS.table(), ...DEMO_SETTINGS.table(), ...AGENT_SETTINGS.table(), ...CONVERT_SETTINGS.table(), ...IMPORT_SETTINGS.table()]) {
    const row = `| \`${r.flag}\` | \`${r.env}\` | ${value(r.default)} | ${r.doc} |`;
    t.true(readme.includes(row), `README lacks or differs on: ${row}`);
  }
});

test('no environment variable is read outside the registries', async (t) => {
  // Every HMS_ variable the program reads goes through src/config/settings.ts (and so into --help and the
  // README), but HMS_CONFIG, which names the config file, and the variables Hadoop hands the MapReduce tasks.
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const root = join(import.meta.dirname, '..', '..');
  const { stdout } = await promisify(execFile)('git', ['grep', '-n', '-E', 'process\\.env(\\.|\\[.)HMS_', '--', 'src', 'graphql', 'tui', 'mock', 'jobs', ':!jobs/mapreduce/task'], { cwd: root }).catch((e) => e);
  const direct = String(stdout ?? '')
    .split('\n')
    .filter((l) => l && !/process\.env\.HMS_CONFIG\b/.test(l));
  t.deepEqual(direct, [], 'HMS_ variables read directly');
});

test('--min-timestamp takes an ISO time or a date from 1970 on; anything else names the setting', (t) => {
  t.is(load({}).minTimestamp, Date.UTC(2000, 0, 1) * 1000);
  t.is(load({ minTimestamp: '2020-06-01' }).minTimestamp, Date.UTC(2020, 5, 1) * 1000);
  t.is(load({ minTimestamp: '1970-01-01T00:00:00Z' }).minTimestamp, 0);
  t.is(load({ minTimestamp: '2020-06-01T02:00:00+02:00' }).minTimestamp, Date.UTC(2020, 5, 1) * 1000);
  for (const bad of ['1969-12-31', 'yesterday', '2020-06-01T00:00:00', '0050-01-01']) {
    const err = t.throws(() => load({ minTimestamp: bad }), { instanceOf: ConfigError });
    t.regex(err!.message, /--min-timestamp \/ HMS_MIN_TIMESTAMP \/ "minTimestamp"/);
  }
});

test('--max-unflushed is a size', (t) => {
  t.is(load({}).maxUnflushed, 64 << 20);
  t.is(load({ maxUnflushed: '1MiB' }).maxUnflushed, 1 << 20);
  t.throws(() => load({ maxUnflushed: 'lots' }), { message: /--max-unflushed/ });
});

test('protected mode: a reachable bind needs authentication, the specific host flag wins, --insecure lifts it', (t) => {
  t.deepEqual(bindHosts(load({})), { udp: '127.0.0.1', http: '127.0.0.1' });
  t.deepEqual(bindHosts(load({ host: '::1', udpHost: '127.0.0.2' })), { udp: '127.0.0.2', http: '::1' });
  for (const h of ['127.0.0.1', '127.255.0.9', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) t.true(isLoopback(h), h);
  for (const h of ['0.0.0.0', '::', '10.0.0.5', '192.168.1.1', 'example.com', '128.0.0.1', '127.0.0.1.example.com']) t.false(isLoopback(h), h);
  t.throws(() => load({ host: '0.0.0.0' }), { instanceOf: ConfigError, message: /--auth-mode \/ HMS_AUTH_MODE \/ "authMode": UDP would listen on 0\.0\.0\.0.*add --auth-mode required --auth-keys FILE/ });
  t.notThrows(() => load({ udpHost: '10.0.0.5', authMode: 'required', authKeys: 'k.json' }), 'a reachable UDP with required signatures, HTTP on loopback');
  t.throws(() => load({ httpHost: '0.0.0.0' }), { message: /--api-tokens .*HTTP would listen on 0\.0\.0\.0.*add --api-tokens FILE/ });
  t.throws(() => load({ host: '0.0.0.0', authMode: 'optional', authKeys: 'k.json', apiTokens: 't' }), { message: /UDP would listen/ }, 'optional is not enough');
  t.notThrows(() => load({ host: '0.0.0.0', authMode: 'required', authKeys: 'k.json', apiTokens: 't' }));
  t.is(load({ host: '0.0.0.0', insecure: 'true' }).insecure, true);
  t.throws(() => load({ authMode: 'required' }), { message: /needs a keys file/ });
  t.throws(() => load({ authKeys: 'k.json' }), { message: /--auth-keys is set but signatures are off/ });
  t.throws(() => load({ tlsCert: 'c.pem' }), { message: /--tls-key.*go together/ });
});

test("the daemon's API limit settings default to the server's own defaults", (t) => {
  const c = load({});
  t.is(c.queryTimeout / 1000, DEFAULT_API_LIMITS.queryTimeoutMs);
  t.is(c.maxRequestBytes, DEFAULT_API_LIMITS.maxBodyBytes);
  t.is(c.maxDataFields, DEFAULT_API_LIMITS.maxDataFields);
  t.is(c.maxSubscriptions, DEFAULT_API_LIMITS.maxSubscriptions);
  t.is(c.maxSubscriptionsPerConnection, DEFAULT_API_LIMITS.maxSubscriptionsPerConnection);
});

test('an unknown option or file key is refused with the closest known name', (t) => {
  t.throws(() => load({ flushIntervl: '1s' }), { message: 'unknown option --flush-intervl; did you mean --flush-interval?' });
  t.throws(() => load({ bogus: '1' }), { message: 'unknown option --bogus' }, 'nothing close: no guess');
  t.throws(() => MOCK_SETTINGS.load({ flags: { rat: '5' }, env: {} }), { message: 'unknown option --rat; did you mean --rate?' });
  t.is(didYouMean('deamon', ['daemon', 'demo', 'mock'], (c) => c), '; did you mean daemon?');
  t.is(didYouMean('x', ['daemon'], (c) => c), '');
});

test('values the kind admits but the setting cannot take are refused, naming the setting', (t) => {
  t.is(load({ maxDatagramBytes: '65507' }).maxDatagramBytes, 65_507);
  t.throws(() => load({ maxDatagramBytes: '1MiB' }), {
    message: '--max-datagram-bytes / HMS_MAX_DATAGRAM_BYTES / "maxDatagramBytes": a UDP datagram carries at most 65507 bytes (got 1048576)',
  });
  t.is(load({ webhookUrl: 'https://hooks.example/x' }).webhookUrl, 'https://hooks.example/x');
  for (const bad of ['notaurl', 'ftp://x/y', 'mailto:ops@example.com']) {
    t.throws(() => load({ webhookUrl: bad }), { message: new RegExp(`^--webhook-url .*expected an http\\(s\\) URL .*got "${bad.replace(/[.?]/g, '\\$&')}"`) }, bad);
  }
});
