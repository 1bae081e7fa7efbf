import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { replaceFile, syncDir, writeBelow, writeDurably } from './durable-file.js';
import { type MasterFile, type MasterStore, masterFile, partitionHour, type Scratch, type Staged, visibility } from './store.js';

/** Hadoop's `Path` takes `file://` and the absolute path as it is: percent-encoding would be read literally. */
const fileUri = (path: string): string => `file://${resolve(path)}`;

/** The master dataset on a local directory (the embedded default). */
export class LocalStore implements MasterStore {
  readonly kind = 'local';

  readonly fsUri = 'file:///';

  /**
   * `root` holds the master dataset; `quarantine` and `tmp` (the scratch areas) sit next to it by default,
   * in the data directory.
   */
  constructor(
    private readonly root: string,
    private readonly quarantineRoot = join(root, '..', 'quarantine'),
    private readonly scratchRoot = join(root, '..', 'tmp'),
  ) {}

  get location(): string {
    return this.root;
  }

  async put(partition: string, name: string, data: Uint8Array): Promise<void> {
    const dir = join(this.root, partition);
    const target = join(dir, name);
    const existing = await stat(target).catch(() => undefined);
    if (existing?.size === data.length) return;
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `.${name}.tmp`);
    try {
      await writeDurably(tmp, data);
      await rename(tmp, target);
    } finally {
      // A write cut short (a full disk) leaves no half-written temporary file behind.
      await rm(tmp, { force: true });
    }
    await syncDir(dir);
  }

  async list(opts: { overshadowed?: boolean } = {}): Promise<MasterFile[]> {
    const out: MasterFile[] = [];
    const dates = await readdir(this.root).catch(() => [] as string[]);
    for (const date of dates.filter((d) => d.startsWith('date='))) {
      for (const hourDir of await readdir(join(this.root, date))) {
        const partition = `${date}/${hourDir}`;
        if (partitionHour(partition) === undefined) continue;
        for (const name of await readdir(join(this.root, partition))) {
          const { size } = await stat(join(this.root, partition, name));
          const file = masterFile(partition, name, size);
          if (file) out.push(file);
        }
      }
    }
    const { visible, overshadowed } = visibility(out);
    return opts.overshadowed ? overshadowed : visible;
  }

  async remove(files: MasterFile[]): Promise<void> {
    const dirs = new Set<string>();
    for (const f of files) {
      await rm(this.path(f), { force: true });
      dirs.add(join(this.root, f.partition));
    }
    for (const dir of dirs) {
      await syncDir(dir).catch(() => undefined);
      // rmdir refuses a directory that is not empty: the partition (then its date) goes only once nothing is left.
      for (const d of [dir, dirname(dir)]) if (!(await rmdir(d).then(() => true, () => false))) break;
    }
  }

  async stage(files: MasterFile[]): Promise<Staged> {
    return { paths: files.map((f) => this.path(f)), release: async () => {} };
  }

  read(file: MasterFile): Promise<Buffer> {
    return readFile(this.path(file));
  }

  replace(file: MasterFile, data: Uint8Array): Promise<void> {
    return replaceFile(this.path(file), data);
  }

  quarantine(name: string, data: Uint8Array): Promise<void> {
    return writeBelow(this.quarantineRoot, name, data);
  }

  private path(f: MasterFile): string {
    return join(this.root, f.partition, f.name);
  }

  uri(f: MasterFile): string {
    return fileUri(this.path(f));
  }

  scratch(area: string): Scratch {
    const base = resolve(this.scratchRoot, area);
    const dir = (name: string) => join(base, name);
    return {
      uri: (name) => fileUri(dir(name)),
      files: async (name) => {
        const entries = await readdir(dir(name), { withFileTypes: true }).catch(() => []);
        const out: { name: string; bytes: number }[] = [];
        for (const e of entries) if (e.isFile()) out.push({ name: e.name, bytes: (await stat(join(dir(name), e.name))).size });
        return out;
      },
      open: async (name, file) => createReadStream(join(dir(name), file)),
      localPath: (name, file) => join(dir(name), file),
      remove: (name) => rm(dir(name), { recursive: true, force: true }),
      clear: () => rm(base, { recursive: true, force: true }),
    };
  }

  async release(): Promise<void> {}
}
