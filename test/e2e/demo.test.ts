/**
 * `hms demo` dying by a signal it cannot catch: its daemon (the one child; the fleet and the dashboard run in the
 * demo's own process) must not live on under PID 1. Started in a real pseudo-terminal, as a user starts it.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { CLI, waitFor } from '../helpers/daemon.js';
import { killAll, nodeProcess, processes, tree } from '../helpers/processes.js';
import { Tmux } from '../helpers/tmux.js';

test("SIGKILL of hms demo: its daemon and the daemon's ingest workers exit too", async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'hms-demo-kill-'));
  const term = new Tmux();
  t.teardown(() => term.kill());
  // Two ingest processes, so the daemon has a worker of its own to take down.
  await term.start(`${process.execPath} --import tsx ${CLI} demo --data-dir ${dataDir}`, 100, 30, { NO_COLOR: '1', HMS_INGEST_WORKERS: '2' });
  await term.waitFor(/orders[\s\S]*payments|payments[\s\S]*orders/);

  const all = await processes();
  const demo = nodeProcess(all, ` demo --data-dir ${dataDir}`);
  if (!demo) return t.fail('no demo process');
  const daemon = all.find((p) => p.ppid === demo.pid && p.cmdline.includes(`daemon --data-dir ${dataDir}`));
  if (!daemon) return t.fail(`no daemon child of the demo (pid ${demo.pid})`);
  const family = tree(all, daemon.pid);
  t.true(family.length >= 2, `the daemon and its ingest worker: ${family.map((p) => p.cmdline).join(' | ')}`);
  t.teardown(() => killAll(family));

  process.kill(demo.pid, 'SIGKILL');
  await waitFor('the demo to die', async () => tree(await processes(), demo.pid).length === 0);
  // The daemon learns it from its IPC channel closing, shuts down the usual way, and its workers follow it.
  await waitFor('the daemon and its workers to exit', async () => {
    const left = await processes();
    return family.every((p) => tree(left, p.pid).length === 0);
  });
  t.pass();
});
