/**
 * The alerts pane's list, pure: a snapshot from the `alerts` query with the subscription's state changes applied
 * on top, ordered FIRING first, then the most recently resolved.
 */
import { HEALTH_RANK } from './service-order.js';
import type { AlertView } from './types.js';

/** Resolved alerts kept for the pane; the daemon keeps the full history. */
export const MAX_RESOLVED = 200;

/**
 * One state change. An alert id is one episode, so a RESOLVED alert never goes back to FIRING: a FIRING event
 * that arrives after the RESOLVED one (replayed after a reload) is ignored.
 */
export function applyAlert(byId: Map<string, AlertView>, alert: AlertView): void {
  if (alert.state === 'FIRING' && byId.get(alert.id)?.state === 'RESOLVED') return;
  byId.set(alert.id, alert);
}

/**
 * The book after a reload: the snapshot, then every change seen since the query was sent. Changes the snapshot
 * already reflects apply again without effect; later ones win.
 */
export function fromSnapshot(snapshot: readonly AlertView[], since: readonly AlertView[]): Map<string, AlertView> {
  const byId = new Map<string, AlertView>();
  for (const a of snapshot) applyAlert(byId, a);
  for (const a of since) applyAlert(byId, a);
  return byId;
}

const byFiring = (a: AlertView, b: AlertView): number =>
  HEALTH_RANK[a.severity] - HEALTH_RANK[b.severity] || b.startedAt - a.startedAt || a.service.localeCompare(b.service);
const byEnded = (a: AlertView, b: AlertView): number =>
  (b.endedAt ?? 0) - (a.endedAt ?? 0) || a.service.localeCompare(b.service);

/** FIRING first (worst severity, then newest), then RESOLVED (latest end first), at most `maxResolved` of those. */
export function orderAlerts(alerts: Iterable<AlertView>, maxResolved = MAX_RESOLVED): AlertView[] {
  const firing: AlertView[] = [];
  const resolved: AlertView[] = [];
  for (const a of alerts) (a.state === 'FIRING' ? firing : resolved).push(a);
  return [...firing.sort(byFiring), ...resolved.sort(byEnded).slice(0, maxResolved)];
}

/** Index of the selected alert in `alerts`: where its id is now, else the row it was at (clamped); -1 if none. */
export function selectedAlertIndex(alerts: readonly AlertView[], selection: { id: string | null; index: number }): number {
  const found = selection.id === null ? -1 : alerts.findIndex((a) => a.id === selection.id);
  return found >= 0 ? found : Math.min(selection.index, alerts.length - 1);
}
