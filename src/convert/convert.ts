/**
 * `hms convert`: health messages in any accepted text form to the seed's CSV. Input is split into objects by
 * brace matching rather than by line, because the seed's client writes multi-line objects with trailing
 * commas; JSON lines and the course dataset's one-dict-per-line text split the same way. The CSV is the
 * seed's: integer epoch seconds (its MapReduce job reads them with Long.parseLong) unless --timestamp-unit
 * says otherwise, and every number as JavaScript prints it, the shortest text that reads back the same double.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseFlags } from '../cli-flags.js';
import { CONVERT_SETTINGS, ConfigError, type TIMESTAMP_UNITS } from '../config/settings.js';
import { type DecodeOptions, decodeText } from '../ingest/decode.js';
import type { CompatMode, HealthMessage, RejectReason } from '../core/message.js';
import { microsToIso } from '../core/time.js';

export const CSV_HEADER = 'service,timestamp,CPU,total_ram,free_ram,total_disk,free_disk';

export interface BadRecord {
  /** Line where the record starts, 1-based. */
  line: number;
  reason: string;
  detail: string;
}

/** An object's text (`comma`: a comma followed it, as after each of the seed client's objects), or a bad record. */
export type Scanned = { line: number; text: string; comma: boolean } | { line: number; reason: RejectReason; detail: string };

/** An object bigger than this is not a health message; stop buffering it. */
const MAX_OBJECT_CHARS = 1 << 20;

const OPEN = 123; // {
const CLOSE = 125; // }
const DQUOTE = 34;
const SQUOTE = 39;
const BACKSLASH = 92;
const NEWLINE = 10;
const COMMA = 44;

/** Between objects: whitespace, the seed's trailing commas, and the brackets of a JSON array are all framing. */
const isFraming = (c: number): boolean => c === 32 || c === 9 || c === 13 || c === NEWLINE || c === COMMA || c === 91 || c === 93 || c === 0xfeff;

/**
 * Splits text into top-level `{...}` objects, chunk by chunk, respecting '...' and "..." literals. It resyncs
 * after damage instead of swallowing the rest of the file: a raw newline inside a string ends the broken
 * object, and a `{` in column 0 starts a new object even if the previous one never closed (a truncated line).
 */
export class ObjectScanner {
  private line = 1;
  private atLineStart = true;
  private depth = 0;
  private quote = 0;
  private escaped = false;
  /** The current object's text from earlier chunks. */
  private carried = '';
  private startLine = 0;
  /** Non-framing text outside any object, reported as one bad record per line. */
  private junk = '';
  private junkLine = 0;
  /** Dropping an oversized object until the next `{` in column 0. */
  private skipping = false;
  /** The last object, held back until what follows it shows whether a comma does. */
  private held: { line: number; text: string; comma: boolean } | undefined;

  push(chunk: string, out: Scanned[]): void {
    let from = 0; // where the current object's text starts in this chunk
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      const lineStart = this.atLineStart;
      this.atLineStart = c === NEWLINE;
      if (this.depth > 0 && c === OPEN && lineStart) {
        this.fail(out, this.startLine, 'malformed_json', `object never closed (a new one starts on line ${this.line})`);
      }
      if (this.depth === 0) {
        if (c === OPEN && (!this.skipping || lineStart)) {
          this.release(out);
          this.flushJunk(out);
          this.skipping = false;
          this.depth = 1;
          this.startLine = this.line;
          this.carried = '';
          from = i;
        } else if (!this.skipping) {
          if (c === NEWLINE) this.flushJunk(out);
          else if (c === COMMA && this.held) this.held.comma = true;
          else if (!isFraming(c)) {
            this.release(out);
            if (this.junk === '') this.junkLine = this.line;
            if (this.junk.length < 80) this.junk += chunk[i];
          }
        }
      } else if (this.quote !== 0) {
        if (this.escaped) this.escaped = false;
        else if (c === BACKSLASH) this.escaped = true;
        else if (c === this.quote) this.quote = 0;
        else if (c === NEWLINE) this.fail(out, this.startLine, 'malformed_json', `unterminated string (line ${this.line} ends inside it)`);
      } else if (c === DQUOTE || c === SQUOTE) {
        this.quote = c;
      } else if (c === OPEN) {
        this.depth++;
      } else if (c === CLOSE && --this.depth === 0) {
        this.held = { line: this.startLine, text: this.carried + chunk.slice(from, i + 1), comma: false };
        this.carried = '';
      }
      if (c === NEWLINE) this.line++;
    }
    if (this.depth > 0) {
      this.carried += chunk.slice(from);
      if (this.carried.length > MAX_OBJECT_CHARS) {
        this.fail(out, this.startLine, 'too_large', `object longer than ${MAX_OBJECT_CHARS} characters`);
        this.skipping = true;
      }
    }
  }

  end(out: Scanned[]): void {
    this.release(out);
    if (this.depth > 0) this.fail(out, this.startLine, 'malformed_json', 'object never closed (input ends inside it)');
    this.flushJunk(out);
  }

  private release(out: Scanned[]): void {
    if (this.held) out.push(this.held);
    this.held = undefined;
  }

  private fail(out: Scanned[], line: number, reason: RejectReason, detail: string): void {
    out.push({ line, reason, detail });
    this.depth = 0;
    this.quote = 0;
    this.escaped = false;
    this.carried = '';
  }

  private flushJunk(out: Scanned[]): void {
    if (this.junk === '') return;
    out.push({ line: this.junkLine, reason: 'malformed_json', detail: `text outside any object: ${this.junk}` });
    this.junk = '';
  }
}

const csvField = (s: string): string => (/[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);

export type TimestampUnit = (typeof TIMESTAMP_UNITS)[number];

/**
 * An event time (integer epoch µs, as decoded) in the CSV. Whole seconds and milliseconds are cut down (floor),
 * because Long.parseLong reads digits only; `us` is exact; `ns` is the µs with three zeros (the decoder keeps µs).
 */
export function formatTimestamp(us: number, unit: TimestampUnit): string {
  switch (unit) {
    // Below 2^53 a quotient's rounding is finer than 1e-6 of a second, so it never reaches the next whole one.
    case 's':
      return String(Math.floor(us / 1e6));
    case 'ms':
      return String(Math.floor(us / 1e3));
    case 'us':
      return String(us);
    case 'ns':
      return us === 0 ? '0' : `${us}000`; // beyond 2^53 as a number: written as text
    case 'iso':
      return microsToIso(us);
  }
}

/** A CSV row. Numbers are written as String() prints them: the shortest text that parses back to the same double. */
export const csvRow = (m: HealthMessage, unit: TimestampUnit = 's'): string =>
  `${csvField(m.service)},${formatTimestamp(m.ts, unit)},${m.cpu},${m.ramTotal},${m.ramFree},${m.diskTotal},${m.diskFree}\n`;

export interface ConvertOptions {
  /** Legacy formats to accept, as in the daemon. */
  compat: ReadonlySet<CompatMode>;
  /** How the timestamp column is written. @default 's' */
  timestampUnit?: TimestampUnit;
}

/**
 * Converts `inPath` (`-` = stdin) to CSV at `outPath`. Bad records are collected, not fatal. The CSV is written
 * under a temporary name and renamed into place, so a failed run never leaves a half-written OUT behind.
 */
export async function convertFile(inPath: string, outPath: string, opts: ConvertOptions): Promise<{ records: number; errors: BadRecord[] }> {
  // Archived data is old and may come from skewed clocks: the daemon's "future" guard does not apply here.
  const decodeOpts: DecodeOptions = { maxBytes: Number.MAX_SAFE_INTEGER, maxFutureUs: Number.MAX_SAFE_INTEGER, minTimestampUs: 0, compat: opts.compat };
  const unit = opts.timestampUnit ?? 's';
  // The seed client ends each object with a comma, which the scanner takes as framing; given back, it tells the
  // decoder the object is the seed's (CPU a fraction), as the trailing comma of a datagram does.
  const seed = opts.compat.has('seed');
  const nowUs = Date.now() * 1000;
  const scanner = new ObjectScanner();
  const errors: BadRecord[] = [];
  let records = 0;

  const toRows = (pieces: Scanned[]): string => {
    let rows = '';
    for (const p of pieces) {
      if (!('text' in p)) {
        errors.push({ line: p.line, reason: p.reason, detail: p.detail });
        continue;
      }
      const d = decodeText(seed && p.comma ? `${p.text},` : p.text, nowUs, decodeOpts);
      if (d.ok) {
        rows += csvRow(d.msg, unit);
        records++;
      } else errors.push({ line: p.line, reason: d.reason, detail: d.detail });
    }
    return rows;
  };

  async function* csv(source: AsyncIterable<string>): AsyncGenerator<string> {
    yield `${CSV_HEADER}\n`;
    const pieces: Scanned[] = [];
    for await (const chunk of source) {
      pieces.length = 0;
      scanner.push(chunk, pieces);
      const rows = toRows(pieces);
      if (rows) yield rows;
    }
    pieces.length = 0;
    scanner.end(pieces);
    const rows = toRows(pieces);
    if (rows) yield rows;
  }

  const input = inPath === '-' ? process.stdin.setEncoding('utf8') : createReadStream(inPath, { encoding: 'utf8' });
  const tmp = join(dirname(outPath), `.${basename(outPath)}.${randomUUID().slice(0, 8)}.tmp`);
  try {
    await pipeline(input, csv, createWriteStream(tmp, { flags: 'wx', flush: true }));
    await rename(tmp, outPath);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return { records, errors };
}

export const CONVERT_USAGE = 'usage: hms convert IN OUT.csv [--compat seed,course] [--timestamp-unit s|ms|us|ns|iso]   (IN may be - for stdin)';

type Parsed = { inPath: string; outPath: string; opts: ConvertOptions } | { error: string };

function parseArgs(argv: string[]): Parsed {
  let settings: ReturnType<typeof CONVERT_SETTINGS.load>;
  let positional: string[];
  try {
    const { flags, positionals } = parseFlags(argv);
    settings = CONVERT_SETTINGS.load({ flags, env: process.env });
    positional = positionals;
  } catch (err) {
    if (err instanceof ConfigError) return { error: err.message };
    throw err;
  }
  if (positional.length === 0) return { error: 'missing IN (the file to convert, or - for stdin) and OUT.csv' };
  if (positional.length === 1) return { error: 'missing OUT.csv (where to write the CSV)' };
  if (positional.length > 2) return { error: `unexpected argument ${positional[2]}` };
  return { inPath: positional[0], outPath: positional[1], opts: { compat: settings.compat, timestampUnit: settings.timestampUnit } };
}

/**
 * The `convert` subcommand, given the arguments after it. Exit code: 0 all converted, 1 some records were bad,
 * 2 usage error or unreadable input / unwritable output.
 */
export async function convertCommand(argv: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const args = parseArgs(argv);
  if ('error' in args) {
    err.write(`hms convert: ${args.error}\n${CONVERT_USAGE}\n`);
    return 2;
  }
  let result: Awaited<ReturnType<typeof convertFile>>;
  try {
    result = await convertFile(args.inPath, args.outPath, args.opts);
  } catch (e) {
    err.write(`hms convert: ${(e as Error).message}\n`);
    return 2;
  }
  const name = args.inPath === '-' ? '<stdin>' : args.inPath;
  for (const bad of result.errors) err.write(`${name}:${bad.line}: ${bad.reason}: ${bad.detail}\n`);
  out.write(`converted ${result.records} records to ${args.outPath}; ${result.errors.length} bad records\n`);
  return result.errors.length > 0 ? 1 : 0;
}
