/**
 * API tokens: who may use the GraphQL endpoint, and for what. A `read` token may query and subscribe, a
 * `write` token may also run mutations. The table is kept by SHA-256 digest, so a lookup compares digests
 * (of fixed length, unrelated to the token's characters) instead of the tokens themselves, and the token
 * text never sits in a map that a log line or an error could print.
 *
 * File format, one token a line: `read <token>` or `write <token>`; `#` starts a comment that runs to the end
 * of the line; blank lines are ignored. A token is at least 32 visible ASCII characters (no whitespace, no
 * `#`); the same token twice is refused, and the file must hold at least one.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../src/config/settings.js';

export type Role = 'read' | 'write';

export interface ApiTokens {
  /** The role of a presented token; undefined for an unknown one. */
  roleOf(token: string): Role | undefined;
  readonly size: number;
}

export const MIN_TOKEN_LENGTH = 32;

const digest = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');
// Header values are visible ASCII; a token outside it could not be sent as `Authorization: Bearer ...`.
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

/** Parses a tokens file's text; `name` opens every error, e.g. `--api-tokens /etc/hms/tokens`. */
export function parseApiTokens(text: string, name: string): ApiTokens {
  const roles = new Map<string, { role: Role; line: number }>();
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    // Never quote the line: it may hold a token (a role missing, a typo in the role word).
    const fail = (why: string): never => {
      throw new ConfigError(`${name}: line ${line}: ${why}`);
    };
    const words = lines[i].replace(/#.*/s, '').trim().split(/\s+/).filter(Boolean);
    if (words.length === 0) continue;
    if (words.length !== 2) fail(`expected "read <token>" or "write <token>" (found ${words.length} word${words.length === 1 ? '' : 's'})`);
    const [role, token] = words;
    if (role !== 'read' && role !== 'write') fail('the first word is the role: read or write');
    if (token.length < MIN_TOKEN_LENGTH) fail(`a token is at least ${MIN_TOKEN_LENGTH} characters (got ${token.length})`);
    if (!VISIBLE_ASCII.test(token)) fail('a token is visible ASCII characters only');
    const key = digest(token);
    const seen = roles.get(key);
    if (seen) fail(`the same token as line ${seen.line}`);
    roles.set(key, { role: role as Role, line });
  }
  if (roles.size === 0) throw new ConfigError(`${name}: no tokens (expected lines "read <token>" or "write <token>")`);
  return {
    roleOf: (token) => roles.get(digest(token))?.role,
    size: roles.size,
  };
}

/** Reads and parses a tokens file; errors name the file as `--api-tokens PATH`. */
export function loadApiTokens(path: string): ApiTokens {
  const name = `--api-tokens ${path}`;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(`${name}: cannot read it (${code ?? (err as Error).message})`);
  }
  return parseApiTokens(text, name);
}
