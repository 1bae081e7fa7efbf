import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Tmpfs {
  dir: string;
  unmount(): Promise<void>;
}

/** A real tmpfs of `bytes` (needs root): a disk that fills up. Resolves with why not where it cannot mount. */
export async function mountTmpfs(bytes: number): Promise<Tmpfs | { error: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'hms-tmpfs-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${Math.ceil(bytes / 1024)}k,mode=0755`, 'tmpfs', dir]);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    return { error: `cannot mount a tmpfs (root is needed): ${((err as { stderr?: string }).stderr || (err as Error).message).trim()}` };
  }
  return {
    dir,
    async unmount() {
      await run('umount', ['-l', dir]).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
