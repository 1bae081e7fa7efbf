import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs. Each part logs through a child named once (`log.child({ module: 'ingest' })`), by
 * whoever builds the part; a child of a child adds other keys, never a second `module`.
 */
export function createLogger(level: string, destination: number | string = 2): Logger {
  return pino({ level, base: { pid: process.pid } }, pino.destination({ dest: destination, sync: false, mkdir: true }));
}
