import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';
import type { LogFormat } from './config/settings.js';

export type { Logger };

/** `auto`: human lines when stderr is a terminal (someone is reading), JSON lines otherwise (a collector is). */
export const resolveLogFormat = (format: LogFormat, stderrIsTty = process.stderr.isTTY === true): 'json' | 'pretty' =>
  format === 'auto' ? (stderrIsTty ? 'pretty' : 'json') : format;

/**
 * Structured logs: JSON lines, or through pino-pretty one human line per entry with its fields below it
 * (local time with its UTC offset, colours on a terminal unless NO_COLOR). Each part logs through a child
 * named once (`log.child({ module: 'ingest' })`), by whoever builds the part; a child of a child adds other
 * keys, never a second `module`.
 */
export function createLogger(level: string, format: LogFormat = 'json', destination: number | string = 2): Logger {
  const options = { level, base: { pid: process.pid } };
  if (resolveLogFormat(format) === 'json') return pino(options, pino.destination({ dest: destination, sync: false, mkdir: true }));
  // Loaded only here: it takes tens of milliseconds, which every JSON process (and ingest worker) is spared.
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
  const colour = destination === 2 && process.stderr.isTTY === true && !('NO_COLOR' in process.env);
  // Synchronous: a person reads these, a few lines a second, and the last ones before an exit must show.
  return pino(options, pretty({ destination, sync: true, mkdir: true, colorize: colour, translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l o' }));
}
