import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs; each module takes a child (`log.child({module: 'ingest'})`). */
export function createLogger(level: string, destination: number | string = 2): Logger {
  return pino({ level, base: { pid: process.pid } }, pino.destination({ dest: destination, sync: false, mkdir: true }));
}
