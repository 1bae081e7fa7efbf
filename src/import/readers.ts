import { createReadStream } from 'node:fs';
import { CSV_HEADER, ObjectScanner, type Scanned } from '../convert/convert.js';
import { fractionToPercent } from '../ingest/decode.js';
import type { CompatMode, RejectReason } from '../core/message.js';

/**
 * What `hms import` reads: records of a file, each as the text of a wire-format message (decoded later, by the
 * daemon's own decoder) or as a reason it is not one, with the line it starts on.
 * - `jsonl`: health messages as the daemon takes them, split by brace matching as `hms convert` does, so the
 *   seed client's multi-line objects (`--compat seed`) and the course's Python dicts (`--compat course`) read too.
 * - `csv`: the seed's CSV, `service,timestamp,CPU,total_ram,free_ram,total_disk,free_disk` (the header line is
 *   optional), as `hms convert` writes it; with `--compat seed` or `course`, CPU is the 0-1 fraction those
 *   sources write.
 */

export const IMPORT_FORMATS = ['jsonl', 'csv'] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

export type ImportRecord = { line: number; text: string } | { line: number; reason: RejectReason; detail: string };

export interface RecordChunk {
  records: ImportRecord[];
  /** Bytes of the file read so far (for progress). */
  bytesRead: number;
}

/** The records of `path` (`-`: stdin), a chunk of the file at a time. */
export async function* readRecords(path: string, format: ImportFormat, compat: ReadonlySet<CompatMode>): AsyncGenerator<RecordChunk> {
  const input = path === '-' ? process.stdin : createReadStream(path, { highWaterMark: 1 << 20 });
  const split = format === 'csv' ? new CsvRecords(compat.size > 0) : new JsonRecords(compat.has('seed'));
  let bytesRead = 0;
  const decoder = new TextDecoder('utf-8');
  for await (const chunk of input as AsyncIterable<Buffer>) {
    bytesRead += chunk.length;
    const records: ImportRecord[] = [];
    split.push(decoder.decode(chunk, { stream: true }), records);
    yield { records, bytesRead };
  }
  const records: ImportRecord[] = [];
  split.push(decoder.decode(), records);
  split.end(records);
  yield { records, bytesRead };
}

interface Splitter {
  push(text: string, out: ImportRecord[]): void;
  end(out: ImportRecord[]): void;
}

class JsonRecords implements Splitter {
  private readonly scanner = new ObjectScanner();
  private readonly pieces: Scanned[] = [];

  /** `seed`: an object followed by a comma is the seed client's (CPU a fraction), as its datagrams show it. */
  constructor(private readonly seed: boolean) {}

  push(text: string, out: ImportRecord[]): void {
    this.scanner.push(text, this.pieces);
    this.take(out);
  }

  end(out: ImportRecord[]): void {
    this.scanner.end(this.pieces);
    this.take(out);
  }

  private take(out: ImportRecord[]): void {
    for (const p of this.pieces) out.push('text' in p ? { line: p.line, text: this.seed && p.comma ? `${p.text},` : p.text } : p);
    this.pieces.length = 0;
  }
}

const HEADER = CSV_HEADER.toLowerCase();
/** A number as JSON writes one (no hex, no Infinity, no blanks). */
const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const COLUMNS = CSV_HEADER.split(',');

/** The fields of one CSV line (RFC 4180 quoting), or undefined when its quotes do not close. */
export function csvFields(line: string): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let field = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) return undefined;
        field += line.slice(i, q);
        if (line[q + 1] === '"') {
          field += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      out.push(field);
      if (i < line.length && line[i] !== ',') return undefined;
    } else {
      const comma = line.indexOf(',', i);
      out.push(line.slice(i, comma < 0 ? line.length : comma));
      i = comma < 0 ? line.length : comma;
    }
    if (i >= line.length) return out;
    i++; // the comma
  }
}

class CsvRecords implements Splitter {
  private carried = '';
  private line = 0;

  /** `fractions`: CPU is a 0-1 fraction (the seed's and the course's CSVs), stored as a percentage. */
  constructor(private readonly fractions: boolean) {}

  push(text: string, out: ImportRecord[]): void {
    const lines = (this.carried + text).split('\n');
    this.carried = lines.pop()!;
    for (const l of lines) this.row(l, out);
  }

  end(out: ImportRecord[]): void {
    if (this.carried !== '') this.row(this.carried, out);
    this.carried = '';
  }

  private row(raw: string, out: ImportRecord[]): void {
    const line = ++this.line;
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text.trim() === '' || (line === 1 && text.replace(/^\ufeff/, '').trim().toLowerCase() === HEADER)) return;
    const f = csvFields(text);
    if (!f) return void out.push({ line, reason: 'malformed_json', detail: 'a quoted field does not close' });
    if (f.length !== COLUMNS.length) return void out.push({ line, reason: 'schema', detail: `${f.length} fields; the CSV has ${COLUMNS.length}: ${CSV_HEADER}` });
    const numbers: number[] = [];
    for (let c = 2; c < COLUMNS.length; c++) {
      const n = NUMBER.test(f[c].trim()) ? Number(f[c]) : Number.NaN;
      if (!Number.isFinite(n)) return void out.push({ line, reason: 'schema', detail: `${COLUMNS[c]} ${JSON.stringify(f[c].slice(0, 40))} is not a number` });
      numbers.push(n);
    }
    const [cpu, ramTotal, ramFree, diskTotal, diskFree] = numbers;
    // The timestamp as the decoder takes it: a number of any epoch unit, or an ISO-8601 string.
    const ts = f[1].trim();
    const timestamp = NUMBER.test(ts) ? ts : JSON.stringify(ts);
    out.push({
      line,
      text: `{"serviceName":${JSON.stringify(f[0])},"Timestamp":${timestamp},"CPU":${this.fractions ? fractionToPercent(cpu) : cpu},"RAM":{"Total":${ramTotal},"Free":${ramFree}},"Disk":{"Total":${diskTotal},"Free":${diskFree}}}`,
    });
  }
}
