/**
 * Webhook notifications in the Alertmanager webhook format (version "4"), so any receiver written for
 * Alertmanager (chat bridges, paging tools) works unchanged. Runs entirely off the ingest path: `notify` and
 * `tick` only put alerts in a bounded buffer; timers group them, one POST at a time goes out with retry and
 * exponential backoff. A receiver that is down costs memory up to the bound, then counted drops, never latency.
 */
import type { Logger } from '../log.js';
import { microsToIso } from '../core/time.js';
import type { AlertRecord } from './evaluator.js';

export interface WebhookOptions {
  url: string;
  /** Receiver name in the payload. @default "hms" */
  receiver?: string;
  /** Alerts that change within this long of the first one go out in one POST (Alertmanager `group_wait`). @default 10s */
  groupWaitUs?: number;
  /** A still-firing alert is sent again this often (Alertmanager `repeat_interval`). @default 4h */
  repeatIntervalUs?: number;
  /** Per-request timeout. @default 10s */
  timeoutUs?: number;
  /** Delay before the first retry; doubled on each further one. @default 1s */
  backoffUs?: number;
  /** Longest delay between retries. @default 1m */
  maxBackoffUs?: number;
  /** Attempts per POST before it is given up (counted as failed). @default 6 */
  maxAttempts?: number;
  /** Alerts waiting to be sent, at most; beyond this new ones are dropped and counted. @default 1000 */
  maxQueue?: number;
  /** Link to this monitor, passed on as `externalURL`. @default "" */
  externalUrl?: string;
}

/** Where alert transitions go (the webhook, Alertmanager). Called from the health tick, never per message. */
export interface AlertReceiver {
  /** Alerts that were firing before a restart. */
  restore(alerts: AlertRecord[], nowUs: number): void;
  /** An alert fired or resolved. */
  notify(alert: AlertRecord, nowUs: number): void;
  /** Once per evaluation, after the transitions: time for repeats and retries. Must return at once. */
  tick(nowUs: number): void;
  close(): void;
}

export interface NotifierStats {
  /** POSTs the receiver accepted. */
  sent: number;
  /** Failed attempts that were retried. */
  retries: number;
  /** POSTs given up after maxAttempts or a client error. */
  failed: number;
  /** Alerts not queued because the queue was full, or unsent at close. */
  dropped: number;
  /** Alerts waiting now. */
  queued: number;
}

/** What every receiver is told about an alert: its labels (its identity in Alertmanager) and annotations. */
export interface DescribedAlert {
  labels: { alertname: string; service: string; severity: string };
  annotations: { summary: string };
  startsAt: string;
  generatorURL: string;
}

/** One alert in an Alertmanager webhook payload. */
export interface WebhookAlert extends DescribedAlert {
  status: 'firing' | 'resolved';
  endsAt: string;
  fingerprint: string;
}

export interface WebhookPayload {
  version: '4';
  groupKey: string;
  truncatedAlerts: number;
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  alerts: WebhookAlert[];
}

const S = 1_000_000;
// Alertmanager writes the zero time for "no end yet"; receivers test for it.
const NO_END = '0001-01-01T00:00:00Z';

/** The alert → labels mapping shared by the webhook and the Alertmanager push: the rule is the alertname. */
export function describeAlert(a: AlertRecord): DescribedAlert {
  return {
    labels: { alertname: a.rule, service: a.service, severity: a.severity },
    annotations: { summary: `${a.service}: ${a.message}` },
    startsAt: microsToIso(a.startedAt),
    generatorURL: '',
  };
}

function toWebhookAlert(a: AlertRecord): WebhookAlert {
  const firing = a.state === 'FIRING';
  return {
    status: firing ? 'firing' : 'resolved',
    ...describeAlert(a),
    endsAt: firing || a.endedAt === null ? NO_END : microsToIso(a.endedAt),
    fingerprint: a.id,
  };
}

/** Labels or annotations that every alert in the group shares. */
function common<T extends Record<string, string>>(items: T[]): Record<string, string> {
  if (items.length === 0) return {};
  const out: Record<string, string> = { ...items[0] };
  for (const item of items.slice(1)) for (const k of Object.keys(out)) if (item[k] !== out[k]) delete out[k];
  return out;
}

export function webhookPayload(alerts: AlertRecord[], receiver: string, externalUrl: string): WebhookPayload {
  const items = alerts.map(toWebhookAlert);
  return {
    version: '4',
    // Everything is one group: a fleet-wide incident should arrive as one message, not one per service.
    groupKey: `{}:{receiver="${receiver}"}`,
    truncatedAlerts: 0,
    status: items.some((a) => a.status === 'firing') ? 'firing' : 'resolved',
    receiver,
    groupLabels: {},
    commonLabels: common(items.map((a) => a.labels)),
    commonAnnotations: common(items.map((a) => a.annotations)),
    externalURL: externalUrl,
    alerts: items,
  };
}

interface Tracked {
  alert: AlertRecord;
  /** When it last went into the queue; null when it never has (silenced so far). */
  lastQueuedUs: number | null;
  /** A batch holding it has left the group, so the receiver will know it (and must hear of its end). */
  announced: boolean;
}

/** A failure that may pass: the receiver refused, reset or timed out, or answered 5xx, 408 or 429. */
export class RetryableError extends Error {}

/**
 * POSTs `body` as JSON. Throws RetryableError when trying again may succeed, Error otherwise (another client
 * error would fail the same way again); either names the cause (`ECONNREFUSED`, `HTTP 400: <the answer>`).
 */
export async function postJson(url: string, body: unknown, signal: AbortSignal, timeoutUs: number): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutUs / 1000)]),
    });
  } catch (err) {
    // fetch says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND) is in its cause.
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message;
    throw new RetryableError(why ? `${(err as Error).message}: ${why}` : (err as Error).message);
  }
  if (res.ok) {
    await res.body?.cancel().catch(() => undefined);
    return;
  }
  // Alertmanager says what it refused in the body ("start time must be before end time"): worth a log line.
  const answer = (await res.text().catch(() => '')).trim().slice(0, 200);
  const message = answer ? `HTTP ${res.status}: ${answer}` : `HTTP ${res.status}`;
  if (res.status >= 500 || res.status === 429 || res.status === 408) throw new RetryableError(message);
  throw new Error(message);
}

export class WebhookNotifier implements AlertReceiver {
  private readonly o: Required<WebhookOptions>;
  private readonly firing = new Map<string, Tracked>();
  /** The group being gathered: one entry per alert, the newest state wins. */
  private group = new Map<string, AlertRecord>();
  private readonly outbox: AlertRecord[][] = [];
  private groupTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private sending = false;
  private closed = false;
  private readonly abort = new AbortController();
  private readonly counts = { sent: 0, retries: 0, failed: 0, dropped: 0 };

  constructor(
    opts: WebhookOptions,
    private readonly log: Logger,
    /** Whether a silence covers the alert now; consulted at every decision to send. */
    private readonly silenced: (alert: AlertRecord) => boolean,
  ) {
    this.o = {
      receiver: 'hms',
      groupWaitUs: 10 * S,
      repeatIntervalUs: 4 * 3600 * S,
      timeoutUs: 10 * S,
      backoffUs: S,
      maxBackoffUs: 60 * S,
      maxAttempts: 6,
      maxQueue: 1000,
      externalUrl: '',
      ...opts,
    };
  }

  stats(): NotifierStats {
    return { ...this.counts, queued: this.group.size + this.outbox.reduce((n, b) => n + b.length, 0) };
  }

  /** Alerts that were firing before a restart: assumed notified then, so they repeat on schedule, not at once. */
  restore(alerts: AlertRecord[], nowUs: number): void {
    for (const alert of alerts) this.firing.set(alert.id, { alert, lastQueuedUs: nowUs, announced: true });
  }

  /** An alert fired or resolved. */
  notify(alert: AlertRecord, nowUs: number): void {
    if (this.closed) return;
    if (alert.state === 'FIRING') {
      const tracked: Tracked = { alert, lastQueuedUs: null, announced: false };
      this.firing.set(alert.id, tracked);
      if (this.silenced(alert)) return;
      // Even when the queue is full: a dropped notification waits for the repeat interval, not the next tick.
      this.enqueue(alert);
      tracked.lastQueuedUs = nowUs;
      return;
    }
    const tracked = this.firing.get(alert.id);
    this.firing.delete(alert.id);
    // Fired and resolved before the group went out: the receiver need not hear of it at all.
    if (this.group.get(alert.id)?.state === 'FIRING') this.group.delete(alert.id);
    // A receiver that never heard of the alert has nothing to resolve.
    if (tracked?.announced && !this.silenced(alert)) this.enqueue(alert);
  }

  /** Re-sends still-firing alerts whose repeat interval has passed, and those whose silence has ended. */
  tick(nowUs: number): void {
    if (this.closed) return;
    for (const t of this.firing.values()) {
      const due = t.lastQueuedUs === null || nowUs - t.lastQueuedUs >= this.o.repeatIntervalUs;
      if (!due || this.silenced(t.alert)) continue;
      this.enqueue(t.alert);
      t.lastQueuedUs = nowUs;
    }
  }

  private enqueue(alert: AlertRecord): void {
    if (!this.group.has(alert.id) && this.stats().queued >= this.o.maxQueue) {
      this.counts.dropped++;
      // The first drop and every hundredth after it: a storm must not turn into a flood of log lines too.
      if (this.counts.dropped % 100 === 1) this.log.warn({ alert: alert.id, maxQueue: this.o.maxQueue, dropped: this.counts.dropped }, 'webhook queue full; alert notification dropped');
      return;
    }
    this.group.set(alert.id, alert);
    this.groupTimer ??= setTimeout(() => this.closeGroup(), this.o.groupWaitUs / 1000);
  }

  private closeGroup(): void {
    this.groupTimer = undefined;
    // A silence added while the group gathered still counts: nothing is sent for a silenced alert.
    const batch: AlertRecord[] = [];
    for (const a of this.group.values()) {
      if (!this.silenced(a)) batch.push(a);
      else {
        // Not sent after all, so it goes out once the silence ends.
        const tracked = this.firing.get(a.id);
        if (tracked) tracked.lastQueuedUs = null;
      }
    }
    this.group = new Map();
    if (batch.length === 0) return;
    for (const a of batch) {
      const tracked = this.firing.get(a.id);
      if (tracked) tracked.announced = true;
    }
    this.outbox.push(batch);
    this.pump();
  }

  /** Sends the oldest batch, one at a time so a receiver sees FIRING before the RESOLVED of the same alert. */
  private pump(): void {
    if (this.sending || this.closed || this.outbox.length === 0) return;
    this.sending = true;
    void this.deliver(this.outbox[0], 1);
  }

  private async deliver(batch: AlertRecord[], attempt: number): Promise<void> {
    try {
      await postJson(this.o.url, webhookPayload(batch, this.o.receiver, this.o.externalUrl), this.abort.signal, this.o.timeoutUs);
      this.counts.sent++;
    } catch (err) {
      if (this.closed) return;
      const retry = err instanceof RetryableError && attempt < this.o.maxAttempts;
      if (retry) {
        this.counts.retries++;
        const delayUs = Math.min(this.o.maxBackoffUs, this.o.backoffUs * 2 ** (attempt - 1));
        this.log.warn({ attempt, retryInMs: delayUs / 1000, err: (err as Error).message }, 'webhook POST failed; retrying');
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          void this.deliver(batch, attempt + 1);
        }, delayUs / 1000);
        return;
      }
      this.counts.failed++;
      this.log.error({ attempt, alerts: batch.length, err: (err as Error).message }, 'webhook POST given up');
    }
    this.outbox.shift();
    this.sending = false;
    this.pump();
  }

  /** Stops timers and any request in flight; what is still queued is counted as dropped. */
  close(): void {
    if (this.closed) return;
    const unsent = this.stats().queued;
    this.closed = true;
    clearTimeout(this.groupTimer);
    clearTimeout(this.retryTimer);
    this.abort.abort();
    this.counts.dropped += unsent;
    if (unsent > 0) this.log.info({ unsent }, 'webhook notifier closed with alerts unsent');
  }
}
