#!/usr/bin/env node
import { buildApp } from './app.js';
import { parseFlags } from './cli-flags.js';
import { ConfigError, flagName, loadConfig, settingsTable } from './config/settings.js';
import { createLogger } from './log.js';

const USAGE = `hms: health monitor for microservice fleets

  hms daemon  [--data-dir DIR] [--udp-port 3500] [--http-port 4000] [--host 127.0.0.1] [--config FILE] ...
  hms mock    [--target HOST:PORT] [--services N] [--rate MSGS_PER_S_EACH] [--duration S] [--seed N] [--real]
  hms tui     [--url http://HOST:PORT/graphql]
  hms demo    [--data-dir DIR]
  hms convert IN OUT.csv [--compat seed,course]

'hms daemon --help' lists every daemon setting with its environment variable and default.`;

const fail = (message: string, code = 2): number => {
  process.stderr.write(`hms: ${message}\n`);
  return code;
};

async function daemon(argv: string[]): Promise<number> {
  if (argv.includes('--help')) {
    const rows = settingsTable();
    process.stdout.write(`hms daemon: settings (flag > environment > config file > default)\n\n`);
    for (const r of rows) process.stdout.write(`  ${r.flag.padEnd(22)} ${r.env.padEnd(26)} default ${JSON.stringify(r.default).padEnd(18)} ${r.doc}\n`);
    process.stdout.write(`  --config FILE          HMS_CONFIG                 JSON file with the keys above\n`);
    return 0;
  }
  const { flags, positionals } = parseFlags(argv);
  if (positionals.length) return fail(`unexpected argument "${positionals[0]}" (see hms daemon --help)`);
  const file = flags.config ?? process.env.HMS_CONFIG;
  delete flags.config;
  const config = loadConfig({ flags, env: process.env, file });
  const log = createLogger(config.logLevel);
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

async function mock(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, ['real']);
  const [host, portText] = (flags.target ?? process.env.HMS_MOCK_TARGET ?? '127.0.0.1:3500').split(/:(?=\d+$)/);
  const num = (name: string, def: number) => {
    const v = Number(flags[name] ?? def);
    if (!Number.isFinite(v) || v < 0) throw new ConfigError(`--${flagName(name)}: expected a non-negative number, got "${flags[name]}"`);
    return v;
  };
  const port = Number(portText);
  if (!host || !Number.isInteger(port) || port <= 0 || port > 65535) throw new ConfigError(`--target: expected HOST:PORT, got "${flags.target}"`);
  const { runFleet } = await import('../mock/fleet.js');
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  process.once('SIGTERM', () => ac.abort());
  const services = num('services', 8);
  const rate = num('rate', 1);
  if (rate <= 0 || services < 1) throw new ConfigError('--rate must be > 0 and --services at least 1');
  process.stderr.write(`hms mock: ${services} services x ${rate} msg/s -> ${host}:${port}\n`);
  const { sent } = await runFleet(
    { target: { host, port }, services, rate, duration: flags.duration ? num('duration', 0) : undefined, seed: num('seed', 1), real: flags.real === 'true' },
    (p) => process.stderr.write(`\rhms mock: sent ${p.sent} in ${p.elapsedS.toFixed(0)} s   `),
    ac.signal,
  );
  process.stderr.write(`\nhms mock: sent ${sent} messages\n`);
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
      case 'convert': {
        const { convertCommand } = await import('./convert/convert.js');
        return await convertCommand(rest, process.stdout, process.stderr);
      }
      case 'tui': {
        const { flags } = parseFlags(rest);
        const { runTui } = await import('../tui/main.js');
        return await runTui({ url: flags.url ?? process.env.HMS_URL ?? 'http://127.0.0.1:4000/graphql' });
      }
      case 'demo': {
        const { runDemo } = await import('./demo.js');
        return await runDemo(rest);
      }
      case undefined:
      case '--help':
      case 'help':
        process.stdout.write(`${USAGE}\n`);
        return command === undefined ? 2 : 0;
      default:
        return fail(`unknown command "${command}"\n\n${USAGE}`);
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
