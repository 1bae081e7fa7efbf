import { mkdirSync } from 'node:fs';
import { type FileHandle, open, readdir, readFile, rename, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type { HealthMessage } from '../ingest/message.js';
import type { Logger } from '../log.js';

/**
 * Write-ahead segments: accepted messages as JSON lines in a local append-only file, flushed and fsynced
 * every `flushIntervalMs`. A segment is `seg-<id>.open` while written and renamed to `seg-<id>.jsonl` when
 * sealed; segment ids only grow, across restarts too, so they order everything downstream.
 */

export interface SegmentLogOptions {
  dir: string;
  flushIntervalMs: number;
  maxBytes: number;
  maxAgeMs: number;
  /** Lowest id a new segment may take (ids at or below it were used before and may be shipped). */
  minNextId: number;
}

export interface SealedSegment {
  id: number;
  path: string;
}

interface OpenSegment {
  id: number;
  lines: string[];
  bytes: number;
  openedAt: number;
  fh?: FileHandle;
}

const NAME = /^seg-(\d{12})\.(open|jsonl)$/;
export const segmentName = (id: number, ext: 'open' | 'jsonl'): string => `seg-${String(id).padStart(12, '0')}.${ext}`;
export const segmentIdOf = (name: string): number | undefined => {
  const m = /seg-(\d{12})/.exec(name);
  return m ? Number(m[1]) : undefined;
};

/** One line of a segment. Field names are the master dataset's columns. */
export function encodeLine(m: HealthMessage, recvUs: number): string {
  return `{"service":${JSON.stringify(m.service)},"ts":${m.ts},"cpu":${m.cpu},"ram_total":${m.ramTotal},"ram_free":${m.ramFree},"disk_total":${m.diskTotal},"disk_free":${m.diskFree},"recv":${recvUs}}\n`;
}

export class SegmentLog {
  private current!: OpenSegment;
  /** Sealed in memory, file not yet complete and renamed (a failed seal is retried on the next tick). */
  private retired: OpenSegment[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private timer?: NodeJS.Timeout;
  private flushedMessages = 0;
  private appendedMessages = 0;
  private readonly log: Logger;

  constructor(
    private readonly opts: SegmentLogOptions,
    log: Logger,
  ) {
    this.log = log.child({ module: 'segments' });
    mkdirSync(opts.dir, { recursive: true });
  }

  /** Recovers segments left by a previous process (a torn last line is cut off) and starts the flush timer. */
  async start(): Promise<SealedSegment[]> {
    let maxId = this.opts.minNextId - 1;
    for (const name of await readdir(this.opts.dir)) {
      const m = NAME.exec(name);
      if (!m) continue;
      const id = Number(m[1]);
      maxId = Math.max(maxId, id);
      if (m[2] === 'open') await this.recover(id);
    }
    this.current = this.fresh(maxId + 1);
    this.timer = setInterval(() => this.tick(), this.opts.flushIntervalMs);
    return this.sealed();
  }

  private fresh(id: number): OpenSegment {
    return { id, lines: [], bytes: 0, openedAt: Date.now() };
  }

  private async recover(id: number): Promise<void> {
    const path = join(this.opts.dir, segmentName(id, 'open'));
    const data = await readFile(path);
    const end = data.lastIndexOf(0x0a) + 1;
    if (end === 0) {
      await rm(path);
      return;
    }
    if (end < data.length) {
      this.log.warn({ segment: id, cut: data.length - end }, 'cut a torn last line from a segment left by a crash');
      await truncate(path, end);
    }
    await rename(path, join(this.opts.dir, segmentName(id, 'jsonl')));
    this.log.info({ segment: id }, 'recovered segment');
  }

  /** Appends one line (see encodeLine) to the open segment; returns the segment id it went to. Synchronous. */
  append(line: string): number {
    const seg = this.current;
    seg.lines.push(line);
    seg.bytes += line.length;
    this.appendedMessages++;
    if (seg.bytes >= this.opts.maxBytes) this.seal().catch(() => undefined); // logged and retried by the writer
    return seg.id;
  }

  get currentId(): number {
    return this.current.id;
  }

  /** Messages appended but not yet fsynced. */
  get unflushed(): number {
    return this.appendedMessages - this.flushedMessages;
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
      if (!seg.fh) {
        // Nothing ever reached the disk for it (every write failed until now): create it empty to rename.
        seg.fh = await open(join(this.opts.dir, segmentName(seg.id, 'open')), 'a');
      }
      await seg.fh.close();
      seg.fh = undefined;
      await rename(join(this.opts.dir, segmentName(seg.id, 'open')), join(this.opts.dir, segmentName(seg.id, 'jsonl')));
      await this.syncDir();
      this.retired.shift();
    }
  }

  private enqueue<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async write(seg: OpenSegment): Promise<void> {
    if (seg.lines.length === 0) return;
    const lines = seg.lines;
    seg.lines = [];
    try {
      if (!seg.fh) seg.fh = await open(join(this.opts.dir, segmentName(seg.id, 'open')), 'a');
      await seg.fh.write(lines.join(''));
      await seg.fh.datasync();
      this.flushedMessages += lines.length;
    } catch (err) {
      // Keep the lines in memory and try again on the next flush: accepted data is never dropped here.
      seg.lines = lines.concat(seg.lines);
      this.log.error({ err, segment: seg.id }, 'segment flush failed; will retry');
      throw err;
    }
  }

  private async syncDir(): Promise<void> {
    const dir = await open(this.opts.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
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
    const open = join(this.opts.dir, segmentName(this.current.id, 'open'));
    if (await stat(open).catch(() => undefined)) files.push(open);
    return files;
  }

  /** Removes a shipped segment: only after the store has confirmed it. */
  async remove(seg: SealedSegment): Promise<void> {
    await rm(seg.path, { force: true });
  }

  /** Stops the timer, then flushes and fsyncs the open segment. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush().catch(() => undefined);
    await this.enqueue(async () => this.current.fh?.close());
  }
}
