/**
 * What API answers say about a failure: a stable code and a fixed sentence, never the error's own text,
 * which carries file paths, hostnames and engine internals. The detail goes to the log where it is caught.
 */
import { INVALID_RECORD } from '../../jobs/mapreduce/task/record.mjs';

export const ERROR_CODES = {
  MASTER_RECORD_INVALID: 'a master file holds a record that is not valid; see the daemon log for the file and line',
  STORE_UNAVAILABLE: 'the master dataset store could not be read or written; see the daemon log',
  DISK_FULL: 'no space left on the device',
  ENGINE_FAILED: 'the engine failed; see the daemon log',
  INTERRUPTED: 'interrupted (daemon stopped)',
  JOB_FAILED: 'the job failed; see the daemon log',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorSummary {
  code: ErrorCode;
  /** `CODE: sentence`, safe to show to any API caller. */
  text: string;
}

const summary = (code: ErrorCode): ErrorSummary => ({ code, text: `${code}: ${ERROR_CODES[code]}` });

/** Classifies a failure by it and its causes; `fallback` is the code for anything not recognised (the context knows best). */
export function summarizeError(err: unknown, fallback: ErrorCode): ErrorSummary {
  for (let e = err as Failure | undefined, depth = 0; e && depth < 5; e = e.cause as Failure | undefined, depth++) {
    const message = typeof e.message === 'string' ? e.message : String(e);
    const stored = storedSummary(message, null);
    if (stored) return stored;
    if (message.includes(INVALID_RECORD)) return summary('MASTER_RECORD_INVALID');
    const errno = typeof e.code === 'string' ? e.code : undefined;
    if (errno === 'ENOSPC' || errno === 'EDQUOT') return summary('DISK_FULL');
    if (e.name === 'WebHdfsError' || (errno !== undefined && /^E[A-Z]+$/.test(errno))) return summary('STORE_UNAVAILABLE');
  }
  return summary(fallback);
}

type Failure = { code?: unknown; name?: unknown; message?: unknown; cause?: unknown };

/** A summary read back (`CODE: sentence`); null for none. A text without a known code reads as `fallback`. */
export function storedSummary(text: string | null, fallback: ErrorCode | null): ErrorSummary | null {
  if (text === null) return null;
  const code = /^([A-Z_]+): /.exec(text)?.[1];
  if (code !== undefined && code in ERROR_CODES) return summary(code as ErrorCode);
  return fallback === null ? null : summary(fallback);
}

/**
 * A system error as `ENOSPC: no space left on device`: Node's message minus the syscall and path it appends
 * (`, open '/var/lib/hms/...'`). Anything else is summarised.
 */
export function systemErrorText(err: unknown, fallback: ErrorCode): string {
  const { code, message } = (err ?? {}) as Failure;
  if (typeof code === 'string' && typeof message === 'string' && message.startsWith(`${code}: `)) return message.split(', ')[0];
  return summarizeError(err, fallback).text;
}
