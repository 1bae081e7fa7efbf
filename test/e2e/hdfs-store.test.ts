/**
 * The `hdfs` master dataset store against a real HDFS with two datanodes: layout, idempotent puts, listing,
 * Hadoop's own FsShell reading what the store wrote, staging through the bounded cache, and the failures the
 * design promises to survive (namenode down and back, a datanode lost during writes).
 * Serial: the failure tests stop parts of the one shared cluster.
 */
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import anyTest, { type TestFn } from 'ava';
import { HdfsStore, type HdfsStoreOptions } from '../../src/storage/hdfs-store.js';
import type { MasterFile } from '../../src/storage/store.js';
import { type RetryEvent, WebHdfs, WebHdfsError } from '../../src/storage/webhdfs.js';
import { type HdfsCluster, hadoopAvailable, registerUnavailable, startHdfs } from '../helpers/hadoop-cluster.js';

const test = anyTest as TestFn<{ hdfs: HdfsCluster; client: WebHdfs }>;

const HOUR = 3_600_000_000;
const P1 = 'date=2025-03-04/hour=05';
const P2 = 'date=2025-03-04/hour=06';
const P3 = 'date=2025-03-05/hour=00';
const seg = (id: number) => `seg-${String(id).padStart(12, '0')}.jsonl`;

/** Segment-like JSON lines; `n` lines, deterministic content per (seed, n). */
function lines(seed: number, n: number): Buffer {
  let out = '';
  for (let i = 0; i < n; i++) {
    const ts = 1741064400000000 + seed * 1000 + i;
    out += `{"service":"svc-${seed % 7}","ts":${ts},"cpu":${(seed * 31 + i) % 100}.5,"ram_total":32,"ram_free":12.5,"disk_total":512,"disk_free":210.3,"recv":${ts + 7}}\n`;
  }
  return Buffer.from(out);
}

function newStore(t: { context: { hdfs: HdfsCluster } }, extra: Partial<HdfsStoreOptions> & { root: string; cacheDir?: string }) {
  return new HdfsStore({
    urls: [t.context.hdfs.namenodeHttp],
    user: 'hms',
    cacheDir: extra.cacheDir ?? join(tmpdir(), 'unused-cache'),
    cacheMaxBytes: 1 << 30,
    ...extra,
  });
}

const avail = await hadoopAvailable();
if (!avail.ok) {
  registerUnavailable(anyTest, 'HDFS store tests', avail.why);
} else {
  test.before(async (t) => {
    // dfs.ls.limit=4: partitions with more files than that are listed in pages.
    const hdfs = await startHdfs({ datanodes: 2, conf: { 'dfs.ls.limit': '4' } });
    t.log(`HDFS (2 datanodes) up in ${hdfs.startMs} ms at ${hdfs.namenodeHttp}`);
    t.context = { hdfs, client: new WebHdfs({ urls: [hdfs.namenodeHttp], user: 'hms' }) };
  });
  test.after.always(async (t) => {
    await t.context.hdfs?.stop();
  });

  test.serial('a compacted file overshadows the files it merged; remove takes files, then the hour and date directories left empty', async (t) => {
    const { client } = t.context;
    const store = newStore(t, { root: '/t-remove' });
    for (const id of [10, 11, 12]) await store.put(P1, seg(id), lines(id, 3));
    await store.put(P2, seg(12), lines(40, 2));
    await store.put(P3, seg(13), lines(41, 2));
    // The swap of a compaction: the Parquet file in, the merged files still there.
    await store.put(P1, 'compact-000000000010-000000000012.parquet', Buffer.from('PAR1 stand-in PAR1'));
    const names = (fs: MasterFile[]) => fs.map((f) => `${f.partition}/${f.name}`).sort();
    t.deepEqual(names(await store.list()), [`${P1}/compact-000000000010-000000000012.parquet`, `${P2}/${seg(12)}`, `${P3}/${seg(13)}`]);
    const hidden = await store.list({ overshadowed: true });
    t.deepEqual(names(hidden), [10, 11, 12].map((id) => `${P1}/${seg(id)}`));
    await store.remove(hidden);
    t.deepEqual(names(await store.list({ overshadowed: true })), []);
    t.deepEqual((await client.list(`/t-remove/master/${P1}`)).map((f) => f.pathSuffix), ['compact-000000000010-000000000012.parquet']);
    // Retention takes whole partitions: an emptied hour goes, and its date once no hour is left.
    await store.remove((await store.list()).filter((f) => f.partition !== P3));
    t.deepEqual((await client.list('/t-remove/master')).map((f) => f.pathSuffix), ['date=2025-03-05']);
    await store.remove(await store.list());
    t.deepEqual(await client.list('/t-remove/master'), []);
    // A put after retention emptied its partition makes the directories again.
    await store.put(P3, seg(14), lines(42, 1));
    t.deepEqual(names(await store.list()), [`${P3}/${seg(14)}`]);
  });

  test.serial('put lays out <root>/master/<partition>/<name>; a second put of the same segment writes nothing', async (t) => {
    const { client } = t.context;
    const store = newStore(t, { root: '/t-put' });
    const data = lines(1, 50);
    await store.put(P1, seg(7), data);
    const path = `/t-put/master/${P1}/${seg(7)}`;
    const first = await client.status(path);
    t.is(first.length, data.length);
    t.deepEqual(await client.readAll(path), data);

    await store.put(P1, seg(7), data);
    const second = await client.status(path);
    t.is(second.fileId, first.fileId);
    t.is(second.modificationTime, first.modificationTime);
    // No temporary name is left behind, and there is exactly one file.
    t.deepEqual(
      (await client.list(`/t-put/master/${P1}`)).map((s) => s.pathSuffix),
      [seg(7)],
    );
    t.is(store.kind, 'hdfs');
    t.is(store.location, `webhdfs ${t.context.hdfs.namenodeHttp}/t-put/master`);
  });

  test.serial('a stale file of another length under the same name is replaced (the local segment wins)', async (t) => {
    const { client } = t.context;
    const store = newStore(t, { root: '/t-replace' });
    await client.create(`/t-replace/master/${P1}/${seg(3)}`, Buffer.from('half a li'));
    const data = lines(3, 10);
    await store.put(P1, seg(3), data);
    t.deepEqual(await client.readAll(`/t-replace/master/${P1}/${seg(3)}`), data);
    t.deepEqual(
      (await client.list(`/t-replace/master/${P1}`)).map((s) => s.pathSuffix),
      [seg(3)],
    );
  });

  test.serial('a rename that loses the race to an identical file counts as done; to a different one, fails', async (t) => {
    const { hdfs, client } = t.context;
    /** Another writer puts `rival` in place between put's existence check and its rename. */
    class RacingClient extends WebHdfs {
      constructor(private readonly rival: Buffer) {
        super({ urls: [hdfs.namenodeHttp], user: 'hms' });
      }
      override async rename(from: string, to: string, opts?: { overwrite?: boolean }) {
        await client.create(to, this.rival);
        return super.rename(from, to, opts);
      }
    }
    const data = lines(4, 5);
    await newStore(t, { root: '/t-race', client: new RacingClient(data) }).put(P1, seg(4), data);
    t.deepEqual(await client.readAll(`/t-race/master/${P1}/${seg(4)}`), data);
    t.deepEqual(
      (await client.list(`/t-race/master/${P1}`)).map((s) => s.pathSuffix),
      [seg(4)],
    );

    const err = await newStore(t, { root: '/t-race', client: new RacingClient(Buffer.from('other')) })
      .put(P1, seg(5), data)
      .catch((e: unknown) => e);
    t.true(err instanceof WebHdfsError && err.exception === 'OperationFailed' && err.op === 'RENAME', String(err));
    t.is((await client.readAll(`/t-race/master/${P1}/${seg(5)}`)).toString(), 'other');
  });

  test.serial('list returns exactly the master files, skipping temporaries and strangers', async (t) => {
    const { client } = t.context;
    const store = newStore(t, { root: '/t-list' });
    t.deepEqual(await store.list(), []);
    const want: MasterFile[] = [];
    const put = async (partition: string, id: number, n: number) => {
      const data = lines(id, n);
      await store.put(partition, seg(id), data);
      const hour = partition === P1 ? Date.UTC(2025, 2, 4, 5) * 1000 : partition === P2 ? Date.UTC(2025, 2, 4, 6) * 1000 : Date.UTC(2025, 2, 5, 0) * 1000;
      want.push({ partition, hour, segment: id, first: id, format: 'jsonl', name: seg(id), bytes: data.length });
    };
    // Six files in P1: more than dfs.ls.limit, so that partition is listed in two pages.
    for (const id of [10, 11, 12, 13, 14, 15]) await put(P1, id, id);
    await put(P2, 15, 3);
    await put(P3, 16, 1);
    await put(P3, 17, 2);
    await client.create(`/t-list/master/${P2}/.${seg(99)}.tmp`, Buffer.from('half'));
    await client.create(`/t-list/master/${P2}/notes.txt`, Buffer.from('not a segment'));
    await client.mkdirs('/t-list/master/date=2025-03-04/not-an-hour');
    await client.mkdirs('/t-list/master/lost+found');

    const key = (f: MasterFile) => `${f.partition}/${f.name}`;
    const got = (await store.list()).sort((a, b) => key(a).localeCompare(key(b)));
    t.deepEqual(
      got,
      want.sort((a, b) => key(a).localeCompare(key(b))),
    );
    t.is(got[0].hour + HOUR, got.find((f) => f.partition === P2)!.hour);
  });

  test.serial("Hadoop's own FsShell lists and reads the store's files byte for byte", async (t) => {
    const { hdfs } = t.context;
    const store = newStore(t, { root: '/t-fsshell' });
    const a = lines(20, 200);
    const b = lines(21, 3);
    await store.put(P1, seg(20), a);
    await store.put(P2, seg(21), b);

    const ls = await hdfs.hadoopFs(['-ls', '-R', '/t-fsshell/master']);
    t.is(ls.code, 0, ls.stderr);
    const files = ls.stdout
      .toString()
      .split('\n')
      .filter((l) => l.startsWith('-'))
      .map((l) => {
        const cols = l.trim().split(/\s+/);
        return { size: Number(cols[4]), path: cols.slice(7).join(' ') };
      });
    t.deepEqual(files, [
      { size: a.length, path: `/t-fsshell/master/${P1}/${seg(20)}` },
      { size: b.length, path: `/t-fsshell/master/${P2}/${seg(21)}` },
    ]);

    const cat = await hdfs.hadoopFs(['-cat', `/t-fsshell/master/${P1}/${seg(20)}`, `/t-fsshell/master/${P2}/${seg(21)}`]);
    t.is(cat.code, 0, cat.stderr);
    t.true(cat.stdout.equals(Buffer.concat([a, b])));
  });

  test.serial('stage copies through a bounded LRU cache: bytes equal, eviction, reuse, nothing another stage holds', async (t) => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'hms-stage-'));
    t.teardown(() => rm(cacheDir, { recursive: true, force: true }));
    const store = newStore(t, { root: '/t-stage', cacheDir, cacheMaxBytes: 2500 });
    const data = new Map<number, Buffer>();
    for (const id of [1, 2, 3, 4]) {
      const d = Buffer.concat([lines(id, 4), Buffer.alloc(1000 - lines(id, 4).length + id, 0x20)]);
      data.set(id, d);
      await store.put(P1, seg(id), d);
    }
    const files = new Map((await store.list()).map((f) => [f.segment, f]));
    const [A, B, C, D] = [1, 2, 3, 4].map((id) => files.get(id)!);
    const local = (f: MasterFile) => join(cacheDir, f.partition, f.name);
    const exists = async (f: MasterFile) => (await stat(local(f)).catch(() => undefined)) !== undefined;
    const ino = async (f: MasterFile) => (await stat(local(f))).ino;

    const s1 = await store.stage([A, B]);
    t.deepEqual(s1.paths, [local(A), local(B)]);
    t.deepEqual(await readFile(s1.paths[0]), data.get(1));
    t.deepEqual(await readFile(s1.paths[1]), data.get(2));

    // Over budget (3 files > 2500 bytes) but everything is held by s1 or s2: nothing may go.
    const s2 = await store.stage([B, C]);
    t.deepEqual(await Promise.all([A, B, C].map(exists)), [true, true, true]);
    const inoC = await ino(C);

    // s1's release frees A, never B, which s2 still holds.
    await s1.release();
    t.deepEqual(await Promise.all([A, B, C].map(exists)), [false, true, true]);
    await s2.release();

    // D pushes out the least recently used (B), keeps C.
    const s3 = await store.stage([D]);
    t.deepEqual(await readFile(s3.paths[0]), data.get(4));
    t.deepEqual(await Promise.all([A, B, C, D].map(exists)), [false, false, true, true]);
    await s3.release();

    // C is reused, not downloaded again (same inode), also by a new store instance on the same cache dir.
    const s4 = await store.stage([C]);
    t.is(await ino(C), inoC);
    t.deepEqual(await readFile(s4.paths[0]), data.get(3));
    await s4.release();
    const again = newStore(t, { root: '/t-stage', cacheDir, cacheMaxBytes: 2500 });
    const s5 = await again.stage([C, D]);
    t.is(await ino(C), inoC);
    await s5.release();

    // One stage larger than the budget holds all its files; on release the cache shrinks back.
    const s6 = await again.stage([A, B, C, D]);
    for (const [i, p] of s6.paths.entries()) t.deepEqual(await readFile(p), data.get(i + 1));
    await s6.release();
    t.deepEqual(await Promise.all([A, B, C, D].map(exists)), [false, false, true, true]);

    // A file that is not there fails the stage and leaves no partial copy behind.
    const ghost: MasterFile = { ...A, segment: 999, name: seg(999) };
    const err = await again.stage([ghost]).catch((e: unknown) => e);
    t.true(err instanceof WebHdfsError && err.notFound);
    const left = await readdir(join(cacheDir, P1));
    t.deepEqual(left.sort(), [C.name, D.name]);
  });

  test.serial('namenode down: put fails with a typed error; after the restart put succeeds and nothing is lost', async (t) => {
    const { hdfs, client } = t.context;
    const store = newStore(t, { root: '/t-nn', retries: 2, backoffMs: 50, timeoutMs: 2000 });
    const before = lines(30, 100);
    await store.put(P1, seg(30), before);

    await hdfs.stopNamenode();
    const started = Date.now();
    const err = await store.put(P1, seg(31), lines(31, 100)).catch((e: unknown) => e);
    t.true(err instanceof WebHdfsError, String(err));
    t.is((err as WebHdfsError).exception, 'ConnectionError');
    t.true(Date.now() - started < 10_000);
    t.true((await store.list().catch((e: unknown) => e)) instanceof WebHdfsError);

    const t0 = Date.now();
    await hdfs.restartNamenode();
    t.log(`namenode restart: ${Date.now() - t0} ms`);
    const after = lines(31, 100);
    await store.put(P1, seg(31), after);
    t.deepEqual(await client.readAll(`/t-nn/master/${P1}/${seg(30)}`), before);
    t.deepEqual(await client.readAll(`/t-nn/master/${P1}/${seg(31)}`), after);
    t.deepEqual(
      (await store.list()).map((f) => [f.name, f.bytes]),
      [
        [seg(30), before.length],
        [seg(31), after.length],
      ],
    );
    // Files from earlier tests survived the restart too.
    t.deepEqual(await client.readAll(`/t-put/master/${P1}/${seg(7)}`), lines(1, 50));
  });

  test.serial('a datanode stopped during writes: writes go to the other one, and every file is complete', async (t) => {
    const { hdfs, client } = t.context;
    const retries: RetryEvent[] = [];
    const store = newStore(t, { root: '/t-dn', retries: 6, backoffMs: 20, onRetry: (e) => retries.push(e) });
    const written = new Map<string, Buffer>();
    const excludedCount = () => retries.filter((r) => r.excluded).length;
    // Which datanode a CREATE is sent to is the namenode's (random) choice: write until it chose the stopped
    // one twice, at least 8 files after the stop (the odds of never choosing it in 40 writes are 2^-40).
    await store.put(P1, seg(100), lines(100, 2000));
    written.set(seg(100), lines(100, 2000));
    await hdfs.stopDatanode(1);
    for (let id = 101; id < 141 && (id < 109 || excludedCount() < 2); id++) {
      const data = lines(id, 2000); // ~300 KB each
      await store.put(P1, seg(id), data);
      written.set(seg(id), data);
    }
    // The namenode still believes datanode 1 is alive (it notices after minutes), so some CREATEs were sent
    // there: each must have been retried with that datanode excluded by its transfer address.
    const excluded = retries.filter((r) => r.excluded).map((r) => r.excluded);
    t.log(`${retries.length} retries, excluded: ${[...new Set(excluded)].join(', ')}`);
    t.true(excluded.length >= 2, 'writes were never redirected to the stopped datanode');
    t.deepEqual([...new Set(excluded)], [hdfs.datanodes[1]]);

    for (const [name, data] of written) {
      t.deepEqual(await client.readAll(`/t-dn/master/${P1}/${name}`), data, name);
    }
    t.is((await store.list()).length, written.size);
    await hdfs.startDatanode(1);
  });
}
