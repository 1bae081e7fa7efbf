#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { buildApp } from './daemon/app.js';
import { parseFlags } from './cli-flags.js';
import {
  AGENT_INTERVAL_US,
  AGENT_SETTINGS,
  ConfigError,
  CONVERT_SETTINGS,
  DAEMON_SETTINGS,
  DEMO_SETTINGS,
  didYouMean,
  IMPORT_SETTINGS,
  loadConfig,
  MOCK_SETTINGS,
  parseTarget,
  readSettingFile,
  type Settings,
  type Spec,
  type SettingsOf,
  settingsTable,
  TUI_SETTINGS,
} from './config/settings.js';
import { createLogger } from './log.js';

const USAGE = `hms: health monitor for microservice fleets

  hms daemon  [--data-dir DIR] [--udp-port 3500] [--http-port 4000] [--host 127.0.0.1] [--config FILE] ...
  hms mock    [--target HOST:PORT] [--services N] [--rate MSGS_PER_S_EACH] [--duration S] [--seed N] [--real]
              [--auth-keys FILE --key-id ID]
  hms agent   --service NAME [--target HOST:PORT] [--interval 10s] [--disk PATH] [--auth-keys FILE --key-id ID]
  hms tui     [--url http(s)://HOST:PORT/graphql] [--token TOKEN] [--ca FILE]
  hms demo    [--data-dir DIR]
  hms convert IN OUT.csv [--compat seed,course] [--timestamp-unit s|ms|us|ns|iso]
  hms import  (--data-dir DIR | --url http://HOST:PORT/graphql) [--format jsonl|csv] [--compat seed,course] FILE...
  hms --version

'hms COMMAND --help' lists the settings of a command with their environment variables and defaults.`;

const COMMANDS = ['daemon', 'mock', 'agent', 'tui', 'demo', 'convert', 'import'];

/** This package's version: package.json sits two levels above dist/src/cli.js (and above src/ under tsx). */
function version(): string {
  for (const up of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'hms' && pkg.version) return pkg.version;
    } catch {
      // not this level
    }
  }
  return 'unknown';
}

const fail = (message: string, code = 2): number => {
  process.stderr.write(`hms: ${message}\n`);
  return code;
};

/** `--help` of a command: its settings as an aligned table (flag, environment variable, default, meaning). */
type SettingRow = { flag: string; env: string; key?: string; default: string; doc: string };

/** `--help` of a command: its settings as an aligned table (flag, environment variable, config-file key for the daemon, default, meaning). */
function printSettings(title: string, rows: SettingRow[], fileKeys = false): void {
  const cols: ((r: SettingRow) => string)[] = [(r) => r.flag, (r) => r.env];
  if (fileKeys) cols.push((r) => (r.key ? `"${r.key}"` : ''));
  cols.push((r) => JSON.stringify(r.default));
  const widths = cols.map((c) => Math.max(...rows.map((r) => c(r).length)));
  process.stdout.write(`${title}\n\n`);
  for (const r of rows) process.stdout.write(`  ${cols.map((c, i) => c(r).padEnd(widths[i])).join('  ')}  ${r.doc}\n`);
}

const wantsHelp = (argv: string[]) => argv.includes('--help') || argv.includes('-h');

/**
 * A command's settings from its flags and the environment; null when `--help` was asked for and printed. Throws
 * ConfigError for an unexpected argument or a bad or unknown setting.
 */
function commandSettings<S extends Record<string, Spec>>(command: string, what: string, settings: Settings<S>, argv: string[]): SettingsOf<S> | null {
  if (wantsHelp(argv)) {
    printSettings(`hms ${command}: ${what} (flag > environment > default)`, settings.table());
    return null;
  }
  const { flags, positionals } = parseFlags(argv, settings.booleans());
  if (positionals.length) throw new ConfigError(`unexpected argument "${positionals[0]}" (see hms ${command} --help)`);
  return settings.load({ flags, env: process.env });
}

/** Aborted by the first SIGINT or SIGTERM: how the sending commands stop. */
function stopSignal(): AbortSignal {
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  process.once('SIGTERM', () => ac.abort());
  return ac.signal;
}

async function daemon(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) {
    printSettings('hms daemon: settings (flag > environment > config file > default)', [
      ...settingsTable(),
      { flag: '--config FILE', env: 'HMS_CONFIG', default: '', doc: 'JSON file with the keys of the settings above' },
    ], true);
    return 0;
  }
  const { flags, positionals } = parseFlags(argv, DAEMON_SETTINGS.booleans());
  if (positionals.length) return fail(`unexpected argument "${positionals[0]}" (see hms daemon --help)`);
  const file = flags.config ?? process.env.HMS_CONFIG;
  delete flags.config;
  const config = loadConfig({ flags, env: process.env, file });
  const log = createLogger(config.logLevel, config.logFormat);
  const app = buildApp(config, log);
  let exitCode = 0;
  const stop = (signal: string) => {
    log.info({ signal }, 'shutting down');
    // One shutdown path with a hard limit: a stuck close must not keep the port busy forever.
    setTimeout(() => {
      log.error('shutdown took longer than 10 s; exiting');
      process.exit(1);
    }, 10_000).unref();
    app.stop().then(
      () => process.exit(exitCode),
      (err) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  // Started with an IPC channel (by hms demo): it closes when the parent dies, by any signal, SIGKILL included.
  if (process.channel) process.once('disconnect', () => stop('parent gone'));
  process.on('SIGHUP', () => app.reload());
  try {
    await app.start();
  } catch (err) {
    exitCode = 1;
    log.fatal({ err }, 'daemon failed to start');
    process.stderr.write(`hms daemon: ${(err as Error).message}\n`);
    await app.stop().catch(() => undefined);
    return 1;
  }
  return new Promise<number>(() => {}); // runs until a signal
}

/** Signs datagrams with the key `keyId` of the keys file `authKeys` (`--auth-keys FILE --key-id ID`); neither: no signing. */
async function signer(
  settings: typeof MOCK_SETTINGS | typeof AGENT_SETTINGS,
  authKeys: string,
  keyId: string,
  service?: string,
): Promise<((json: string) => Buffer) | undefined> {
  if (Boolean(authKeys) !== Boolean(keyId)) throw new ConfigError(`${settings.describe(authKeys ? 'keyId' : 'authKeys')}: --auth-keys and --key-id go together`);
  if (!authKeys) return undefined;
  const [{ loadAuthKeys, signingKeyFrom }, { signDatagram }] = await Promise.all([import('./ingest/datagram-auth.js'), import('./core/sign.js')]);
  const key = signingKeyFrom(loadAuthKeys(authKeys), keyId);
  if (service !== undefined && !key.allows(service)) {
    throw new ConfigError(`${settings.describe('keyId')}: key ${keyId} may send only for ${key.services?.join(', ')}, not for "${service}" (the daemon would refuse it: service_not_allowed)`);
  }
  return (json) => signDatagram(key, json, Date.now());
}

async function mock(argv: string[]): Promise<number> {
  const s = commandSettings('mock', 'a fleet of mock services sending health over UDP', MOCK_SETTINGS, argv);
  if (!s) return 0;
  const { host, port } = parseTarget(s.target, MOCK_SETTINGS.describe('target'));
  const { runFleet } = await import('../mock/fleet.js');
  const { services, rate, duration, seed, real, authKeys, keyId } = s;
  if (rate <= 0 || services < 1) throw new ConfigError('--rate must be > 0 and --services at least 1');
  const sign = await signer(MOCK_SETTINGS, authKeys, keyId);
  process.stderr.write(`hms mock: ${services} services x ${rate} msg/s -> ${host}:${port}${sign ? `, signed with key ${keyId}` : ''}\n`);
  const stop = stopSignal();
  const { sent } = await runFleet(
    { target: { host, port }, services, rate, duration: duration > 0 ? duration : undefined, seed, real, sign },
    (p) => process.stderr.write(`\rhms mock: sent ${p.sent} in ${p.elapsedS.toFixed(0)} s   `),
    stop,
  );
  process.stderr.write(`\nhms mock: sent ${sent} messages\n`);
  return 0;
}

async function agent(argv: string[]): Promise<number> {
  const s = commandSettings('agent', "reports this host's CPU, RAM and disk to the daemon over UDP", AGENT_SETTINGS, argv);
  if (!s) return 0;
  const [{ serviceNameProblem }, { readDisk }, { runAgent }] = await Promise.all([import('./ingest/decode.js'), import('./agent/host.js'), import('./agent/agent.js')]);
  const problem = s.service ? serviceNameProblem(s.service) : 'required: the name this host reports as, e.g. --service db-1';
  if (problem) throw new ConfigError(`${AGENT_SETTINGS.describe('service')}: ${problem}`);
  if (s.interval < AGENT_INTERVAL_US.min || s.interval > AGENT_INTERVAL_US.max) throw new ConfigError(`${AGENT_SETTINGS.describe('interval')}: expected 1s to 1h, got ${s.interval / 1e6} s`);
  const target = parseTarget(s.target, AGENT_SETTINGS.describe('target'));
  try {
    readDisk(s.disk);
  } catch (err) {
    throw new ConfigError(`${AGENT_SETTINGS.describe('disk')}: ${(err as Error).message}`);
  }
  const sign = await signer(AGENT_SETTINGS, s.authKeys, s.keyId, s.service);
  const log = createLogger(s.logLevel, s.logFormat);
  const stop = stopSignal();
  log.info({ service: s.service, target: s.target, intervalS: s.interval / 1e6, disk: s.disk, keyId: s.keyId || undefined }, 'agent started');
  const { sent, unsent } = await runAgent({ service: s.service, target, intervalMs: s.interval / 1000, disk: s.disk, sign }, log, stop);
  log.info({ sent, unsent }, 'agent stopped');
  await new Promise<void>((resolve) => log.flush(() => resolve()));
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'daemon':
        return await daemon(rest);
      case 'mock':
        return await mock(rest);
      case 'agent':
        return await agent(rest);
      case 'convert': {
        const { CONVERT_USAGE, convertCommand } = await import('./convert/convert.js');
        if (wantsHelp(rest)) {
          printSettings(`${CONVERT_USAGE}\n\nJSON health messages to the seed's CSV (flag > environment > default)`, CONVERT_SETTINGS.table());
          return 0;
        }
        return await convertCommand(rest, process.stdout, process.stderr);
      }
      case 'import': {
        const { IMPORT_USAGE, importCommand } = await import('./import/import-command.js');
        if (wantsHelp(rest)) {
          printSettings(`${IMPORT_USAGE}\n\nBulk-loads history into the master dataset (flag > environment > default)`, IMPORT_SETTINGS.table());
          return 0;
        }
        return await importCommand(rest);
      }
      case 'tui': {
        const s = commandSettings('tui', 'the terminal dashboard', TUI_SETTINGS, rest);
        if (!s) return 0;
        const { runTui } = await import('../tui/main.js');
        const { url, token, ca } = s;
        return await runTui({ url, token: token || undefined, ca: ca ? readSettingFile(ca, TUI_SETTINGS.describe('ca')) : undefined });
      }
      case 'demo': {
        if (wantsHelp(rest)) {
          printSettings('hms demo: the daemon, a mock fleet of 12 services and the dashboard in one terminal (flag > environment > default)', DEMO_SETTINGS.table());
          return 0;
        }
        const { runDemo } = await import('./demo.js');
        return await runDemo(rest);
      }
      case '--version':
      case '-V':
        process.stdout.write(`hms ${version()}\n`);
        return 0;
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        process.stdout.write(`${USAGE}\n`);
        return command === undefined ? 2 : 0;
      default:
        return fail(`unknown command "${command}"${didYouMean(command, COMMANDS, (c) => `hms ${c}`)}\n\n${USAGE}`);
    }
  } catch (err) {
    if (err instanceof ConfigError) return fail(err.message);
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`hms: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
