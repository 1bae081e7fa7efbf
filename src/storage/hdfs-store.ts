import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type MasterFile, type MasterStore, masterFile, partitionHour, type Scratch, type Staged, visibility } from './store.js';
import { WebHdfs, WebHdfsError, type WebHdfsOptions } from './webhdfs.js';

export interface HdfsStoreOptions extends Omit<WebHdfsOptions, 'signal' | 'delegation'> {
  /** Namenode HTTP addresses, e.g. `http://namenode:9870` (several for HA). */
  urls: string[];
  /** `user.name` for simple authentication. */
  user?: string;
  /** Delegation token for a secured cluster (sent instead of `user.name`). */
  delegation?: string;
  /** HDFS directory of this daemon's data; the master dataset is `<root>/master`. @default '/hms' */
  root?: string;
  /** Local directory for staged copies of master files. */
  cacheDir: string;
  /** The staging cache is trimmed to this size, least recently used first. */
  cacheMaxBytes: number;
  /** Parallel WebHDFS calls when listing partitions and staging files. @default 4 */
  concurrency?: number;
  /** A client to use instead of one made from these options (`release` then cannot abort its calls). */
  client?: WebHdfs;
  /** The namenode's RPC URI (`hdfs://namenode:8020`) that jobs read and write through. @default none: no jobs */
  fsUri?: string;
}

interface CacheEntry {
  bytes: number;
  lastUsed: number;
  /** Stages that currently hand this file out; a pinned file is never evicted. */
  pins: number;
  /** The local copy is complete (false while it downloads, or after a failed download). */
  present: boolean;
}

/** Runs `fn` over `items` with at most `limit` in flight; the first failure rejects once all have settled. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < items.length && !failed) {
      const i = next++;
      try {
        out[i] = await fn(items[i]);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const rejected = results.find((r) => r.status === 'rejected');
  if (rejected) throw (rejected as PromiseRejectedResult).reason;
  return out;
}

const isNotFound = (err: unknown) => err instanceof WebHdfsError && err.notFound;

/** A master file's place in the cache, relative to the cache dir: the same layout as in HDFS. */
const cacheKey = (f: MasterFile) => `${f.partition}/${f.name}`;

/**
 * The master dataset on HDFS over WebHDFS: `<root>/master/date=YYYY-MM-DD/hour=HH/seg-<id>.jsonl`.
 *
 * Engines read local paths, so `stage` downloads into a bounded local cache. Master files are immutable, so
 * a cached copy with the right length is the file; the cache survives restarts and is trimmed LRU.
 */
export class HdfsStore implements MasterStore {
  readonly kind = 'hdfs';
  private readonly client: WebHdfs;
  private readonly master: string;
  private readonly quarantineRoot: string;
  private readonly scratchRoot: string;
  private readonly abort = new AbortController();
  private readonly concurrency: number;
  /** Partition directories known to exist, so MKDIRS is asked once per partition and process. */
  private readonly knownDirs = new Set<string>();
  private cache?: Map<string, CacheEntry>;
  private cacheLoad?: Promise<Map<string, CacheEntry>>;
  /** Downloads in progress, shared by concurrent stages of the same file. */
  private readonly downloads = new Map<string, Promise<void>>();
  /** Evictions in progress: a stage of the same file waits for the old copy to be gone. */
  private readonly removing = new Map<string, Promise<void>>();
  private clock = 0;

  constructor(private readonly options: HdfsStoreOptions) {
    const root = (options.root ?? '/hms').replace(/\/+$/, '');
    if (!root.startsWith('/')) throw new TypeError(`HdfsStore: root must be an absolute HDFS path, got ${JSON.stringify(options.root)}`);
    this.master = `${root}/master`;
    this.quarantineRoot = `${root}/quarantine`;
    this.scratchRoot = `${root}/tmp`;
    this.concurrency = options.concurrency ?? 4;
    this.client = options.client ?? new WebHdfs({ ...options, signal: this.abort.signal });
  }

  get location(): string {
    return `webhdfs ${this.options.urls.join(',')}${this.master}`;
  }

  async put(partition: string, name: string, data: Uint8Array): Promise<void> {
    if (partitionHour(partition) === undefined) throw new TypeError(`HdfsStore.put: bad partition ${JSON.stringify(partition)}`);
    if (name.includes('/') || name.startsWith('.')) throw new TypeError(`HdfsStore.put: bad file name ${JSON.stringify(name)}`);
    const dir = `${this.master}/${partition}`;
    const target = `${dir}/${name}`;
    const existing = await this.client.tryStatus(target);
    if (existing?.type === 'FILE' && existing.length === data.byteLength) return;
    if (!this.knownDirs.has(dir)) {
      await this.client.mkdirs(dir);
      this.knownDirs.add(dir);
    }
    // Readers never see a partial file: the bytes land under a hidden name that `list` skips, then move.
    const tmp = `${dir}/.${name}.tmp`;
    await this.client.create(tmp, data, { overwrite: true });
    try {
      // A different length already in place cannot come from this protocol (renames are atomic); the local
      // segment is the source of truth, as with the local store's rename.
      await this.client.rename(tmp, target, { overwrite: existing !== undefined });
    } catch (err) {
      if (!(err instanceof WebHdfsError) || err.exception !== 'OperationFailed') throw err;
      // False from RENAME: a concurrent or earlier retried put may have won the race; same bytes count is done.
      const now = await this.client.tryStatus(target);
      if (now?.type !== 'FILE' || now.length !== data.byteLength) throw err;
      await this.client.delete(tmp).catch(() => undefined);
    }
  }

  async list(opts: { overshadowed?: boolean } = {}): Promise<MasterFile[]> {
    const dates = await this.children(this.master);
    const partitions: string[] = [];
    for (const date of dates) {
      if (date.type !== 'DIRECTORY' || !date.pathSuffix.startsWith('date=')) continue;
      for (const hour of await this.children(`${this.master}/${date.pathSuffix}`)) {
        const partition = `${date.pathSuffix}/${hour.pathSuffix}`;
        if (hour.type === 'DIRECTORY' && partitionHour(partition) !== undefined) partitions.push(partition);
      }
    }
    const perPartition = await mapLimit(partitions, this.concurrency, async (partition) => {
      const out: MasterFile[] = [];
      for (const f of await this.children(`${this.master}/${partition}`)) {
        const file = f.type === 'FILE' ? masterFile(partition, f.pathSuffix, f.length) : undefined;
        if (file) out.push(file);
      }
      return out;
    });
    const { visible, overshadowed } = visibility(perPartition.flat());
    return opts.overshadowed ? overshadowed : visible;
  }

  async remove(files: MasterFile[]): Promise<void> {
    const dirs = new Set<string>();
    await mapLimit(files, this.concurrency, async (f) => {
      await this.client.delete(`${this.master}/${f.partition}/${f.name}`);
      dirs.add(f.partition);
      const key = cacheKey(f);
      if (this.cache?.get(key)?.pins === 0) this.cache.delete(key);
      await rm(join(this.options.cacheDir, key), { force: true });
    });
    for (const partition of dirs) {
      // A non-recursive DELETE refuses a directory that is not empty: the partition (then its date) goes only once empty.
      for (const dir of [`${this.master}/${partition}`, `${this.master}/${partition.slice(0, partition.indexOf('/'))}`]) {
        const gone = await this.client.delete(dir).catch(() => false);
        this.knownDirs.delete(dir);
        if (!gone) break;
      }
    }
  }

  async stage(files: MasterFile[]): Promise<Staged> {
    const cache = await this.loadCache();
    const keys = files.map(cacheKey);
    // Pinned before anything is awaited, so that a concurrent eviction cannot take a file this stage uses.
    for (const [i, key] of keys.entries()) {
      const e = cache.get(key) ?? { bytes: files[i].bytes, lastUsed: 0, pins: 0, present: false };
      e.pins++;
      e.lastUsed = ++this.clock;
      cache.set(key, e);
    }
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      for (const key of keys) {
        const e = cache.get(key);
        if (e && --e.pins === 0 && !e.present) cache.delete(key);
      }
      await this.evict();
    };
    try {
      await mapLimit(files, this.concurrency, async (f) => {
        const key = cacheKey(f);
        const path = join(this.options.cacheDir, key);
        await this.removing.get(key);
        const e = cache.get(key)!;
        const st = await stat(path).catch(() => undefined);
        if (st?.size !== f.bytes) await this.download(f, key);
        e.bytes = f.bytes;
        e.present = true;
        // The mtime of a cached copy is its last use: an immutable file has no other use for it.
        const now = new Date();
        await utimes(path, now, now);
      });
    } catch (err) {
      await release();
      throw err;
    }
    await this.evict();
    return { paths: keys.map((k) => join(this.options.cacheDir, k)), release };
  }

  read(file: MasterFile): Promise<Buffer> {
    return this.client.readAll(`${this.master}/${file.partition}/${file.name}`);
  }

  /** Written beside the file under a hidden name, then renamed over it (RENAME with OVERWRITE is atomic). */
  async replace(file: MasterFile, data: Uint8Array): Promise<void> {
    const dir = `${this.master}/${file.partition}`;
    const tmp = `${dir}/.${file.name}.${randomUUID()}.tmp`;
    await this.client.create(tmp, data, { overwrite: true });
    try {
      await this.client.rename(tmp, `${dir}/${file.name}`, { overwrite: true });
    } catch (err) {
      await this.client.delete(tmp).catch(() => undefined);
      throw err;
    }
  }

  /** Under `<root>/quarantine/`, the same relative name as a local quarantine would use. */
  async quarantine(name: string, data: Uint8Array): Promise<void> {
    const path = `${this.quarantineRoot}/${name}`;
    await this.client.mkdirs(path.slice(0, path.lastIndexOf('/')));
    await this.client.create(path, data, { overwrite: true });
  }

  get fsUri(): string {
    const uri = this.options.fsUri?.replace(/\/+$/, '');
    if (!uri) throw new Error('the HDFS store has no namenode RPC URI for jobs: set --hdfs-fs-uri (hdfs://namenode:8020)');
    return uri;
  }

  uri(file: MasterFile): string {
    return `${this.fsUri}${this.master}/${file.partition}/${file.name}`;
  }

  scratch(area: string): Scratch {
    const base = `${this.scratchRoot}/${area}`;
    return {
      uri: (name) => `${this.fsUri}${base}/${name}`,
      files: async (name) => (await this.children(`${base}/${name}`)).filter((s) => s.type === 'FILE').map((s) => ({ name: s.pathSuffix, bytes: s.length })),
      open: (name, file) => this.client.open(`${base}/${name}/${file}`),
      remove: async (name) => {
        await this.client.delete(`${base}/${name}`, { recursive: true });
      },
      clear: async () => {
        await this.client.delete(base, { recursive: true });
      },
    };
  }

  /** Aborts requests in flight; there is nothing else to close. */
  async release(): Promise<void> {
    this.abort.abort();
  }

  private async children(path: string) {
    try {
      return await this.client.list(path);
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
  }

  /** One download per file at a time; into a temp name, renamed when complete and of the expected length. */
  private download(f: MasterFile, key: string): Promise<void> {
    let running = this.downloads.get(key);
    if (!running) {
      running = (async () => {
        const path = join(this.options.cacheDir, key);
        const part = `${path}.${randomUUID()}.part`;
        await mkdir(dirname(path), { recursive: true });
        try {
          await pipeline(await this.client.open(`${this.master}/${f.partition}/${f.name}`), createWriteStream(part));
          const { size } = await stat(part);
          if (size !== f.bytes) throw new Error(`staging ${key}: got ${size} bytes, the listing said ${f.bytes}`);
          await rename(part, path);
        } finally {
          await rm(part, { force: true });
        }
      })().finally(() => this.downloads.delete(key));
      this.downloads.set(key, running);
    }
    return running;
  }

  /** The cache index, rebuilt once from the cache dir so copies staged by an earlier run are reused. */
  private loadCache(): Promise<Map<string, CacheEntry>> {
    this.cacheLoad ??= (async () => {
      const cache = new Map<string, CacheEntry>();
      const entries = await readdir(this.options.cacheDir, { recursive: true, withFileTypes: true }).catch(() => []);
      const found = [];
      for (const e of entries) {
        if (!e.isFile()) continue;
        const path = join(e.parentPath, e.name);
        if (e.name.endsWith('.part')) {
          await rm(path, { force: true });
          continue;
        }
        const st = await stat(path);
        found.push({ key: relative(this.options.cacheDir, path).split(sep).join('/'), bytes: st.size, used: st.mtimeMs });
      }
      // Oldest first, so the LRU order of an earlier run carries over.
      found.sort((a, b) => a.used - b.used);
      for (const f of found) cache.set(f.key, { bytes: f.bytes, lastUsed: ++this.clock, pins: 0, present: true });
      this.cache = cache;
      return cache;
    })();
    return this.cacheLoad;
  }

  /** Trims the cache to `cacheMaxBytes`, least recently used first, never touching a pinned file. */
  private async evict(): Promise<void> {
    const cache = this.cache;
    if (!cache) return;
    let total = 0;
    for (const e of cache.values()) if (e.present) total += e.bytes;
    if (total <= this.options.cacheMaxBytes) return;
    const victims = [...cache.entries()].filter(([, e]) => e.pins === 0 && e.present).sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    const removals: Promise<void>[] = [];
    for (const [key, e] of victims) {
      if (total <= this.options.cacheMaxBytes) break;
      cache.delete(key);
      total -= e.bytes;
      const removal = rm(join(this.options.cacheDir, key), { force: true }).finally(() => this.removing.delete(key));
      this.removing.set(key, removal);
      removals.push(removal);
    }
    await Promise.all(removals);
  }
}
