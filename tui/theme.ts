/**
 * Colour is a hint, never the message: every health state also has a symbol and a word, so the screen reads
 * the same under NO_COLOR (https://no-color.org), on a monochrome terminal, or to a colour-blind engineer.
 */
import { createContext, useContext } from 'react';
import type { Health } from './types.js';

export { colorEnabled } from './color-support.js';

export interface HealthLook {
  symbol: string;
  word: string;
  color: string;
}

export const HEALTH_LOOK: Readonly<Record<Health, HealthLook>> = {
  CRIT: { symbol: '✖', word: 'CRIT', color: 'red' },
  SILENT: { symbol: '○', word: 'SILENT', color: 'magenta' },
  WARN: { symbol: '▲', word: 'WARN', color: 'yellow' },
  OK: { symbol: '✔', word: 'OK', color: 'green' },
};

export const ColorContext = createContext(true);

/** `tint('red')` is 'red' with colour on and undefined under NO_COLOR, ready for `<Text color>`. */
export function useTint(): (color: string) => string | undefined {
  const enabled = useContext(ColorContext);
  return (color) => (enabled ? color : undefined);
}
