/** The windows `w` cycles through in the detail view, and the `series` step that suits each chart. */
import type { Step } from './types.js';

export interface DetailWindow {
  label: string;
  ms: number;
  step: Step;
  stepMs: number;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export const DETAIL_WINDOWS: readonly DetailWindow[] = [
  { label: '1h', ms: HOUR, step: 'MINUTE', stepMs: MINUTE },
  { label: '24h', ms: 24 * HOUR, step: 'HOUR', stepMs: HOUR },
  { label: '7d', ms: 7 * 24 * HOUR, step: 'HOUR', stepMs: HOUR },
];

/** [from, to) ending at the next whole minute (or now, when now is one), so the current minute is included. */
export function windowBounds(w: DetailWindow, now: number): { from: number; to: number } {
  const to = Math.ceil(now / MINUTE) * MINUTE;
  return { from: to - w.ms, to };
}
