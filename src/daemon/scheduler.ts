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
  private readonly jobs = new Map<string, JobStatus>();
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(private readonly log: Logger) {}

  /** Registers a job; `schedule` "off" registers it for status only (run it on demand). */
  add(name: string, schedule: string, fn: () => Promise<unknown>): void {
    const status: JobStatus = { name, schedule, runs: 0, failures: 0, skipped: 0, lastStartedAt: null, lastDurationMs: null, lastError: null, lastErrorCode: null };
    this.jobs.set(name, status);
    if (schedule === 'off') return;
    let busy = false;
    const run = async () => {
      if (busy) {
        status.skipped++;
        return;
      }
      busy = true;
      const started = Date.now();
      status.lastStartedAt = started * 1000;
      const p = fn();
      this.inFlight.add(p);
      try {
        await p;
        status.lastError = null;
        status.lastErrorCode = null;
      } catch (err) {
        status.failures++;
        const failure = summarizeError(err, 'JOB_FAILED');
        status.lastError = failure.text;
        status.lastErrorCode = failure.code;
        this.log.error({ err, job: name }, 'scheduled job failed');
      } finally {
        this.inFlight.delete(p);
        status.runs++;
        status.lastDurationMs = Date.now() - started;
        busy = false;
      }
    };
    const quiet = { info() {}, warn() {}, error() {}, debug() {} };
    this.tasks.push(cron.schedule(schedule, run, { name, noOverlap: false, logger: quiet }));
  }

  status(): JobStatus[] {
    return [...this.jobs.values()].map((j) => ({ ...j }));
  }

  /** Stops all schedules, then waits for runs in progress (node-cron's stop does not). */
  async stop(): Promise<void> {
    for (const t of this.tasks) await t.stop();
    await Promise.allSettled([...this.inFlight]);
  }
}
