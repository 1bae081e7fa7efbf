/**
 * A typed WebHDFS client on Node's global `fetch` and, for the datanode steps, node:http.
 *
 * Why not the `webhdfs` npm package: it depends on the deprecated `request` and reads `{"boolean": false}`
 * from RENAME/DELETE as success. WebHDFS is a handful of REST calls; what needs care is around them:
 * - CREATE/APPEND are two steps. The namenode answers 307 with the datanode URL and the bytes go only there
 *   (`redirect: 'follow'` would send the body to the namenode as well).
 * - Namenode HA: several URLs, the next one on StandbyException or a refused connection.
 * - A dead datanode the namenode has not noticed yet (that takes minutes): CREATE is asked again with
 *   `excludedatanodes`, which the namenode matches against datanode *transfer* addresses, so the redirect's
 *   http address is mapped through the namenode's JMX view of its live datanodes.
 * - The datanode answers every CREATE/APPEND with an unsolicited `100 Continue` before the real status, which
 *   Node's fetch (undici) rejects as "bad response": the upload step therefore uses node:http, which handles
 *   interim responses.
 * - OPEN's download also uses node:http. The undici that Node 20 and 24 bundle throws an AssertionError from a
 *   socket's 'end' handler, outside any promise and so uncaught, when a server closes the connection while the
 *   body is paused under backpressure (nodejs/undici#5360, fixed only in undici 8, which needs Node 22.19): a
 *   datanode closes after each block, and writing a staged copy to a slow disk pauses the body. It took down a
 *   test worker in CI; in the daemon it would have taken the daemon down.
 * Everything else (small JSON answers, read at once) is plain `fetch`.
 */
import { type IncomingMessage, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { PassThrough, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

export interface WebHdfsOptions {
  /** Namenode HTTP addresses, e.g. `http://namenode:9870`; more than one for HA, tried in order. */
  urls: string[];
  /** `user.name` for simple authentication. @default undefined (the cluster's static user, `dr.who`) */
  user?: string;
  /** Delegation token; when set it is sent instead of `user.name`. @default undefined */
  delegation?: string;
  /** Per-request timeout in ms; for OPEN, the longest wait for the response or for the next chunk. @default 30000 */
  timeoutMs?: number;
  /** Retries after the first attempt, on connection errors, 5xx and RetriableException. @default 4 */
  retries?: number;
  /** First backoff delay in ms, doubled per retry. @default 200 */
  backoffMs?: number;
  /** Upper bound on one backoff delay in ms. @default 5000 */
  maxBackoffMs?: number;
  /** Aborts every request in flight and every later one (for shutdown). @default undefined */
  signal?: AbortSignal;
  /** Told about every failed attempt that will be tried again (for logs and tests). @default undefined */
  onRetry?: (event: RetryEvent) => void;
}

export interface RetryEvent {
  op: string;
  path: string;
  error: WebHdfsError;
  /** Attempts so far at this call, 1-based. */
  attempt: number;
  /** Set when a datanode is excluded from the next attempt: its transfer address. */
  excluded?: string;
}

export type FileType = 'FILE' | 'DIRECTORY' | 'SYMLINK';

/** A WebHDFS `FileStatus` object (times in epoch ms). */
export interface FileStatus {
  /** Name relative to the listed directory; empty for GETFILESTATUS. */
  pathSuffix: string;
  type: FileType;
  length: number;
  owner: string;
  group: string;
  permission: string;
  modificationTime: number;
  accessTime: number;
  blockSize: number;
  replication: number;
  fileId?: number;
  childrenNum?: number;
}

export interface CreateOptions {
  /** Replace an existing file. @default false */
  overwrite?: boolean;
  /** Octal permission, e.g. '644'. @default the cluster's default */
  permission?: string;
  replication?: number;
  blockSize?: number;
}

/**
 * A failed WebHDFS call. `exception`/`javaClassName` come from the namenode's or datanode's RemoteException;
 * failures without one use: `ConnectionError` (no HTTP response), `Timeout`, `Aborted`,
 * `OperationFailed` (the server answered `{"boolean": false}`), `HttpError` (a non-JSON error page).
 */
export class WebHdfsError extends Error {
  override readonly name = 'WebHdfsError';
  readonly exception: string;
  readonly javaClassName: string | undefined;
  /** HTTP status; undefined when no response came. */
  readonly status: number | undefined;
  readonly op: string;
  readonly path: string;
  readonly url: string | undefined;
  /** The server's whole message (a datanode's includes the Java stack trace); `message` has its first line. */
  readonly remoteMessage: string;
  /** System error code of a connection failure (ECONNREFUSED, ECONNRESET...). */
  readonly code: string | undefined;

  constructor(init: {
    op: string;
    path: string;
    exception: string;
    message: string;
    javaClassName?: string;
    status?: number;
    url?: string;
    code?: string;
    cause?: unknown;
  }) {
    super(`WebHDFS ${init.op} ${init.path}: ${init.exception}: ${init.message.split('\n', 1)[0]}`, { cause: init.cause });
    this.remoteMessage = init.message;
    this.op = init.op;
    this.path = init.path;
    this.exception = init.exception;
    this.javaClassName = init.javaClassName;
    this.status = init.status;
    this.url = init.url;
    this.code = init.code;
  }

  /** True when the path (or a parent) does not exist. */
  get notFound(): boolean {
    return this.exception === 'FileNotFoundException';
  }
}

type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';
type Params = Record<string, string | number | boolean | undefined>;

/** Unreserved path characters stay as they are (partition names such as `date=2025-01-01` stay readable). */
const encodePath = (path: string): string =>
  path
    .split('/')
    .map((s) => s.replace(/[^A-Za-z0-9._~!$'()*,=:@-]/g, (c) => encodeURIComponent(c)))
    .join('/');

/** Namenode answers worth another attempt: the server may come back, the request is not wrong. */
function retriableAtNamenode(e: WebHdfsError): boolean {
  switch (e.exception) {
    case 'ConnectionError':
    case 'Timeout':
    case 'StandbyException':
    case 'RetriableException':
    case 'SafeModeException':
      return true;
    case 'OperationFailed':
    case 'Aborted':
      return false;
    default:
      return (e.status ?? 0) >= 500;
  }
}

/**
 * Datanode answers worth asking the namenode for another datanode: besides the above, a plain IOException
 * (a failed pipeline, a full disk), which WebHDFS reports as 403 like any other I/O failure.
 */
const retriableAtDatanode = (e: WebHdfsError): boolean => e.exception === 'IOException' || retriableAtNamenode(e);

/** A refused connection: the request cannot have been processed, so even an APPEND may be sent again. */
const notDelivered = (e: WebHdfsError): boolean => e.code === 'ECONNREFUSED';

export class WebHdfs {
  private readonly urls: string[];
  private active = 0;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  /** Datanode http address -> transfer address, from the namenode's JMX. */
  private xferByHttp = new Map<string, string>();

  constructor(private readonly options: WebHdfsOptions) {
    if (options.urls.length === 0) throw new TypeError('WebHdfs: at least one namenode URL is required');
    this.urls = options.urls.map((u) => u.replace(/\/+$/, ''));
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.retries = options.retries ?? 4;
    this.backoffMs = options.backoffMs ?? 200;
    this.maxBackoffMs = options.maxBackoffMs ?? 5000;
  }

  /** The namenode URL that answered last (the active one, with HA). */
  get namenode(): string {
    return this.urls[this.active];
  }

  async status(path: string): Promise<FileStatus> {
    const body = await this.json<{ FileStatus: FileStatus }>('GET', 'GETFILESTATUS', path);
    return body.FileStatus;
  }

  /** The status, or undefined when the path does not exist. */
  async tryStatus(path: string): Promise<FileStatus | undefined> {
    try {
      return await this.status(path);
    } catch (err) {
      if (err instanceof WebHdfsError && err.notFound) return undefined;
      throw err;
    }
  }

  /** Every entry of a directory, fetched in pages (LISTSTATUS_BATCH, `dfs.ls.limit` entries each). */
  async list(path: string): Promise<FileStatus[]> {
    const out: FileStatus[] = [];
    for await (const page of this.listPages(path)) out.push(...page);
    return out;
  }

  /** Pages of a directory listing; a large directory never has to fit in one response. */
  async *listPages(path: string): AsyncGenerator<FileStatus[]> {
    let startAfter: string | undefined;
    for (;;) {
      let body: { DirectoryListing: { partialListing: { FileStatuses: { FileStatus: FileStatus[] } }; remainingEntries: number } };
      try {
        // Parameter names are matched case-sensitively: `startafter`, although the docs spell it startAfter.
        body = await this.json('GET', 'LISTSTATUS_BATCH', path, { startafter: startAfter });
      } catch (err) {
        // Namenodes before Hadoop 2.8 do not know LISTSTATUS_BATCH: one unpaged LISTSTATUS instead.
        const unknownOp =
          err instanceof WebHdfsError &&
          (err.exception === 'IllegalArgumentException' || err.exception === 'UnsupportedOperationException') &&
          err.remoteMessage.includes('LISTSTATUS_BATCH');
        if (startAfter === undefined && unknownOp) {
          const all = await this.json<{ FileStatuses: { FileStatus: FileStatus[] } }>('GET', 'LISTSTATUS', path);
          yield all.FileStatuses.FileStatus;
          return;
        }
        throw err;
      }
      const page = body.DirectoryListing.partialListing.FileStatuses.FileStatus;
      yield page;
      if (body.DirectoryListing.remainingEntries === 0 || page.length === 0) return;
      const last = page[page.length - 1].pathSuffix;
      if (last === startAfter) throw this.failed('LISTSTATUS_BATCH', path, `the listing did not move past ${JSON.stringify(last)}`);
      startAfter = last;
    }
  }

  /** Creates the directory and its parents; fails if the namenode answers false. */
  async mkdirs(path: string, permission?: string): Promise<void> {
    const ok = await this.bool('PUT', 'MKDIRS', path, { permission });
    if (!ok) throw this.failed('MKDIRS', path, 'the namenode answered false (the directory could not be created)');
  }

  /**
   * Renames a file or directory. HDFS answers false (a failure here) when the source is missing, the
   * destination already exists or its parent is missing; `overwrite` replaces an existing destination file.
   */
  async rename(from: string, to: string, opts: { overwrite?: boolean } = {}): Promise<void> {
    const ok = await this.bool('PUT', 'RENAME', from, { destination: to, renameoptions: opts.overwrite ? 'OVERWRITE' : undefined });
    if (!ok) {
      throw this.failed(
        'RENAME',
        from,
        `the namenode answered false for ${from} -> ${to}: the source is missing, the destination exists, or its parent is missing`,
      );
    }
  }

  /** Deletes a path; resolves false when there was nothing to delete (not an error). */
  delete(path: string, opts: { recursive?: boolean } = {}): Promise<boolean> {
    return this.bool('DELETE', 'DELETE', path, { recursive: opts.recursive ?? false });
  }

  /** Writes a whole file. The bytes go to the datanode only; a dead datanode is excluded and CREATE asked again. */
  async create(path: string, data: Uint8Array, opts: CreateOptions = {}): Promise<void> {
    const params: Params = {
      overwrite: opts.overwrite ?? false,
      permission: opts.permission,
      replication: opts.replication,
      blocksize: opts.blockSize,
    };
    await this.twoStep('PUT', 'CREATE', path, params, data);
  }

  /**
   * Appends to an existing file. The datanode step is retried only when the connection was refused, since an
   * append that reached the datanode and lost its answer must not be written twice.
   */
  async append(path: string, data: Uint8Array): Promise<void> {
    await this.twoStep('POST', 'APPEND', path, {}, data);
  }

  /** The file's bytes as a stream, from `offset` for `length` bytes (both optional). */
  async open(path: string, opts: { offset?: number; length?: number } = {}): Promise<Readable> {
    const params: Params = { offset: opts.offset, length: opts.length };
    const excluded: string[] = [];
    for (let attempt = 0; ; attempt++) {
      const location = await this.redirect('GET', 'OPEN', path, { ...params, excludedatanodes: excluded.join(',') || undefined });
      try {
        return await this.stream(location, 'OPEN', path);
      } catch (err) {
        if (!(err instanceof WebHdfsError) || !retriableAtDatanode(err) || attempt >= this.retries) throw err;
        excluded.push(await this.xferAddress(location));
        this.options.onRetry?.({ op: 'OPEN', path, error: err, attempt: attempt + 1, excluded: excluded.at(-1) });
        await this.backoff(attempt);
      }
    }
  }

  /** The whole file in memory. */
  async readAll(path: string, opts: { offset?: number; length?: number } = {}): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.open(path, opts)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  // ---- the two steps of CREATE/APPEND/OPEN ----

  private async twoStep(method: Method, op: string, path: string, params: Params, data: Uint8Array): Promise<void> {
    const excluded: string[] = [];
    for (let attempt = 0; ; attempt++) {
      const location = await this.redirect(method, op, path, { ...params, excludedatanodes: excluded.join(',') || undefined });
      try {
        return await this.upload(location, method, data, op, path);
      } catch (err) {
        if (!(err instanceof WebHdfsError) || attempt >= this.retries) throw err;
        if (op === 'APPEND' ? !notDelivered(err) : !retriableAtDatanode(err)) throw err;
        excluded.push(await this.xferAddress(location));
        this.options.onRetry?.({ op, path, error: err, attempt: attempt + 1, excluded: excluded.at(-1) });
        await this.backoff(attempt);
      }
    }
  }

  /** Step one: ask the namenode where to go. Nothing is created yet, so this step is always safe to repeat. */
  private async redirect(method: Method, op: string, path: string, params: Params): Promise<string> {
    const res = await this.namenodeRequest(method, op, path, params, { redirect: 'manual' });
    const location = res.headers.get('location');
    await res.body?.cancel();
    if (res.status >= 300 && res.status < 400 && location) return location;
    throw new WebHdfsError({ op, path, exception: 'HttpError', message: `expected a redirect to a datanode, got HTTP ${res.status}`, status: res.status });
  }

  /** Step two of CREATE/APPEND: the bytes to the datanode (node:http, see the top of this file). */
  private upload(location: string, method: Method, data: Uint8Array, op: string, path: string): Promise<void> {
    const url = new URL(location);
    const signals = [AbortSignal.timeout(this.timeoutMs)];
    if (this.options.signal) signals.push(this.options.signal);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          headers: { 'content-type': 'application/octet-stream', 'content-length': data.byteLength },
          signal: AbortSignal.any(signals),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err) => reject(this.transportError(err, op, path, location)));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) resolve();
            else reject(this.remoteError(status, res.statusMessage ?? '', Buffer.concat(chunks).toString(), op, path, location));
          });
        },
      );
      req.on('error', (err) => reject(this.transportError(err, op, path, location)));
      req.end(data);
    });
  }

  /**
   * The datanode's answer to OPEN as a stream (node:http, see the top of this file); the timeout bounds the wait for
   * the answer and for each chunk.
   */
  private stream(location: string, op: string, path: string): Promise<Readable> {
    const url = new URL(location);
    const get = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      let body: IncomingMessage | undefined;
      const req = get(url, { method: 'GET', signal: this.options.signal }, (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          body = res;
          // What goes wrong mid-body (the connection cut, the timeout below) reaches the reader as a WebHdfsError.
          const out = new PassThrough();
          res.on('error', (err) => out.destroy(this.transportError(err, op, path, location)));
          return resolve(res.pipe(out));
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(this.transportError(err, op, path, location)));
        res.on('end', () => reject(this.remoteError(status, res.statusMessage ?? '', Buffer.concat(chunks).toString(), op, path, location)));
      });
      // Inactivity on the socket, before the answer or between chunks.
      req.setTimeout(this.timeoutMs, () => {
        const timeout = new WebHdfsError({ op, path, url: location, exception: 'Timeout', message: `no data for ${this.timeoutMs} ms` });
        (body ?? req).destroy(timeout);
      });
      req.on('error', (err) => reject(this.transportError(err, op, path, location)));
      req.end();
    });
  }

  // ---- plumbing ----

  private async json<T>(method: Method, op: string, path: string, params: Params = {}): Promise<T> {
    const res = await this.namenodeRequest(method, op, path, params);
    const text = await res.text();
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new WebHdfsError({ op, path, status: res.status, exception: 'HttpError', message: `not JSON: ${text.slice(0, 200)}`, cause: err });
    }
  }

  /** `{"boolean": b}`; an empty 2xx body counts as true (RENAME with options answers with no body at all). */
  private async bool(method: Method, op: string, path: string, params: Params): Promise<boolean> {
    const res = await this.namenodeRequest(method, op, path, params);
    const text = await res.text();
    if (text.trim() === '') return true;
    try {
      return (JSON.parse(text) as { boolean: boolean }).boolean === true;
    } catch (err) {
      throw new WebHdfsError({ op, path, status: res.status, exception: 'HttpError', message: `not JSON: ${text.slice(0, 200)}`, cause: err });
    }
  }

  /** One namenode call with HA failover and retries; resolves with a 2xx/3xx response. */
  private async namenodeRequest(method: Method, op: string, path: string, params: Params, init: RequestInit = {}): Promise<Response> {
    const errors = new Map<number, WebHdfsError>();
    let attempts = 0;
    for (let round = 0; round <= this.retries; round++) {
      if (round > 0) await this.backoff(round - 1);
      // One round asks every namenode once, starting with the one that answered last.
      for (let i = 0; i < this.urls.length; i++) {
        const idx = (this.active + i) % this.urls.length;
        try {
          const res = await this.send(this.url(idx, op, path, params), op, path, { ...init, method });
          this.active = idx;
          return res;
        } catch (err) {
          if (!(err instanceof WebHdfsError)) throw err;
          errors.set(idx, err);
          const failover = err.exception === 'StandbyException' || err.exception === 'ConnectionError';
          if (!failover && !retriableAtNamenode(err)) throw err;
          attempts++;
          const more = round < this.retries || (failover && i < this.urls.length - 1);
          if (more) this.options.onRetry?.({ op, path, error: err, attempt: attempts });
          if (!failover) break;
        }
      }
    }
    // Every namenode failed: report the one that was active last, which is the most telling.
    throw errors.get(this.active) ?? [...errors.values()].pop()!;
  }

  private url(idx: number, op: string, path: string, params: Params): string {
    if (!path.startsWith('/')) throw new TypeError(`WebHdfs: paths are absolute, got ${JSON.stringify(path)}`);
    const q = new URLSearchParams({ op });
    if (this.options.delegation) q.set('delegation', this.options.delegation);
    else if (this.options.user) q.set('user.name', this.options.user);
    for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
    return `${this.urls[idx]}/webhdfs/v1${encodePath(path)}?${q}`;
  }

  /** One HTTP exchange; any failure becomes a WebHdfsError. */
  private async send(url: string, op: string, path: string, init: RequestInit): Promise<Response> {
    const signals = [init.signal ?? AbortSignal.timeout(this.timeoutMs)];
    if (this.options.signal) signals.push(this.options.signal);
    let res: Response;
    try {
      res = await fetch(url, { ...init, signal: AbortSignal.any(signals) });
    } catch (err) {
      throw this.transportError(err, op, path, url);
    }
    if (res.ok || (res.status >= 300 && res.status < 400)) return res;
    throw await this.httpError(res, op, path, url);
  }

  private transportError(err: unknown, op: string, path: string, url: string): WebHdfsError {
    if (err instanceof WebHdfsError) return err;
    const e = err as Error & { code?: string; cause?: { code?: string; message?: string } };
    if (this.options.signal?.aborted) return new WebHdfsError({ op, path, url, exception: 'Aborted', message: 'the client was closed', cause: err });
    if (e.name === 'TimeoutError' || e.name === 'AbortError') {
      return new WebHdfsError({ op, path, url, exception: 'Timeout', message: `no answer within ${this.timeoutMs} ms`, cause: err });
    }
    const code = e.code?.startsWith('E') ? e.code : e.cause?.code;
    const detail = code ?? e.cause?.message ?? e.message;
    return new WebHdfsError({ op, path, url, code, exception: 'ConnectionError', message: `${new URL(url).host}: ${detail}`, cause: err });
  }

  private async httpError(res: Response, op: string, path: string, url: string): Promise<WebHdfsError> {
    return this.remoteError(res.status, res.statusText, await res.text().catch(() => ''), op, path, url);
  }

  private remoteError(status: number, statusText: string, text: string, op: string, path: string, url: string): WebHdfsError {
    try {
      const { RemoteException: r } = JSON.parse(text) as { RemoteException?: { exception: string; javaClassName?: string; message?: string } };
      if (r?.exception) {
        return new WebHdfsError({ op, path, url, status, exception: r.exception, javaClassName: r.javaClassName, message: r.message ?? '' });
      }
    } catch {}
    return new WebHdfsError({ op, path, url, status, exception: 'HttpError', message: `HTTP ${status} ${statusText} ${text.slice(0, 200)}`.trim() });
  }

  private failed(op: string, path: string, message: string): WebHdfsError {
    return new WebHdfsError({ op, path, exception: 'OperationFailed', message, status: 200 });
  }

  private async backoff(attempt: number): Promise<void> {
    const ms = Math.min(this.maxBackoffMs, this.backoffMs * 2 ** attempt);
    // Jitter, so that several writers that failed together do not come back together.
    await sleep(ms / 2 + Math.random() * (ms / 2), undefined, { signal: this.options.signal }).catch(() => undefined);
  }

  /**
   * The transfer address (`ip:port`) of the datanode behind a redirect URL, which is what `excludedatanodes`
   * matches. Without JMX (disabled, or a gateway in front) it falls back to the URL's host:port, which the
   * namenode will not match: the next attempt is then a plain retry, and may well pick another datanode.
   */
  private async xferAddress(location: string): Promise<string> {
    const { hostname, port, host } = new URL(location);
    const key = `${hostname}:${port}`;
    if (!this.xferByHttp.has(key)) await this.loadDatanodes().catch(() => undefined);
    return this.xferByHttp.get(key) ?? host;
  }

  private async loadDatanodes(): Promise<void> {
    const res = await fetch(`${this.namenode}/jmx?qry=Hadoop:service=NameNode,name=NameNodeInfo`, {
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const body = (await res.json()) as { beans: { LiveNodes?: string }[] };
    const live = JSON.parse(body.beans[0]?.LiveNodes ?? '{}') as Record<string, { infoAddr: string; xferaddr: string }>;
    const map = new Map<string, string>();
    for (const [name, node] of Object.entries(live)) {
      const httpPort = node.infoAddr.slice(node.infoAddr.lastIndexOf(':') + 1);
      // The redirect names the datanode by hostname or by IP, depending on dfs.datanode.hostname.
      map.set(`${name.slice(0, name.lastIndexOf(':'))}:${httpPort}`, node.xferaddr);
      map.set(node.infoAddr, node.xferaddr);
    }
    this.xferByHttp = map;
  }
}
