import { constants } from 'node:fs';
import { access, mkdir, rm, stat, statfs } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from '../config/settings.js';
import { writeDurably } from './durable-file.js';

/**
 * Checks and creates the data directory before anything is written to it, so that a bad `--data-dir` is
 * refused with a message naming the setting and what to do, rather than a bare EEXIST, ENOTDIR or a hang
 * (Node's recursive mkdir loops forever under /proc).
 */

/** statfs magic numbers of kernel file systems that hold no data (linux/magic.h). */
const VIRTUAL_FS = new Map<number, string>([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0xcafe4a11, 'bpf'],
  [0x62656570, 'configfs'],
  [0x6165676c, 'pstore'],
  [0xde5e81e4, 'efivarfs'],
  [0x42494e4d, 'binfmt_misc'],
]);

const SETTING = '--data-dir / HMS_DATA_DIR / "dataDir"';

/** The nearest path at or above `path` that exists, with its stat. */
async function nearestExisting(path: string): Promise<{ path: string; isDirectory: boolean }> {
  for (let p = path; ; p = dirname(p)) {
    // ENOTDIR: some parent is a file; walking up finds it.
    const st = await stat(p).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' || err.code === 'ENOTDIR' ? undefined : Promise.reject(err)));
    if (st) return { path: p, isDirectory: st.isDirectory() };
    if (dirname(p) === p) return { path: p, isDirectory: true };
  }
}

/** Makes sure `dir` is a writable directory on a real file system; returns its absolute path. */
export async function prepareDataDir(dir: string): Promise<string> {
  const path = resolve(dir);
  const fail = (why: string) => new ConfigError(`${SETTING}: ${path} ${why}`);
  let existing: { path: string; isDirectory: boolean };
  try {
    existing = await nearestExisting(path);
  } catch (err) {
    throw fail(`cannot be inspected: ${(err as Error).message}`);
  }
  if (!existing.isDirectory) {
    throw fail(existing.path === path ? 'is a file, not a directory: choose a directory' : `is under ${existing.path}, which is a file: choose a directory`);
  }
  const fsType = VIRTUAL_FS.get((await statfs(existing.path)).type);
  if (fsType) throw fail(`is on the kernel's ${fsType} file system, which cannot hold data: choose a directory on a disk`);
  try {
    await mkdir(path, { recursive: true });
    await access(path, constants.W_OK);
    // access() says yes to root on a read-only mount: a real write tells.
    const probe = join(path, '.hms-write-probe');
    await writeDurably(probe, Buffer.from('ok\n'));
    await rm(probe, { force: true });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // A full disk is not a reason to refuse: the daemon starts, holds what it accepts in memory and reports it.
    if (e.code === 'ENOSPC') return path;
    throw fail(`is not a writable directory (${e.code ?? e.message}): fix its permissions or choose another`);
  }
  return path;
}
