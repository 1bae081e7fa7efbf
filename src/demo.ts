import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseFlags } from './cli-flags.js';
import { ConfigError, DEMO_SETTINGS } from './config/settings.js';

/**
 * `hms demo`: the daemon (a child process, embedded defaults, free ports), a mock fleet and the dashboard,
 * in one command. Quitting the dashboard stops the fleet and the daemon; the daemon's logs go to a file. The fleet
 * and the dashboard run in this process; the daemon, the one child, stops when this process dies however it dies.
 */
export async function runDemo(argv: string[]): Promise<number> {
  const { flags, positionals } = parseFlags(argv, DEMO_SETTINGS.booleans());
  if (positionals.length) throw new ConfigError(`unexpected argument "${positionals[0]}" (see hms demo --help)`);
  const settings = DEMO_SETTINGS.load({ flags, env: process.env });
  const dataDir = settings.dataDir || (await mkdtemp(join(tmpdir(), 'hms-demo-')));
  await mkdir(dataDir, { recursive: true });
  const logPath = join(dataDir, 'daemon.log');
  // The demo's own API token, as a real deployment has: GraphQL is not open to every local user meanwhile.
  const token = randomBytes(24).toString('base64url');
  const tokensPath = join(dataDir, 'api-tokens');
  await writeFile(tokensPath, `# written by hms demo\nwrite ${token}\n`, { mode: 0o600 });
  const cli = fileURLToPath(new URL('./cli.js', import.meta.url));
  const daemon = spawn(
    process.execPath,
    [
      ...process.execArgv,
      cli,
      'daemon',
      '--data-dir',
      dataDir,
      '--udp-port',
      '0',
      '--http-port',
      '0',
      '--batch-schedule',
      '0 */2 * * * *',
      '--api-tokens',
      tokensPath,
      // The ready line is read as JSON below, even when the demo's own stderr is a terminal.
      '--log-format',
      'json',
    ],
    // The IPC channel is how the daemon knows the demo is gone: it closes on any death, SIGKILL included.
    { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] },
  );
  const logFile = createWriteStream(logPath, { flags: 'a' });
  const exited = new Promise<number | null>((resolve) => daemon.once('exit', resolve));
  process.stderr.write(`hms demo: starting the daemon (data in ${dataDir}, logs in ${logPath}, its API token in ${tokensPath})\n`);
  const ports = await new Promise<{ udpPort: number; httpPort: number } | undefined>((resolve) => {
    createInterface({ input: daemon.stderr! }).on('line', (line) => {
      logFile.write(`${line}\n`);
      if (line.includes('"daemon ready"')) resolve(JSON.parse(line));
    });
    exited.then(() => resolve(undefined));
  });
  if (!ports) {
    process.stderr.write(`hms demo: the daemon did not start; see ${logPath}\n`);
    return 1;
  }
  const { runFleet } = await import('../mock/fleet.js');
  const { runTui } = await import('../tui/main.js');
  const fleet = new AbortController();
  const mock = runFleet({ target: { host: '127.0.0.1', port: ports.udpPort }, services: 12, rate: 2, seed: 1, real: false }, undefined, fleet.signal).catch(
    (err) => logFile.write(`mock fleet stopped: ${(err as Error).message}\n`),
  );
  let code = 1;
  try {
    code = await runTui({ url: `http://127.0.0.1:${ports.httpPort}/graphql`, token });
  } finally {
    fleet.abort();
    await mock;
    daemon.kill('SIGTERM');
    await exited;
    logFile.end();
  }
  process.stderr.write(`hms demo: stopped (data kept in ${dataDir})\n`);
  return code;
}
