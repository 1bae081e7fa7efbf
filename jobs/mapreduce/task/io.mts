/**
 * Stdin/stdout plumbing for the Hadoop Streaming entry scripts.
 *
 * Streaming talks to a task through pipes: records are lines on stdin, results lines on stdout, and
 * `reporter:counter:<group>,<name>,<n>` lines on stderr become job counters. Whatever else the task writes
 * to stderr is the text Hadoop shows for a failed task, so a failure prints one line saying what and where,
 * and exits non-zero, which fails the task and (with no retries left) the job.
 */

/** Output is batched into large writes; waiting for 'drain' keeps memory bounded when Hadoop reads slowly. */
class LineWriter {
  private parts: string[] = [];
  private bytes = 0;

  write(line: string): void {
    this.parts.push(line, '\n');
    this.bytes += line.length + 1;
  }

  get full(): boolean {
    return this.bytes >= 1 << 16;
  }

  async flush(): Promise<void> {
    if (this.parts.length === 0) return;
    const chunk = this.parts.join('');
    this.parts = [];
    this.bytes = 0;
    if (!process.stdout.write(chunk)) await new Promise((resolve) => process.stdout.once('drain', resolve));
  }
}

export interface Stage {
  push(line: string): void;
  end(): void;
}

/**
 * Runs a stage over stdin line by line. `create` gets the function to emit output lines with.
 * `counters` is read after the end of input and reported to Hadoop.
 */
export async function runStage(name: string, create: (emit: (line: string) => void) => Stage, counters: () => Record<string, number> = () => ({})): Promise<void> {
  const out = new LineWriter();
  try {
    const stage = create((line) => out.write(line));
    let rest = '';
    process.stdin.setEncoding('utf8');
    for await (const chunk of process.stdin as AsyncIterable<string>) {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop()!;
      for (const line of lines) stage.push(line);
      if (out.full) await out.flush();
    }
    if (rest !== '') stage.push(rest);
    stage.end();
    await out.flush();
    for (const [counter, n] of Object.entries(counters())) process.stderr.write(`reporter:counter:hms,${counter},${n}\n`);
  } catch (err) {
    // A combined split holds several files; streaming exports the first one's name only.
    const file = process.env.mapreduce_map_input_file;
    const where = file ? ` (map split starting at ${file})` : '';
    process.stderr.write(`hms-mr ${name} failed${where}: ${(err as Error).message}\n`);
    process.exit(3);
  }
}

/** A required integer setting passed with `-cmdenv NAME=value`. */
export function intEnv(name: string, fallback?: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') {
    if (fallback !== undefined) return fallback;
    process.stderr.write(`hms-mr: ${name} is not set (pass it with -cmdenv ${name}=...)\n`);
    process.exit(2);
  }
  const v = Number(raw);
  if (!Number.isSafeInteger(v)) {
    process.stderr.write(`hms-mr: ${name} must be an integer, got ${JSON.stringify(raw)}\n`);
    process.exit(2);
  }
  return v;
}
