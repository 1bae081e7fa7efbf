import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli.ts');

export interface Daemon {
  proc: ChildProcess;
  dataDir: string;
  udpPort: number;
  httpPort: number;
  url: string;
  logs: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * How long a daemon may take to get ready. Generous on purpose: on a loaded machine a Spark driver alone took
 * 13 s to start, and a test must not turn that into a failure. A daemon that fails exits, which is seen at once.
 */
const READY_WITHIN_MS = 5 * 60_000;

/**
 * Starts the real daemon process (ports 0 unless given) and waits for its "daemon ready" log line. `hms` is
 * the command that runs the CLI: the sources under tsx unless given (e.g. an installed `bin/hms`).
 */
export async function startDaemon(args: string[] = [], dataDir?: string, hms: string[] = [process.execPath, '--import', 'tsx', CLI]): Promise<Daemon> {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), 'hms-daemon-')));
  const proc = spawn(hms[0], [...hms.slice(1), 'daemon', '--data-dir', dir, '--udp-port', '0', '--http-port', '0', '--log-level', 'info', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const logs: string[] = [];
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const ready = new Promise<{ udpPort: number; httpPort: number }>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`daemon did not get ready in ${READY_WITHIN_MS / 1000} s:\n${logs.join('\n')}`));
    }, READY_WITHIN_MS);
    createInterface({ input: proc.stderr! }).on('line', (line) => {
      logs.push(line);
      if (line.includes('"daemon ready"')) {
        clearTimeout(timer);
        resolve(JSON.parse(line));
      }
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code} before ready:\n${logs.join('\n')}`));
    });
  });
  const { udpPort, httpPort } = await ready;
  return {
    proc,
    dataDir: dir,
    udpPort,
    httpPort,
    url: `http://127.0.0.1:${httpPort}/graphql`,
    logs,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** `startDaemon` for a test file: every daemon it starts is SIGKILLed when the file's tests are done. */
export function killedAfterwards(test: { after: { always(fn: () => Promise<void>): void } }): typeof startDaemon {
  const daemons: Daemon[] = [];
  test.after.always(async () => {
    await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
  });
  return async (...args) => {
    const d = await startDaemon(...args);
    daemons.push(d);
    return d;
  };
}

export async function gql<T = Record<string, unknown>>(url: string, query: string, variables: Record<string, unknown> = {}, token?: string): Promise<T> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const body = (await res.json()) as { data?: T; errors?: { message: string }[] };
  if (body.errors?.length) throw new Error(body.errors.map((e) => e.message).join('; '));
  return body.data as T;
}

/** Sends datagrams over real UDP, pacing to `ratePerS` when given. */
export async function sendUdp(port: number, payloads: (string | Buffer)[], ratePerS?: number): Promise<void> {
  const socket = createSocket('udp4');
  const started = Date.now();
  for (let i = 0; i < payloads.length; i++) {
    await new Promise<void>((resolve, reject) => socket.send(payloads[i], port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
    if (ratePerS && i % 100 === 99) {
      const due = started + ((i + 1) / ratePerS) * 1000;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    }
  }
  socket.close();
}

export const message = (service: string, tsSeconds: number, cpu: number, ramFree = 8, diskFree = 50) =>
  JSON.stringify({ serviceName: service, Timestamp: tsSeconds, CPU: cpu, RAM: { Total: 16, Free: ramFree }, Disk: { Total: 100, Free: diskFree } });

/** Polls `fn` until it returns something truthy. The limit is generous: waits never assert how fast. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 120_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const ALL_TIME = { from: '2000-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z' };
