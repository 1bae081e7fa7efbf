/**
 * The WebHDFS client against a real HDFS (MiniDFSCluster from Maven Central jars), plus a few fake servers
 * for what a one-namenode cluster cannot show: a standby namenode, a 5xx, a hang, a token.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import anyTest, { type TestFn } from 'ava';
import { type RetryEvent, WebHdfs, WebHdfsError } from '../../src/storage/webhdfs.js';
import { freePort, type HdfsCluster, hadoopAvailable, registerUnavailable, startHdfs } from '../helpers/hadoop-cluster.js';

const test = anyTest as TestFn<{ hdfs: HdfsCluster; client: WebHdfs }>;
const LS_LIMIT = 5;

/** A namenode stand-in: `handler` answers each request (a redirect with `location`); every request is recorded. */
async function fakeNamenode(handler: (req: IncomingMessage, n: number) => { status: number; body: unknown; location?: string } | 'hang') {
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(req.url ?? '');
    const answer = handler(req, seen.length);
    if (answer === 'hang') return;
    res.writeHead(answer.status, { 'content-type': 'application/json', ...(answer.location ? { location: answer.location } : {}) });
    res.end(JSON.stringify(answer.body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const remote = (exception: string, javaClassName: string, message: string) => ({ RemoteException: { exception, javaClassName, message } });

async function expectHdfsError(p: Promise<unknown>): Promise<WebHdfsError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof WebHdfsError)) throw new Error(`expected a WebHdfsError, got ${String(err)}`);
  return err;
}

const avail = await hadoopAvailable();
if (!avail.ok) {
  registerUnavailable(anyTest, 'WebHDFS client tests', avail.why);
} else {
  test.before(async (t) => {
    const hdfs = await startHdfs({ datanodes: 1, conf: { 'dfs.ls.limit': String(LS_LIMIT) } });
    t.log(`HDFS (1 datanode) up in ${hdfs.startMs} ms at ${hdfs.namenodeHttp}`);
    t.context = { hdfs, client: new WebHdfs({ urls: [hdfs.namenodeHttp], user: 'hms', retries: 2 }) };
  });
  test.after.always(async (t) => {
    await t.context.hdfs?.stop();
  });

  test('create, status and read back: bytes, length and a path with a space and "="', async (t) => {
    const { client } = t.context;
    const data = Buffer.from('{"service":"orders","cpu":42.5}\nünïcode ✓\n');
    const path = '/client/basic/date=2025-01-02/a file.jsonl';
    await client.create(path, data);
    const st = await client.status(path);
    t.is(st.type, 'FILE');
    t.is(st.length, data.length);
    t.is(st.owner, 'hms');
    t.is(st.pathSuffix, '');
    t.deepEqual(await client.readAll(path), data);
    t.deepEqual(await client.readAll(path, { offset: 8, length: 6 }), data.subarray(8, 14));
    const chunks: Buffer[] = [];
    for await (const c of await client.open(path)) chunks.push(c as Buffer);
    t.deepEqual(Buffer.concat(chunks), data);
    t.is(await client.tryStatus('/client/basic/nothing-here'), undefined);
  });

  test('create refuses to replace a file unless overwrite is set', async (t) => {
    const { client } = t.context;
    await client.create('/client/ow/f', Buffer.from('first'));
    const err = await expectHdfsError(client.create('/client/ow/f', Buffer.from('second!')));
    t.is(err.exception, 'FileAlreadyExistsException');
    t.is(err.javaClassName, 'org.apache.hadoop.fs.FileAlreadyExistsException');
    t.is(err.status, 403);
    t.is((await client.readAll('/client/ow/f')).toString(), 'first');
    await client.create('/client/ow/f', Buffer.from('second!'), { overwrite: true });
    t.is((await client.readAll('/client/ow/f')).toString(), 'second!');
    t.is((await client.status('/client/ow/f')).length, 7);
  });

  test('append adds to the end; appending to a missing file is FileNotFoundException', async (t) => {
    const { client } = t.context;
    await client.create('/client/app/log', Buffer.from('abc'));
    await client.append('/client/app/log', Buffer.from('def'));
    await client.append('/client/app/log', Buffer.from('ghi\n'));
    t.is((await client.readAll('/client/app/log')).toString(), 'abcdefghi\n');
    t.is((await client.status('/client/app/log')).length, 10);
    const err = await expectHdfsError(client.append('/client/app/missing', Buffer.from('x')));
    t.is(err.exception, 'FileNotFoundException');
    t.is(err.op, 'APPEND');
  });

  test(`list pages through a large directory (dfs.ls.limit=${LS_LIMIT})`, async (t) => {
    const { client } = t.context;
    const names = Array.from({ length: 12 }, (_, i) => `seg-${String(i).padStart(12, '0')}.jsonl`);
    await client.mkdirs('/client/many');
    for (const [i, n] of names.entries()) await client.create(`/client/many/${n}`, Buffer.alloc(i + 1, 0x61));
    await client.mkdirs('/client/many/zz sub');
    const pages: number[] = [];
    for await (const page of client.listPages('/client/many')) pages.push(page.length);
    t.deepEqual(pages, [5, 5, 3]);
    const all = await client.list('/client/many');
    t.deepEqual(
      all.map((s) => s.pathSuffix),
      [...names, 'zz sub'],
    );
    t.deepEqual(
      all.map((s) => s.length),
      [...names.map((_, i) => i + 1), 0],
    );
    t.is(all[12].type, 'DIRECTORY');
    t.deepEqual(await client.list('/client/many/zz sub'), []);
  });

  test('mkdirs creates parents and fails on a file in the way', async (t) => {
    const { client } = t.context;
    await client.mkdirs('/client/dirs/a/b/c');
    t.is((await client.status('/client/dirs/a/b')).type, 'DIRECTORY');
    await client.mkdirs('/client/dirs/a/b/c'); // existing: still fine
    await client.create('/client/dirs/file', Buffer.from('x'));
    const err = await expectHdfsError(client.mkdirs('/client/dirs/file/sub'));
    t.is(err.exception, 'ParentNotDirectoryException');
    t.is(err.op, 'MKDIRS');
  });

  test('rename moves a file; onto an existing file it fails clearly and changes nothing', async (t) => {
    const { client } = t.context;
    await client.create('/client/mv/src', Buffer.from('source'));
    await client.create('/client/mv/other', Buffer.from('other file'));
    await client.rename('/client/mv/src', '/client/mv/dst');
    t.is(await client.tryStatus('/client/mv/src'), undefined);
    t.is((await client.readAll('/client/mv/dst')).toString(), 'source');

    const err = await expectHdfsError(client.rename('/client/mv/dst', '/client/mv/other'));
    t.is(err.exception, 'OperationFailed');
    t.is(err.op, 'RENAME');
    t.regex(err.message, /answered false for \/client\/mv\/dst -> \/client\/mv\/other/);
    t.is((await client.readAll('/client/mv/dst')).toString(), 'source');
    t.is((await client.readAll('/client/mv/other')).toString(), 'other file');

    await client.rename('/client/mv/dst', '/client/mv/other', { overwrite: true });
    t.is(await client.tryStatus('/client/mv/dst'), undefined);
    t.is((await client.readAll('/client/mv/other')).toString(), 'source');

    const missing = await expectHdfsError(client.rename('/client/mv/nope', '/client/mv/nope2'));
    t.is(missing.exception, 'OperationFailed');
  });

  test('delete: true when deleted, false when absent, refuses a non-empty directory unless recursive', async (t) => {
    const { client } = t.context;
    await client.create('/client/del/d/f1', Buffer.from('1'));
    await client.create('/client/del/d/f2', Buffer.from('2'));
    t.true(await client.delete('/client/del/d/f1'));
    t.is(await client.tryStatus('/client/del/d/f1'), undefined);
    t.false(await client.delete('/client/del/d/f1'));
    const err = await expectHdfsError(client.delete('/client/del/d'));
    t.is(err.exception, 'PathIsNotEmptyDirectoryException');
    t.truthy(await client.tryStatus('/client/del/d/f2'));
    t.true(await client.delete('/client/del/d', { recursive: true }));
    t.is(await client.tryStatus('/client/del/d'), undefined);
  });

  test('a missing path maps to FileNotFoundException for status, open and list', async (t) => {
    const { client } = t.context;
    for (const [op, call] of [
      ['GETFILESTATUS', () => client.status('/client/missing/x')],
      ['OPEN', () => client.readAll('/client/missing/x')],
      ['LISTSTATUS_BATCH', () => client.list('/client/missing')],
    ] as const) {
      const err = await expectHdfsError(call());
      t.is(err.exception, 'FileNotFoundException', op);
      t.is(err.javaClassName, 'java.io.FileNotFoundException', op);
      t.is(err.status, 404, op);
      t.is(err.op, op);
      t.true(err.notFound);
      t.regex(err.message, /^WebHDFS \S+ \/client\/missing(\/x)?: FileNotFoundException: /);
    }
  });

  test('user.name: files belong to the given user, or to dr.who without one', async (t) => {
    const { hdfs } = t.context;
    await new WebHdfs({ urls: [hdfs.namenodeHttp], user: 'alice' }).create('/client/users/a', Buffer.from('a'));
    await new WebHdfs({ urls: [hdfs.namenodeHttp] }).create('/client/users/anon', Buffer.from('b'));
    t.is((await t.context.client.status('/client/users/a')).owner, 'alice');
    t.is((await t.context.client.status('/client/users/anon')).owner, 'dr.who');
  });

  test('HA: a dead first namenode is skipped, and the live one is remembered', async (t) => {
    const { hdfs } = t.context;
    const dead = `http://127.0.0.1:${await freePort()}`;
    const retries: RetryEvent[] = [];
    const client = new WebHdfs({ urls: [dead, hdfs.namenodeHttp], user: 'hms', onRetry: (e) => retries.push(e) });
    await client.create('/client/ha/f', Buffer.from('via the second namenode'));
    t.is(client.namenode, hdfs.namenodeHttp);
    t.is((await client.readAll('/client/ha/f')).toString(), 'via the second namenode');
    // Only the first call paid for the dead one.
    t.is(retries.length, 1);
    t.is(retries[0].error.exception, 'ConnectionError');
    t.is(retries[0].error.code, 'ECONNREFUSED');
  });

  test('HA: StandbyException moves on to the next namenode', async (t) => {
    const { hdfs } = t.context;
    const standby = await fakeNamenode(() => ({
      status: 403,
      body: remote('StandbyException', 'org.apache.hadoop.ipc.StandbyException', 'Operation category READ is not supported in state standby'),
    }));
    t.teardown(standby.close);
    await t.context.client.create('/client/ha/standby', Buffer.from('active'));
    const client = new WebHdfs({ urls: [standby.url, hdfs.namenodeHttp], user: 'hms' });
    t.is((await client.status('/client/ha/standby')).length, 6);
    t.is(client.namenode, hdfs.namenodeHttp);
    t.is(standby.seen.length, 1);
  });

  test('every namenode down: a typed ConnectionError after the configured retries', async (t) => {
    const dead = [`http://127.0.0.1:${await freePort()}`, `http://127.0.0.1:${await freePort()}`];
    const retries: RetryEvent[] = [];
    const client = new WebHdfs({ urls: dead, retries: 2, backoffMs: 10, onRetry: (e) => retries.push(e) });
    const err = await expectHdfsError(client.status('/x'));
    t.is(err.exception, 'ConnectionError');
    t.is(err.status, undefined);
    t.is(retries.length, 6 - 1); // 3 rounds x 2 namenodes; the last failure is thrown, not retried
  });

  test('5xx and RetriableException are retried with backoff; a 4xx is not', async (t) => {
    const status = { FileStatus: { pathSuffix: '', type: 'FILE', length: 3 } };
    const flaky = await fakeNamenode((_req, n) =>
      n === 1
        ? { status: 500, body: remote('RuntimeException', 'java.lang.RuntimeException', 'boom') }
        : n === 2
          ? { status: 403, body: remote('RetriableException', 'org.apache.hadoop.ipc.RetriableException', 'safe mode') }
          : { status: 200, body: status },
    );
    t.teardown(flaky.close);
    const client = new WebHdfs({ urls: [flaky.url], backoffMs: 5 });
    t.is((await client.status('/x')).length, 3);
    t.is(flaky.seen.length, 3);

    const denied = await fakeNamenode(() => ({
      status: 403,
      body: remote('AccessControlException', 'org.apache.hadoop.security.AccessControlException', 'Permission denied'),
    }));
    t.teardown(denied.close);
    const err = await expectHdfsError(new WebHdfs({ urls: [denied.url], backoffMs: 5 }).status('/x'));
    t.is(err.exception, 'AccessControlException');
    t.is(denied.seen.length, 1);
  });

  test('a namenode that never answers times out; closing the client aborts a call in flight', async (t) => {
    const hang = await fakeNamenode(() => 'hang');
    t.teardown(hang.close);
    const started = Date.now();
    const err = await expectHdfsError(new WebHdfs({ urls: [hang.url], timeoutMs: 300, retries: 0 }).status('/x'));
    t.is(err.exception, 'Timeout');
    t.true(Date.now() - started < 3000);

    const ctl = new AbortController();
    const pending = expectHdfsError(new WebHdfs({ urls: [hang.url], signal: ctl.signal }).status('/y'));
    setTimeout(() => ctl.abort(), 100);
    t.is((await pending).exception, 'Aborted');
  });

  test('a delegation token is sent instead of user.name', async (t) => {
    const nn = await fakeNamenode(() => ({ status: 200, body: { boolean: true } }));
    t.teardown(nn.close);
    await new WebHdfs({ urls: [nn.url], user: 'hms', delegation: 'TOKEN123' }).mkdirs('/d');
    const q = new URL(nn.seen[0], nn.url).searchParams;
    t.is(q.get('delegation'), 'TOKEN123');
    t.is(q.get('user.name'), null);
    t.is(q.get('op'), 'MKDIRS');
  });

  test('{"boolean": false} from MKDIRS is a failure', async (t) => {
    const nn = await fakeNamenode(() => ({ status: 200, body: { boolean: false } }));
    t.teardown(nn.close);
    const err = await expectHdfsError(new WebHdfs({ urls: [nn.url] }).mkdirs('/d'));
    t.is(err.exception, 'OperationFailed');
    t.is(err.op, 'MKDIRS');
  });

  test("OPEN from a datanode that closes the connection while the reader is paused: every byte arrives, nothing is thrown outside", async (t) => {
    const body = Buffer.alloc(256 * 1024, 0x61);
    body.write('the end', body.length - 7);
    // The datanode answers, sends the whole body and closes at once (FIN), as HDFS datanodes do.
    const datanode = createNetServer((socket) => {
      socket.once('data', () => {
        socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
        socket.end(body);
      });
    });
    await new Promise<void>((r) => datanode.listen(0, '127.0.0.1', r));
    t.teardown(() => new Promise<void>((r) => datanode.close(() => r())));
    const dn = `http://127.0.0.1:${(datanode.address() as { port: number }).port}`;
    const nn = await fakeNamenode(() => ({ status: 307, body: {}, location: `${dn}/webhdfs/v1/f?op=OPEN` }));
    t.teardown(nn.close);
    const stream = await new WebHdfs({ urls: [nn.url], retries: 0 }).open('/f');
    // Not read for a while: the body waits, paused, while the datanode's FIN arrives.
    await new Promise((r) => setTimeout(r, 500));
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    t.true(Buffer.concat(chunks).equals(body));
  });

  test('OPEN from a datanode that stops sending mid-file: the stream fails with a Timeout, naming the path', async (t) => {
    const datanode = createNetServer((socket) => {
      socket.once('data', () => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly a little'));
    });
    await new Promise<void>((r) => datanode.listen(0, '127.0.0.1', r));
    t.teardown(() => {
      datanode.close();
    });
    const dn = `http://127.0.0.1:${(datanode.address() as { port: number }).port}`;
    const nn = await fakeNamenode(() => ({ status: 307, body: {}, location: `${dn}/webhdfs/v1/g?op=OPEN` }));
    t.teardown(nn.close);
    const stream = await new WebHdfs({ urls: [nn.url], retries: 0, timeoutMs: 300 }).open('/g');
    const err = await expectHdfsError(
      (async () => {
        for await (const _ of stream);
      })(),
    );
    t.is(err.exception, 'Timeout');
    t.is(err.path, '/g');
  });
}
