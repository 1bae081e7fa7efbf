/**
 * Reads what a Hadoop Streaming client prints (its log on stderr, one line at a time): the job id, progress
 * ("map 50% reduce 0%"), counters, and, when the job fails, the lines that say why. Pure, so it is tested
 * on captured output.
 */

export interface JobProgress {
  map: number;
  reduce: number;
}

const PROGRESS = /\bmap (\d{1,3})% reduce (\d{1,3})%/;
const JOB_ID = /Running job: (job_\w+)/;
const COUNTER = /^\s+([^=]+?)=(-?\d+)\s*$/;

/**
 * Lines that explain a failure, in the order they came:
 * - what our task scripts print before exiting non-zero (`hms-mr ...`): with local mode it reaches this
 *   stderr directly; on YARN it stays in the task's log and the client shows Hadoop's summary;
 * - the first line of Java exceptions ("...Exception: ...", "Error: ..."), not their stack frames;
 * - Hadoop's verdicts ("failed with state FAILED due to", "Job not successful", "Streaming Command Failed",
 *   "ERROR ..." log lines).
 */
const EXPLAINS = [
  /^hms-mr\b/,
  /\b(ERROR|FATAL)\b/,
  /\b\w+(Exception|Error)\b: /,
  /failed with state/,
  /tasks failed/,
  /Streaming Command Failed/,
  /^Error: /,
  /Status : FAILED/,
];

const MAX_ERROR_LINES = 40;
const TAIL_LINES = 30;

export class JobLog {
  jobId: string | undefined;
  progress: JobProgress = { map: 0, reduce: 0 };
  /** Job counters as printed at the end, by display name (e.g. "Map input records", "map_records_kept"). */
  readonly counters = new Map<string, number>();
  private readonly explaining: string[] = [];
  private readonly tail: string[] = [];

  /** Takes one line; returns the new progress when this line changed it. */
  line(raw: string): JobProgress | undefined {
    const line = raw.trimEnd();
    if (line === '') return undefined;
    this.tail.push(line);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
    const counter = COUNTER.exec(line);
    if (counter) {
      this.counters.set(counter[1], Number(counter[2]));
      return undefined;
    }
    if (/^\s+at /.test(line) || /^\s*\.\.\. \d+ more/.test(line)) return undefined;
    if (EXPLAINS.some((re) => re.test(line)) && !this.explaining.includes(line) && this.explaining.length < MAX_ERROR_LINES) this.explaining.push(line);
    this.jobId ??= JOB_ID.exec(line)?.[1];
    const p = PROGRESS.exec(line);
    if (!p) return undefined;
    const next = { map: Number(p[1]), reduce: Number(p[2]) };
    if (next.map === this.progress.map && next.reduce === this.progress.reduce) return undefined;
    this.progress = next;
    return next;
  }

  /** What to report when the job failed: Hadoop's own words, or the end of its output when none matched. */
  errorText(exit: string): string {
    const lines = this.explaining.length > 0 ? this.explaining : this.tail;
    // `hadoop jar` log lines start with a timestamp; the message is what matters.
    const text = lines.map((l) => l.replace(/^(\d{4}-\d{2}-\d{2}[ T])?\d{2}:\d{2}:\d{2}[,.]\d{3} /, '')).join('\n');
    return `MapReduce job ${this.jobId ?? '(not started)'} failed (${exit}):\n${text}`.slice(0, 8000);
  }
}
