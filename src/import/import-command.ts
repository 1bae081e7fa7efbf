/**
 * `hms import`: bulk-loads history into the master dataset, through a running daemon (`--url`, the
 * `importMessages` mutation) or straight into a stopped daemon's data dir (`--data-dir`: the daemon's own
 * pipeline, opened here). Either way every record is decoded and checked by the daemon's decoder, exactly as a
 * datagram is, and written as the daemon writes one: the write-ahead segment, then master files under the normal
 * naming, and the realtime views until the next batch run absorbs it. Rejects are counted with their file and
 * line; exit status 0 only when every record was imported or counted as rejected.
 */
import { stat } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { ImportResult } from '../api.js';
import { parseFlags } from '../cli-flags.js';
import { ConfigError, IMPORT_SETTINGS, loadConfig, readSettingFile } from '../config/settings.js';
import type { CompatMode } from '../core/message.js';
import { type ImportFormat, readRecords } from './readers.js';
import { MAX_IMPORT_MESSAGES } from './messages.js';

export const IMPORT_USAGE = 'usage: hms import (--data-dir DIR | --url http://HOST:PORT/graphql) [--format jsonl|csv] [--compat seed,course] FILE...   (FILE may be - for stdin)';

/** Where the records go: the daemon over GraphQL, or a data dir opened here. */
export interface ImportTarget {
  send(texts: string[]): Promise<ImportResult>;
  close(): Promise<void>;
}

/** A send takes at most this many bytes of messages (well under the daemon's 1 MiB request limit). */
const BATCH_BYTES = 512 * 1024;
/** A message refused as storage_unavailable is sent again this many times, with a pause between. */
const STORAGE_RETRIES = 5;
const MAX_LISTED_REJECTS = 100;

export interface ImportSummary {
  records: number;
  imported: number;
  rejected: number;
  byReason: Map<string, number>;
  /** Records neither imported nor rejected: the target failed (the message says why). */
  failed: number;
  seconds: number;
}

interface Pending {
  file: string;
  line: number;
  text: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const count = (n: number) => n.toLocaleString('en-US');

/** Progress on stderr: a bar redrawn in place on a terminal, a line every 10 s otherwise. */
class Progress {
  private last = 0;
  private readonly tty = process.stderr.isTTY === true;
  private readonly started = performance.now();

  constructor(private readonly totalBytes: number) {}

  show(bytes: number, records: number, force = false): void {
    const now = performance.now();
    if (!force && now - this.last < (this.tty ? 200 : 10_000)) return;
    this.last = now;
    const rate = records / Math.max((now - this.started) / 1000, 1e-3);
    const frac = this.totalBytes > 0 ? Math.min(1, bytes / this.totalBytes) : 0;
    const text = `${count(records)} records, ${count(Math.round(rate))}/s`;
    if (this.tty) {
      const width = 30;
      const bar = this.totalBytes > 0 ? `[${'#'.repeat(Math.round(frac * width)).padEnd(width, '.')}] ${(frac * 100).toFixed(0).padStart(3)}% ` : '';
      process.stderr.write(`\rhms import: ${bar}${text}   `);
    } else process.stderr.write(`hms import: ${this.totalBytes > 0 ? `${(frac * 100).toFixed(0)}% ` : ''}${text}\n`);
  }

  /** Before another line: the bar's line is cleared (it is drawn again on the next update). */
  clear(): void {
    if (this.tty) process.stderr.write('\r\x1b[K');
  }

  done(): void {
    if (this.tty) process.stderr.write('\n');
  }
}

/** Imports `files` into `target`; rejects go to `onReject` as they are known. */
export async function importFiles(
  files: string[],
  format: ImportFormat,
  compat: ReadonlySet<CompatMode>,
  target: ImportTarget,
  onReject: (file: string, line: number, reason: string, detail: string) => void,
  progress?: (bytes: number, records: number) => void,
): Promise<ImportSummary> {
  const t0 = performance.now();
  const s: ImportSummary = { records: 0, imported: 0, rejected: 0, byReason: new Map(), failed: 0, seconds: 0 };
  const reject = (file: string, line: number, reason: string, detail: string) => {
    s.rejected++;
    s.byReason.set(reason, (s.byReason.get(reason) ?? 0) + 1);
    onReject(file, line, reason, detail);
  };
  let batch: Pending[] = [];
  let batchBytes = 0;
  let bytesBefore = 0;
  const flush = async () => {
    let todo = batch;
    batch = [];
    batchBytes = 0;
    for (let attempt = 0; todo.length > 0; attempt++) {
      const r = await target.send(todo.map((p) => p.text));
      s.imported += r.accepted;
      const again: Pending[] = [];
      for (const x of r.rejected) {
        if (x.reason === 'storage_unavailable' && attempt < STORAGE_RETRIES) again.push(todo[x.index]);
        else if (x.reason === 'storage_unavailable') s.failed++;
        else reject(todo[x.index].file, todo[x.index].line, x.reason, x.detail);
      }
      if (again.length > 0) await sleep(200 * 2 ** attempt);
      todo = again;
    }
  };
  for (const file of files) {
    const name = file === '-' ? '<stdin>' : file;
    let read = 0;
    for await (const chunk of readRecords(file, format, compat)) {
      read = chunk.bytesRead;
      for (const r of chunk.records) {
        s.records++;
        if ('reason' in r) {
          reject(name, r.line, r.reason, r.detail);
          continue;
        }
        batch.push({ file: name, line: r.line, text: r.text });
        batchBytes += r.text.length;
        if (batchBytes >= BATCH_BYTES || batch.length >= MAX_IMPORT_MESSAGES) await flush();
      }
      progress?.(bytesBefore + read, s.records);
    }
    bytesBefore += read;
  }
  await flush();
  s.seconds = (performance.now() - t0) / 1000;
  return s;
}

/** Posts a GraphQL document with http(s), so that a private CA can be given (fetch on Node 20 takes none). */
function postJson(url: URL, body: string, headers: Record<string, string>, ca?: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(
      url,
      { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers }, ...(ca ? { ca } : {}) },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(120_000, () => req.destroy(new Error('no answer within 120 s')));
    req.on('error', reject);
    req.end(body);
  });
}

const MUTATION = 'mutation Import($m: [String!]!, $c: [String!]) { importMessages(messages: $m, compat: $c) { accepted rejected { index reason detail } } }';

/** Through a running daemon: the `importMessages` mutation, a batch at a time, retried while the daemon is away. */
export function daemonTarget(url: string, compat: ReadonlySet<CompatMode>, token?: string, ca?: Buffer): ImportTarget {
  const endpoint = new URL(url);
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  return {
    async send(texts) {
      const body = JSON.stringify({ query: MUTATION, variables: { m: texts, c: [...compat] } });
      for (let attempt = 0; ; attempt++) {
        let answer: { status: number; body: string };
        try {
          answer = await postJson(endpoint, body, headers, ca);
        } catch (err) {
          // The daemon restarting, a network blip: nothing was taken, so the batch is sent again.
          if (attempt >= 5) throw new Error(`cannot reach the daemon at ${url}: ${(err as Error).message}`);
          await sleep(500 * 2 ** attempt);
          continue;
        }
        let parsed: { data?: { importMessages: ImportResult }; errors?: { message: string; extensions?: { code?: string } }[] };
        try {
          parsed = JSON.parse(answer.body);
        } catch {
          throw new Error(`the daemon at ${url} answered HTTP ${answer.status} with no GraphQL result`);
        }
        if (parsed.data?.importMessages) return parsed.data.importMessages;
        const e = parsed.errors?.[0];
        throw new Error(`the daemon refused the import: ${e?.extensions?.code ? `${e.extensions.code}: ` : ''}${e?.message ?? `HTTP ${answer.status}`}`);
      }
    },
    async close() {},
  };
}

/** Straight into a data dir: the daemon's pipeline, opened here (the DuckDB file's lock keeps a daemon out). */
export async function dataDirTarget(dataDir: string, configFile: string, compat: ReadonlySet<CompatMode>): Promise<ImportTarget> {
  const config = loadConfig({ flags: { dataDir }, env: process.env, file: configFile || undefined });
  const { openLocalImport } = await import('./local-import.js');
  return openLocalImport(config, compat);
}

/** The `import` subcommand, given the arguments after it. */
export async function importCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseFlags(argv);
  const s = IMPORT_SETTINGS.load({ flags, env: process.env });
  if (positionals.length === 0) throw new ConfigError(`no FILE to import\n${IMPORT_USAGE}`);
  if (Boolean(s.dataDir) === Boolean(s.url)) {
    throw new ConfigError(`${IMPORT_SETTINGS.describe('url')}: give either --url (a running daemon) or --data-dir (a stopped one's data dir)\n${IMPORT_USAGE}`);
  }
  if (s.url && !/^https?:\/\/[^/]+/.test(s.url)) throw new ConfigError(`${IMPORT_SETTINGS.describe('url')}: expected http(s)://HOST:PORT/graphql, got ${JSON.stringify(s.url)}`);
  let total = 0;
  for (const f of positionals) {
    if (f === '-') continue;
    const st = await stat(f).catch((err: Error) => {
      throw new ConfigError(`cannot read ${f}: ${err.message}`);
    });
    if (!st.isFile()) throw new ConfigError(`${f} is not a file`);
    total += st.size;
  }
  const target = s.url
    ? daemonTarget(s.url, s.compat, s.token || undefined, s.ca ? readSettingFile(s.ca, IMPORT_SETTINGS.describe('ca')) : undefined)
    : await dataDirTarget(s.dataDir, s.config, s.compat);
  const progress = new Progress(total);
  let listed = 0;
  let summary: ImportSummary;
  let failure: Error | undefined;
  try {
    summary = await importFiles(
      positionals,
      s.format,
      s.compat,
      target,
      (file, line, reason, detail) => {
        if (listed++ >= MAX_LISTED_REJECTS) return;
        progress.clear();
        process.stderr.write(`${file}:${line}: ${reason}: ${detail}\n`);
      },
      (bytes, records) => progress.show(bytes, records),
    );
  } catch (err) {
    failure = err as Error;
    summary = { records: 0, imported: 0, rejected: 0, byReason: new Map(), failed: 0, seconds: 0 };
  } finally {
    await target.close().catch((err: Error) => {
      failure ??= err;
    });
  }
  if (!failure) progress.show(total, summary.records, true);
  progress.done();
  if (failure) {
    process.stderr.write(`hms import: ${failure.message}\n`);
    return 1;
  }
  if (listed > MAX_LISTED_REJECTS) process.stderr.write(`hms import: ... ${count(listed - MAX_LISTED_REJECTS)} more rejected records not listed\n`);
  const reasons = [...summary.byReason].map(([r, n]) => `${r} ${count(n)}`).join(', ');
  const rate = summary.records / Math.max(summary.seconds, 1e-3);
  process.stderr.write(
    `hms import: ${count(summary.records)} records from ${positionals.length} file${positionals.length === 1 ? '' : 's'} in ${summary.seconds.toFixed(1)} s (${count(Math.round(rate))}/s): ${count(summary.imported)} imported, ${count(summary.rejected)} rejected${reasons ? ` (${reasons})` : ''}${summary.failed ? `, ${count(summary.failed)} not imported: the daemon's disk refused them (storage_unavailable)` : ''}\n`,
  );
  return summary.failed > 0 ? 1 : 0;
}
