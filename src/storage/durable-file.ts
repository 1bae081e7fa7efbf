import { type FileHandle, mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** File writes that a full or failing disk cannot leave half done. */

/** Writes `data` to `path` atomically: a temporary file, fsynced, renamed over, the directory fsynced. */
export async function replaceFile(path: string, data: Uint8Array): Promise<void> {
  const tmp = join(dirname(path), `.${Date.now()}-${Math.random().toString(36).slice(2)}.tmp`);
  try {
    await writeDurably(tmp, data);
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
  await syncDir(dirname(path));
}

/** Writes `data` to `name` (a relative path) below `root`, making the directories it needs; fsynced. */
export async function writeBelow(root: string, name: string, data: Uint8Array): Promise<void> {
  const path = join(root, name);
  await mkdir(dirname(path), { recursive: true });
  await writeDurably(path, data);
}

/** Creates or replaces `path` with `data` and fsyncs it. */
export async function writeDurably(path: string, data: Uint8Array): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await writeFully(fh, data, 0);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

/** `write` may write less than asked with no error (a disk filling up): loop until all of it is written. */
export async function writeFully(fh: FileHandle, data: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < data.length; ) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    if (bytesWritten <= 0) throw new Error(`write returned ${bytesWritten} bytes`);
    done += bytesWritten;
  }
}

export async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
