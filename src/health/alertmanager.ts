/**
 * Alerts pushed to Alertmanager's API (`POST /api/v2/alerts`) the way Prometheus pushes them, so Alertmanager's
 * routing, grouping, inhibition, silences and receivers (mail, chat, paging) apply unchanged. Alertmanager keeps
 * an alert only as long as its `endsAt`: every firing alert is pushed again each resend interval with `endsAt` a
 * few intervals ahead, so if the daemon dies Alertmanager resolves the alert by itself; a resolved alert is
 * pushed with its real end time, and again with every push until that horizon has passed (by then an
 * Alertmanager that missed it has timed the alert out anyway).
 *
 * Off the ingest path and off the evaluator's: `tick` starts a push and returns. Each Alertmanager has at most
 * one push in flight; a failed one is retried with backoff, counted, and logged once per distinct problem.
 */
import { ALERTMANAGER_ENDS_AFTER } from '../config/settings.js';
import { microsToIso } from '../core/time.js';
import type { Logger } from '../log.js';
import type { AlertRecord } from './evaluator.js';
import { type AlertReceiver, type DescribedAlert, describeAlert, postJson } from './notifier.js';

export interface AlertmanagerOptions {
  /** Alertmanager base URLs (`/api/v2/alerts` is appended); every alert goes to each, as Prometheus does. */
  urls: string[];
  /** A firing alert is pushed again this often (Prometheus `--rules.alert.resend-delay`). @default 1m */
  resendIntervalUs?: number;
  /** Per-request timeout. @default 10s */
  timeoutUs?: number;
  /** Delay before the first retry of a failed push; doubled on each further one, up to the resend interval. @default 1s */
  backoffUs?: number;
  /** Most alerts per POST; more go out in several, one after the other. @default 64 (Prometheus' batch size) */
  maxBatch?: number;
}

export interface AlertmanagerStats {
  /** Pushes an Alertmanager accepted in full. */
  sent: number;
  /** Pushes that failed (each retried later). */
  failed: number;
  /** Alerts pushed on every push now: the firing ones and the recently resolved ones. */
  alerts: number;
  /** Alertmanagers whose last push failed. */
  failing: number;
  /** Pushes under way now. */
  inFlight: number;
}

/** One alert as `POST /api/v2/alerts` takes it. */
export interface PostableAlert extends DescribedAlert {
  endsAt: string;
}

const S = 1_000_000;

/** The alerts endpoint under a base URL, keeping any path prefix (`--web.route-prefix`); a full endpoint stays as it is. */
export function alertsEndpoint(base: string): string {
  const url = new URL(base);
  if (!url.pathname.endsWith('/api/v2/alerts')) url.pathname = `${url.pathname.replace(/\/+$/, '')}/api/v2/alerts`;
  return url.toString();
}

/**
 * An alert as pushed at `nowUs`: a firing one ends `horizonUs` from now unless pushed again. Alertmanager refuses
 * an end before the start (400), which a clock stepped back could otherwise produce.
 */
export function postableAlert(a: AlertRecord, nowUs: number, horizonUs: number): PostableAlert {
  const end = a.state === 'FIRING' || a.endedAt === null ? nowUs + horizonUs : a.endedAt;
  return { ...describeAlert(a), endsAt: microsToIso(Math.max(end, a.startedAt + 1000)) };
}

class Target {
  /** The alerts' version the last accepted push carried. */
  acceptedVersion = -1;
  lastPushUs = Number.NEGATIVE_INFINITY;
  inFlight = false;
  /** Consecutive failed pushes. */
  failures = 0;
  retryAtUs = Number.NEGATIVE_INFINITY;
  /** What the last push failed with; null once one succeeds. Logged when it changes, not on every attempt. */
  problem: string | null = null;

  constructor(readonly url: string) {}
}

export class AlertmanagerNotifier implements AlertReceiver {
  private readonly o: Required<AlertmanagerOptions>;
  private readonly targets: Target[];
  /** Firing and recently resolved alerts by id, as they now are. */
  private readonly alerts = new Map<string, AlertRecord>();
  /** Bumped at every change to `alerts` that Alertmanager must hear of at once. */
  private version = 0;
  private closed = false;
  private readonly abort = new AbortController();
  private readonly counts = { sent: 0, failed: 0 };

  constructor(
    opts: AlertmanagerOptions,
    private readonly log: Logger,
    /** Whether a silence covers the alert now: silenced alerts are not pushed, as they are not sent to the webhook. */
    private readonly silenced: (alert: AlertRecord) => boolean,
  ) {
    this.o = { resendIntervalUs: 60 * S, timeoutUs: 10 * S, backoffUs: S, maxBatch: 64, ...opts };
    this.targets = opts.urls.map((u) => new Target(alertsEndpoint(u)));
  }

  stats(): AlertmanagerStats {
    const count = (f: (t: Target) => boolean) => this.targets.filter(f).length;
    return { ...this.counts, alerts: this.alerts.size, failing: count((t) => t.problem !== null), inFlight: count((t) => t.inFlight) };
  }

  /** Alerts that were firing before a restart: pushed at once, since an Alertmanager may have timed them out meanwhile. */
  restore(alerts: AlertRecord[]): void {
    for (const a of alerts) this.alerts.set(a.id, a);
    this.version++;
  }

  notify(alert: AlertRecord): void {
    if (this.closed) return;
    this.alerts.set(alert.id, alert);
    this.version++;
  }

  /** Pushes to every Alertmanager that has not heard the newest changes, or whose resend interval has passed. */
  tick(nowUs: number): void {
    if (this.closed) return;
    const horizonUs = ALERTMANAGER_ENDS_AFTER * this.o.resendIntervalUs;
    for (const [id, a] of this.alerts) if (a.endedAt !== null && a.endedAt < nowUs - horizonUs) this.alerts.delete(id);
    let batch: PostableAlert[] | undefined;
    for (const target of this.targets) {
      if (target.inFlight || nowUs < target.retryAtUs) continue;
      if (target.acceptedVersion === this.version && nowUs - target.lastPushUs < this.o.resendIntervalUs) continue;
      batch ??= [...this.alerts.values()].filter((a) => !this.silenced(a)).map((a) => postableAlert(a, nowUs, horizonUs));
      if (batch.length > 0) void this.push(target, batch, this.version, nowUs);
      else this.accepted(target, this.version, nowUs);
    }
  }

  /** The target knows the alerts as of `version` (or had nothing to hear of). */
  private accepted(target: Target, version: number, nowUs: number): void {
    target.acceptedVersion = version;
    target.lastPushUs = nowUs;
  }

  private async push(target: Target, alerts: PostableAlert[], version: number, nowUs: number): Promise<void> {
    target.inFlight = true;
    try {
      for (let i = 0; i < alerts.length; i += this.o.maxBatch) {
        await postJson(target.url, alerts.slice(i, i + this.o.maxBatch), this.abort.signal, this.o.timeoutUs);
      }
      this.counts.sent++;
      this.accepted(target, version, nowUs);
      target.failures = 0;
      target.retryAtUs = Number.NEGATIVE_INFINITY;
      if (target.problem !== null) this.log.info({ url: target.url, was: target.problem }, 'Alertmanager accepts alerts again');
      target.problem = null;
    } catch (err) {
      if (this.closed) return;
      this.counts.failed++;
      target.failures++;
      // Even a refusal (4xx) is retried: Alertmanager keeps the valid alerts of a refused push, and the next
      // push may carry different ones. Capped at the resend interval, which a working push waits anyway.
      target.retryAtUs = nowUs + Math.min(this.o.resendIntervalUs, this.o.backoffUs * 2 ** (target.failures - 1));
      const problem = (err as Error).message;
      if (problem !== target.problem) {
        this.log.warn({ url: target.url, err: problem, alerts: alerts.length }, 'Alertmanager push failed; retrying with backoff (logged again only if the problem changes)');
      }
      target.problem = problem;
    } finally {
      target.inFlight = false;
    }
  }

  /** Stops pushing and aborts any push in flight. Nothing is pushed at close: Alertmanager ends the alerts by their `endsAt`. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
  }
}
