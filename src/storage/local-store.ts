import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { segmentIdOf } from './master-record.js';
import { replaceFile, syncDir, writeDurably } from './durable-file.js';
import { type MasterFile, type MasterStore, partitionHour, type Staged } from './store.js';

/** The master dataset on a local directory (the embedded default). */
export class LocalStore implements MasterStore {
  readonly kind = 'local';

  /** `quarantineRoot`: where `quarantine` writes, by default `quarantine` next to the root. */
  constructor(
    private readonly root: string,
    private readonly quarantineRoot = join(root, '..', 'quarantine'),
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

  async list(): Promise<MasterFile[]> {
    const out: MasterFile[] = [];
    const dates = await readdir(this.root).catch(() => [] as string[]);
    for (const date of dates.filter((d) => d.startsWith('date='))) {
      for (const hourDir of await readdir(join(this.root, date))) {
        const partition = `${date}/${hourDir}`;
        const hour = partitionHour(partition);
        if (hour === undefined) continue;
        for (const name of await readdir(join(this.root, partition))) {
          const segment = segmentIdOf(name);
          if (segment === undefined || name.startsWith('.')) continue;
          const { size } = await stat(join(this.root, partition, name));
          out.push({ partition, hour, segment, name, bytes: size });
        }
      }
    }
    return out;
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

  async quarantine(name: string, data: Uint8Array): Promise<void> {
    const target = join(this.quarantineRoot, name);
    await mkdir(dirname(target), { recursive: true });
    await writeDurably(target, data);
  }

  private path(f: MasterFile): string {
    return join(this.root, f.partition, f.name);
  }

  async release(): Promise<void> {}
}
