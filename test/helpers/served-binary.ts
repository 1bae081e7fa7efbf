import { type ChildProcess, spawn } from 'node:child_process';
import { waitFor } from './daemon.js';

/**
 * Starts a real server binary (Alertmanager, Prometheus, ...), SIGKILLed at the test's teardown, and waits until
 * GET `readyUrl` answers 2xx. One that exits first fails the wait with its stderr.
 */
export async function startServedBinary(t: { teardown(fn: () => Promise<void>): void }, bin: string, args: string[], readyUrl: string): Promise<ChildProcess> {
  const proc = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr!.on('data', (c) => (log += c));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  t.teardown(async () => {
    proc.kill('SIGKILL');
    await exited;
  });
  await waitFor(`${bin} ready`, async () => {
    if (proc.exitCode !== null) throw new Error(`${bin} exited with ${proc.exitCode}:\n${log}`);
    return (await fetch(readyUrl).catch(() => undefined))?.ok;
  });
  return proc;
}
