import { mkdir, open, readdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { segmentIdOf } from './segment-log.js';
import { type MasterFile, type MasterStore, partitionHour, type Staged } from './store.js';

/** The master dataset on a local directory (the embedded default). */
export class LocalStore implements MasterStore {
  readonly kind = 'local';

  constructor(private readonly root: string) {}

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
    const fh = await open(tmp, 'w');
    try {
      await fh.write(data);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await rename(tmp, target);
    const d = await open(dir, 'r');
    await d.sync().finally(() => d.close());
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
    return { paths: files.map((f) => join(this.root, f.partition, f.name)), release: async () => {} };
  }

  async release(): Promise<void> {}
}
