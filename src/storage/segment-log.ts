import { systemErrorText } from '../core/error-code.js';
import { mkdirSync } from 'node:fs';
import { type FileHandle, open, readdir, readFile, rename, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { replaceFile, syncDir, writeBelow, writeFully } from './durable-file.js';
import { type BadRun, scanRecords, segmentName } from '../core/master-record.js';
import type { Quarantine } from './quarantine.js';

/**
 * Write-ahead segments: accepted messages as JSON lines in a local append-only file, flushed and fsynced
 * every `flushIntervalMs`. A segment is `seg-<id>.open` while written and renamed to `seg-<id>.jsonl` when
 * sealed; segment ids only grow, across restarts too, so they order everything downstream.
 *
 * A failing disk never tears a line and never loses an accepted one: a write goes at the segment's last
 * good offset and loops over short writes; on any write or fsync error the file is cut back to that offset
 * and the lines stay in memory, to be written again, in order, on the next flush. While writes fail, memory
 * holds at most `maxUnflushedBytes`; beyond that `append` refuses, and the caller rejects the datagram
 * (`storage_unavailable`) instead of pretending to accept it.
 */

export interface SegmentLogOptions {
  dir: string;
  flushIntervalMs: number;
  maxBytes: number;
  maxAgeMs: number;
  /** Lowest id a new segment may take (ids at or below it were used before and may be shipped). */
  minNextId: number;
  /** Appended bytes not yet durable that may wait in memory. @default 64 MiB */
  maxUnflushedBytes?: number;
  /** Where bad lines found in local segments at start go (`<quarantineDir>/segments/...`). */
  quarantineDir: string;
  quarantine: Quarantine;
}

export interface SealedSegment {
  id: number;
  path: string;
}

interface OpenSegment {
  id: number;
  /**
   * Appended, not yet durable: the lines' UTF-8, written here as they come (the strings can go at once; no
   * join at the flush). `pending[0, used)` is what the next write takes.
   */
  pending: Buffer;
  used: number;
  /** Messages in `pending`. */
  messages: number;
  /** Everything appended to it (the seal threshold). */
  bytes: number;
  /** Length of the file's durable prefix: where the next write goes, and what a failed one is cut back to. */
  durable: number;
  openedAt: number;
  fh?: FileHandle;
}

export interface SegmentLogStatus {
  /** Messages appended but not yet fsynced. */
  unflushed: number;
  unflushedBytes: number;
  /** The last write or fsync error, while writes keep failing. */
  error: string | null;
  /** Epoch ms of the first failure of the current spell. */
  errorSince: number | null;
}

const NAME = /^seg-(\d{12})\.(open|jsonl)$/;

/** The append buffer of a segment starts this big, and one that grew keeps at most this much after a write. */
const INITIAL_PENDING = 64 << 10;
const MAX_KEPT_PENDING = 16 << 20;

/** A bigger buffer holding the first `used` bytes of `buf`. */
function grown(buf: Buffer, used: number, atLeast: number): Buffer {
  const next = Buffer.allocUnsafe(Math.max(atLeast, buf.length * 2));
  buf.copy(next, 0, 0, used);
  return next;
}

export class SegmentLog {
  private current!: OpenSegment;
  /** Sealed in memory, file not yet complete and renamed (a failed seal is retried on the next tick). */
  private retired: OpenSegment[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private timer?: NodeJS.Timeout;
  private flushedMessages = 0;
  private appendedMessages = 0;
  /** Text appended and not yet durable, over the open segment and the retired ones. */
  private pendingBytes = 0;
  private failure: { error: string; since: number } | null = null;
  /** Highest id sealed and durable: every message of it, and of every lower id, is on disk. */
  private durableUpTo = 0;
  private readonly maxUnflushed: number;
  private readonly log: Logger;

  constructor(
    private readonly opts: SegmentLogOptions,
    log: Logger,
  ) {
    this.log = log.child({ module: 'segments' });
    this.maxUnflushed = opts.maxUnflushedBytes ?? 64 << 20;
    mkdirSync(opts.dir, { recursive: true });
  }

  /**
   * Recovers the segments left by a previous process: an open one (a crash) loses its torn last line to the
   * quarantine and is sealed. Nothing is parsed here: a bad line inside a segment is found by the engine that
   * reads it (the rebuild at start), which then has `scrubSealed` move it out. Then starts the flush timer.
   */
  async start(): Promise<SealedSegment[]> {
    let maxId = this.opts.minNextId - 1;
    for (const name of (await readdir(this.opts.dir)).sort()) {
      const m = NAME.exec(name);
      if (!m) {
        if (name.endsWith('.tmp')) await rm(join(this.opts.dir, name), { force: true }); // a replaceFile cut short
        continue;
      }
      const id = Number(m[1]);
      maxId = Math.max(maxId, id);
      if (m[2] === 'open') await this.recover(id);
    }
    this.current = this.fresh(maxId + 1);
    this.durableUpTo = maxId;
    this.timer = setInterval(() => this.tick(), this.opts.flushIntervalMs);
    return this.sealed();
  }

  private fresh(id: number): OpenSegment {
    return { id, pending: Buffer.allocUnsafe(INITIAL_PENDING), used: 0, messages: 0, bytes: 0, durable: 0, openedAt: Date.now() };
  }

  private async recover(id: number): Promise<void> {
    const name = segmentName(id, 'open');
    const path = join(this.opts.dir, name);
    const data = await readFile(path);
    const end = data.lastIndexOf(0x0a) + 1;
    if (end < data.length) {
      await this.quarantine(name, [{ offset: end, lines: 1, reason: 'torn line (no newline at the end of the file)', data: data.subarray(end) }]);
      await truncate(path, end);
    }
    if (end === 0) {
      await rm(path);
      return;
    }
    await rename(path, join(this.opts.dir, segmentName(id, 'jsonl')));
    await syncDir(this.opts.dir);
    this.log.info({ segment: id }, 'recovered segment');
  }

  /** Moves the unreadable lines of every sealed segment to the quarantine, keeping the rest; returns how many. */
  async scrubSealed(): Promise<number> {
    let moved = 0;
    for (const seg of await this.sealed()) {
      const scanned = scanRecords(await readFile(seg.path));
      if (!scanned) continue;
      await this.quarantine(segmentName(seg.id, 'jsonl'), scanned.bad);
      await replaceFile(seg.path, scanned.good);
      moved += scanned.badLines;
    }
    return moved;
  }

  /** Moves bad lines of local segment `name` to the local quarantine (the caller then rewrites the file). */
  async quarantine(name: string, runs: BadRun[]): Promise<void> {
    await this.opts.quarantine.put(`segments/${name}`, runs, (qname, bytes) => writeBelow(this.opts.quarantineDir, qname, bytes));
  }

  /**
   * Appends `count` whole lines (see encodeLine; an ingest worker's batch is many) to the open segment;
   * returns the segment id they went to, or undefined when they are refused because that much is already
   * waiting for a disk that fails. Synchronous.
   */
  append(lines: string, count = 1): number | undefined {
    // The limit is checked on UTF-16 units (at most the UTF-8 bytes); room is made for the most UTF-8 can take (3 a unit).
    if (this.pendingBytes + lines.length > this.maxUnflushed) return undefined;
    const seg = this.current;
    if (seg.pending.length - seg.used < lines.length * 3) seg.pending = grown(seg.pending, seg.used, seg.used + lines.length * 3);
    const bytes = seg.pending.write(lines, seg.used, 'utf8');
    seg.used += bytes;
    seg.messages += count;
    seg.bytes += bytes;
    this.pendingBytes += bytes;
    this.appendedMessages += count;
    if (seg.bytes >= this.opts.maxBytes) this.seal().catch(() => undefined); // logged and retried by the writer
    return seg.id;
  }

  get currentId(): number {
    return this.current.id;
  }

  /**
   * Highest segment id that is sealed and on disk, with every lower one: no message will be appended to it
   * again, and each of its messages was appended (and handed on by the fan-out) before it was sealed.
   */
  get sealedUpTo(): number {
    return this.durableUpTo;
  }

  status(): SegmentLogStatus {
    return {
      unflushed: this.appendedMessages - this.flushedMessages,
      unflushedBytes: this.pendingBytes,
      error: this.failure?.error ?? null,
      errorSince: this.failure?.since ?? null,
    };
  }

  private tick(): void {
    const seg = this.current;
    const done = seg.bytes > 0 && Date.now() - seg.openedAt >= this.opts.maxAgeMs ? this.seal() : this.flush();
    done.catch(() => undefined); // failures are logged and counted where they happen, and retried next tick
  }

  /** Writes and fsyncs what was appended so far. Serialised with seals. */
  flush(): Promise<void> {
    return this.enqueue(async () => {
      await this.finishRetired();
      await this.write(this.current);
      if (this.pendingBytes === 0 && this.failure) {
        this.log.info({ since: new Date(this.failure.since).toISOString() }, 'segment writes work again; every accepted message is on disk');
        this.failure = null;
      }
    });
  }

  /**
   * Seals the open segment (if it holds anything) and opens the next one. Messages appended after this
   * call go to the new segment. Resolves with the sealed id once the file is renamed and durable.
   */
  seal(): Promise<number | undefined> {
    const seg = this.current;
    if (seg.bytes === 0) return this.enqueue(async () => undefined);
    this.current = this.fresh(seg.id + 1);
    this.retired.push(seg);
    return this.enqueue(async () => {
      await this.finishRetired();
      return seg.id;
    });
  }

  /** Completes sealed segments in id order: last lines written and fsynced, closed, renamed. */
  private async finishRetired(): Promise<void> {
    while (this.retired.length) {
      const seg = this.retired[0];
      await this.write(seg);
      // Nothing ever reached the disk for it (every write failed until now): create it empty to rename.
      seg.fh ??= await this.guard(open(join(this.opts.dir, segmentName(seg.id, 'open')), 'w'));
      await seg.fh.close();
      seg.fh = undefined;
      await this.guard(rename(join(this.opts.dir, segmentName(seg.id, 'open')), join(this.opts.dir, segmentName(seg.id, 'jsonl'))));
      await this.guard(syncDir(this.opts.dir));
      this.durableUpTo = seg.id;
      this.retired.shift();
    }
  }

  private enqueue<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Runs a file operation; a failure is recorded as a failing disk (the pipeline view and /ready show it). */
  private async guard<T>(op: Promise<T>): Promise<T> {
    try {
      return await op;
    } catch (err) {
      this.failed(err as Error);
      throw err;
    }
  }

  private failed(err: Error): void {
    if (!this.failure) this.log.error({ err }, 'cannot write the write-ahead segments; accepted messages wait in memory and are retried');
    this.failure = { error: systemErrorText(err, 'STORE_UNAVAILABLE'), since: this.failure?.since ?? Date.now() };
  }

  private async write(seg: OpenSegment): Promise<void> {
    if (seg.used === 0) return;
    // What was appended so far is written; what comes during the write goes to a fresh buffer.
    const data = seg.pending.subarray(0, seg.used);
    const messages = seg.messages;
    seg.pending = Buffer.allocUnsafe(Math.max(INITIAL_PENDING, Math.min(seg.pending.length, MAX_KEPT_PENDING)));
    seg.used = 0;
    seg.messages = 0;
    try {
      seg.fh ??= await open(join(this.opts.dir, segmentName(seg.id, 'open')), 'w');
      await writeFully(seg.fh, data, seg.durable);
      await seg.fh.datasync();
    } catch (err) {
      // Cut the file back to its last good offset, so no torn line stays mid-file, and keep the lines in
      // memory for the next flush: accepted data is never dropped here.
      await seg.fh?.truncate(seg.durable).catch(() => undefined);
      const later = seg.pending.subarray(0, seg.used);
      seg.pending = Buffer.concat([data, later], data.length + later.length + INITIAL_PENDING);
      seg.used = data.length + later.length;
      seg.messages += messages;
      this.failed(err as Error);
      throw err;
    }
    seg.durable += data.length;
    this.pendingBytes -= data.length;
    this.flushedMessages += messages;
  }

  /** Sealed segments waiting to be shipped, oldest first. */
  async sealed(): Promise<SealedSegment[]> {
    const out: SealedSegment[] = [];
    for (const name of (await readdir(this.opts.dir)).sort()) {
      const m = NAME.exec(name);
      if (m && m[2] === 'jsonl') out.push({ id: Number(m[1]), path: join(this.opts.dir, name) });
    }
    return out;
  }

  /** Paths of every local segment (sealed and the open one) for rebuilding the realtime views. */
  async localFiles(): Promise<string[]> {
    await this.flush();
    const files = (await this.sealed()).map((s) => s.path);
    if (this.current.durable > 0) files.push(join(this.opts.dir, segmentName(this.current.id, 'open')));
    return files;
  }

  /** Removes a shipped segment: only after the store has confirmed it. */
  async remove(seg: SealedSegment): Promise<void> {
    await rm(seg.path, { force: true });
  }

  /** Stops the timer, then flushes and fsyncs the open segment. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush().catch((err) =>
      this.log.error({ err, messages: this.status().unflushed }, 'could not write the last accepted messages before stopping; they are lost'),
    );
    await this.enqueue(async () => this.current.fh?.close());
  }
}
