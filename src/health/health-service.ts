/**
 * Health monitoring as one object for the daemon to wire: the rules engine on the ingest path, alert records
 * and silences in DuckDB, subscribers, the webhook and Alertmanager on each tick. Only `observe` runs per message; everything
 * that touches disk or network happens in `tick` or in the notifier's own timers.
 */
import type { Alert, AlertFilter, ServiceHealth, Silence, SilenceInput } from '../api.js';
import { UserError } from '../api.js';
import type { HealthMessage } from '../core/message.js';
import type { Logger } from '../log.js';
import { type Database, Mutex } from '../serving/database.js';
import { AlertStore } from './alert-store.js';
import type { Latest } from './live-state.js';
import { type AlertRecord, Evaluator } from './evaluator.js';
import { compileGlob, globProblem } from '../core/glob.js';
import { AlertmanagerNotifier, type AlertmanagerOptions, type AlertmanagerStats } from './alertmanager.js';
import { type AlertReceiver, type NotifierStats, WebhookNotifier, type WebhookOptions } from './notifier.js';
import { RULE_NAMES, type RulesConfig } from './rules.js';

export interface HealthConfig {
  rules: RulesConfig;
  /** Where to POST notifications; absent or null sends none. */
  webhook?: WebhookOptions | null;
  /** Alertmanagers to push alerts to; absent, null or no URLs pushes none. */
  alertmanager?: AlertmanagerOptions | null;
  /** Resolved alerts are deleted this long after they ended. @default 30d */
  historyRetentionUs?: number;
  /** A service whose last message is older than this is forgotten (`forget`) at the next tick; 0 or absent: never. */
  forgetAfterUs?: number;
}

export type AlertListener = (alert: Alert) => void;

interface ActiveSilence {
  silence: Silence;
  matches: (service: string) => boolean;
}

const DAY_US = 86_400_000_000;
const PRUNE_EVERY_US = 3_600_000_000;
const MAX_TEXT = 1000;

export class HealthService {
  private readonly listeners = new Set<AlertListener>();
  /** Transitions not yet in DuckDB (a failed write is retried on the next tick), newest state per alert. */
  private readonly unsaved = new Map<string, AlertRecord>();
  private readonly lock = new Mutex();
  private notifier: WebhookNotifier | null = null;
  private alertmanager: AlertmanagerNotifier | null = null;
  /** The notifier and the Alertmanager push, whichever are configured. */
  private readonly receivers: AlertReceiver[] = [];
  private lastPruneUs = Number.NEGATIVE_INFINITY;
  private closed = false;

  private constructor(
    private readonly evaluator: Evaluator,
    private readonly store: AlertStore,
    private active: ActiveSilence[],
    private readonly config: HealthConfig,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  /**
   * Opens the alert tables, seeds the last known values of every service, and takes back the alerts that were
   * firing at shutdown: they stay firing, unannounced, until fresh data resolves them.
   * @param now the clock, epoch microseconds; tests pass their own
   */
  static async create(db: Database, config: HealthConfig, log: Logger, now: () => number = () => Date.now() * 1000): Promise<HealthService> {
    const store = await AlertStore.open(db);
    const startUs = now();
    const evaluator = new Evaluator(config.rules, { startUs });
    // Seed before restoring: a restored SILENT alert resolves on the first arrival after the last known one.
    for (const { msg, recv } of await store.lastKnown()) evaluator.seed(msg, recv);
    const firing = await store.active();
    evaluator.restore(firing);
    const silences = (await store.silences(startUs)).map(activeSilence);
    const service = new HealthService(evaluator, store, silences, config, log, now);
    const silenced = (a: AlertRecord) => service.isSilenced(a, service.now());
    if (config.webhook?.url) {
      service.notifier = new WebhookNotifier(config.webhook, log.child({ notifier: 'webhook' }), silenced);
      service.receivers.push(service.notifier);
    }
    if (config.alertmanager?.urls.length) {
      service.alertmanager = new AlertmanagerNotifier(config.alertmanager, log.child({ notifier: 'alertmanager' }), silenced);
      service.receivers.push(service.alertmanager);
    }
    for (const r of service.receivers) r.restore(firing, startUs);
    if (firing.length) log.info({ alerts: firing.length }, 'firing alerts restored for re-evaluation');
    return service;
  }

  /** Hot path, O(1): one accepted message. */
  observe(msg: HealthMessage, recvUs: number): void {
    this.evaluator.observe(msg, recvUs);
  }

  /** Services that received messages since the last call, with their newest (what `LiveState.save` writes). */
  takeLatest(): Latest[] {
    return this.evaluator.takeChanged();
  }

  services(nowUs: number = this.now()): ServiceHealth[] {
    return this.evaluator.health(nowUs);
  }

  async alerts(filter: AlertFilter = {}): Promise<Alert[]> {
    const nowUs = this.now();
    return (await this.store.list(filter)).map((a) => this.withSilenced(a, nowUs));
  }

  async silences(): Promise<Silence[]> {
    const nowUs = this.now();
    return this.active.filter((s) => s.silence.until > nowUs).map((s) => ({ ...s.silence }));
  }

  async silence(input: SilenceInput): Promise<Silence> {
    const nowUs = this.now();
    const service = input.service.trim();
    const problem = globProblem(service);
    if (problem) throw new UserError('BAD_SILENCE', `\`service\`: ${problem}.`);
    const rule = input.rule ?? null;
    if (rule !== null && !(RULE_NAMES as readonly string[]).includes(rule)) {
      throw new UserError('UNKNOWN_RULE', `no rule named "${rule}" (rules: ${RULE_NAMES.join(', ')}).`);
    }
    if (!(input.until > nowUs)) throw new UserError('BAD_SILENCE', '`until` must be in the future.');
    const reason = input.reason ?? null;
    if (reason !== null && reason.length > MAX_TEXT) throw new UserError('BAD_SILENCE', '`reason` must be at most 1000 characters.');
    const silence = await this.store.addSilence({ service, rule, until: input.until, reason }, nowUs);
    this.active.push(activeSilence(silence));
    this.log.info({ silence }, 'silence added');
    return silence;
  }

  async unsilence(id: string): Promise<boolean> {
    const ended = await this.store.endSilence(id, this.now());
    this.active = this.active.filter((s) => s.silence.id !== id);
    if (ended) this.log.info({ silence: id }, 'silence ended');
    return ended;
  }

  /** Called with every alert that fires or resolves; returns the unsubscribe function. */
  subscribe(listener: AlertListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Evaluates the rules at `nowUs`, saves the transitions, then tells subscribers, the webhook and Alertmanager.
   * Returns the transitions. Never overlaps itself.
   */
  tick(nowUs: number = this.now()): Promise<Alert[]> {
    return this.lock.run(async () => {
      if (this.closed) return [];
      const changed = this.evaluator.evaluate(nowUs);
      const forgetAfterUs = this.config.forgetAfterUs ?? 0;
      if (forgetAfterUs > 0) {
        for (const service of this.evaluator.silentSince(nowUs - forgetAfterUs)) changed.push(...((await this.forgetNow(service, nowUs, "silent longer than --forget-after")) ?? []));
      }
      const out = await this.announce(changed, nowUs);
      for (const r of this.receivers) r.tick(nowUs);
      await this.prune(nowUs);
      return out;
    });
  }

  /**
   * Takes a service out of `services` and the dashboard now: its firing alerts resolve, its newest message is no
   * longer kept for a restart; its history (views, master dataset, alert history) stays. A message brings it
   * back. False when there is no service by that name.
   */
  forget(service: string, nowUs: number = this.now()): Promise<boolean> {
    return this.lock.run(async () => {
      if (this.closed) return false;
      const resolved = await this.forgetNow(service, nowUs, 'asked for (forgetService)');
      if (resolved === undefined) return false;
      await this.announce(resolved, nowUs);
      return true;
    });
  }

  private async forgetNow(service: string, nowUs: number, why: string): Promise<AlertRecord[] | undefined> {
    const resolved = this.evaluator.forget(service, nowUs);
    if (resolved === undefined) return undefined;
    await this.store.forgetLatest(service).catch((err) => this.log.warn({ err, service }, 'could not drop the forgotten service from the saved live state'));
    this.log.info({ service, why, alertsResolved: resolved.length }, 'service forgotten');
    return resolved;
  }

  /** Saves transitions, then tells subscribers, the webhook and Alertmanager. */
  private async announce(changed: AlertRecord[], nowUs: number): Promise<Alert[]> {
    for (const a of changed) {
      this.unsaved.set(a.id, a);
      this.log.info({ alert: a }, a.state === 'FIRING' ? 'alert firing' : 'alert resolved');
    }
    await this.save();
    this.active = this.active.filter((s) => s.silence.until > nowUs);
    const out = changed.map((a) => this.withSilenced(a, nowUs));
    for (const alert of out) this.publish(alert);
    for (const r of this.receivers) for (const a of changed) r.notify(a, nowUs);
    return out;
  }

  notifierStats(): NotifierStats | null {
    return this.notifier?.stats() ?? null;
  }

  alertmanagerStats(): AlertmanagerStats | null {
    return this.alertmanager?.stats() ?? null;
  }

  /** Stops notifications and closes the store; call after the last tick. */
  close(): Promise<void> {
    return this.lock.run(async () => {
      if (this.closed) return;
      this.closed = true;
      for (const r of this.receivers) r.close();
      this.listeners.clear();
      await this.save();
      await this.store.close();
    });
  }

  private async save(): Promise<void> {
    if (this.unsaved.size === 0) return;
    try {
      await this.store.save([...this.unsaved.values()]);
      this.unsaved.clear();
    } catch (err) {
      this.log.error({ err, unsaved: this.unsaved.size }, 'cannot save alerts; retrying on the next tick');
    }
  }

  private async prune(nowUs: number): Promise<void> {
    if (nowUs - this.lastPruneUs < PRUNE_EVERY_US) return;
    this.lastPruneUs = nowUs;
    try {
      const removed = await this.store.prune(nowUs - (this.config.historyRetentionUs ?? 30 * DAY_US));
      if (removed) this.log.info({ removed }, 'old resolved alerts pruned');
    } catch (err) {
      this.log.warn({ err }, 'pruning alert history failed');
    }
  }

  private publish(alert: Alert): void {
    for (const listener of this.listeners) {
      try {
        listener(alert);
      } catch (err) {
        // One broken subscriber must not stop the others or the tick.
        this.log.warn({ err }, 'alert listener failed');
      }
    }
  }

  private isSilenced(alert: AlertRecord, nowUs: number): boolean {
    return this.active.some((s) => s.silence.until > nowUs && (s.silence.rule === null || s.silence.rule === alert.rule) && s.matches(alert.service));
  }

  private withSilenced(alert: AlertRecord, nowUs: number): Alert {
    return { ...alert, silenced: this.isSilenced(alert, nowUs) };
  }
}

function activeSilence(silence: Silence): ActiveSilence {
  // A silence stored before patterns had a length limit still matches its own text exactly.
  const { service } = silence;
  return { silence, matches: globProblem(service) ? (name) => name === service : compileGlob(service) };
}
