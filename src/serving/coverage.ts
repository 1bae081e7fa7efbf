import { type Step, UserError } from '../api.js';
import type { Horizons } from '../core/horizons.js';
import { ceilTo, floorTo, MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_MINUTE, microsToIso } from '../core/time.js';

/**
 * What a window can be answered over once retention has thinned the views (core/horizons.ts). Minute views
 * reach back to the minute horizon, hour views to the hour horizon, day views to the day horizon: a window
 * reaching further back is widened to the whole hours (or days) that answer it, and the answer says over which
 * window and at which resolution it is exact. Nothing is answered before the day horizon.
 */

export const STEP_US: Record<Step, number> = { MINUTE: MICROS_PER_MINUTE, HOUR: MICROS_PER_HOUR, DAY: MICROS_PER_DAY };

/** The finest step the views hold at time `t`. */
export function resolutionAt(t: number, h: Horizons): Step {
  if (t < h.hour) return 'DAY';
  if (t < h.minute) return 'HOUR';
  return 'MINUTE';
}

export interface Coverage {
  from: number;
  to: number;
  /** MINUTE: the window as asked (to whole minutes); HOUR or DAY: widened to the buckets of that step. */
  resolution: Step;
}

const coarser = (a: Step, b: Step): Step => (STEP_US[a] >= STEP_US[b] ? a : b);

/**
 * The window [from, to) (whole minutes) as the views can answer it, W being where the batch part ends. The end
 * is widened only where it falls in the batch part: the realtime views hold every minute they have.
 */
export function coverWindow(from: number, to: number, w: number, h: Horizons): Coverage {
  let resolution: Step = 'MINUTE';
  let a = from;
  const startStep = resolutionAt(a, h);
  if (startStep !== 'MINUTE') {
    a = floorTo(a, STEP_US[startStep]);
    resolution = startStep;
  }
  a = Math.max(a, h.day);
  let b = to;
  if (b <= w) {
    // The last minute of the window (b - 1) decides; a bound already on a boundary of its step stays.
    const endStep = resolutionAt(b - 1, h);
    if (endStep !== 'MINUTE' && b % STEP_US[endStep] !== 0) {
      b = ceilTo(b, STEP_US[endStep]);
      resolution = coarser(resolution, endStep);
    }
  }
  if (b <= a) {
    throw new UserError(
      'WINDOW_PAST_RETENTION',
      `the window ends before the oldest data kept (${microsToIso(h.day)}, --retention-day): ask for a later window`,
    );
  }
  return { from: a, to: b, resolution };
}
