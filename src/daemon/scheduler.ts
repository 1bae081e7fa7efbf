import cron, { type ScheduledTask } from 'node-cron';
import type { JobStatus } from '../api.js';
import type { Logger } from '../log.js';
import { summarizeError } from '../core/error-code.js';

/**
 * node-cron jobs with overlap prevention: a tick that finds the previous run still going is skipped and
 * counted, not queued. Every run is recorded (count, failures, duration, last error).
 */
export class Scheduler {
  private readonly tasks: ScheduledTask[] = [];
  private readonly jobs = new Map<string, { status: JobStatus; fn: () => Promise<unknown> }>();
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(private readonly log: Logger) {}

  /** Registers a job; `schedule` "off" registers it for status only (run it on demand). */
  add(name: string, schedule: string, fn: () => Promise<unknown>): void {
    const status: JobStatus = { name, schedule, runs: 0, failures: 0, skipped: 0, lastStartedAt: null, lastDurationMs: null, lastError: null, lastErrorCode: null };
    this.jobs.set(name, { status, fn });
    if (schedule === 'off') return;
    let busy = false;
    const tick = async () => {
      if (busy) {
        status.skipped++;
        return;
      }
      busy = true;
      try {
        await this.record(name);
      } catch {
        // recorded and logged
      } finally {
        busy = false;
      }
    };
    const quiet = { info() {}, warn() {}, error() {}, debug() {} };
    this.tasks.push(cron.schedule(schedule, tick, { name, noOverlap: false, logger: quiet }));
  }

  /** Runs a job now (a mutation asked for it), recorded like a scheduled run; rejects with its failure. */
  runNow<T>(name: string): Promise<T> {
    return this.record(name) as Promise<T>;
  }

  private async record(name: string): Promise<unknown> {
    const job = this.jobs.get(name);
    if (!job) throw new Error(`no job named ${name}`);
    const { status } = job;
    const started = Date.now();
    status.lastStartedAt = started * 1000;
    const p = job.fn();
    this.inFlight.add(p);
    try {
      const out = await p;
      status.lastError = null;
      status.lastErrorCode = null;
      return out;
    } catch (err) {
      status.failures++;
      const failure = summarizeError(err, 'JOB_FAILED');
      status.lastError = failure.text;
      status.lastErrorCode = failure.code;
      this.log.error({ err, job: name }, 'scheduled job failed');
      throw err;
    } finally {
      this.inFlight.delete(p);
      status.runs++;
      status.lastDurationMs = Date.now() - started;
    }
  }

  status(): JobStatus[] {
    return [...this.jobs.values()].map((j) => ({ ...j.status }));
  }

  /** Stops all schedules, then waits for runs in progress (node-cron's stop does not). */
  async stop(): Promise<void> {
    for (const t of this.tasks) await t.stop();
    await Promise.allSettled([...this.inFlight]);
  }
}
