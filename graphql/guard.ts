/**
 * Who may reach the GraphQL endpoint, checked before yoga sees a request (and before a WebSocket upgrade):
 * the Host header (DNS rebinding), the shape of the request (cross-site forms and links), and the API token.
 * Mutations with a `read` token are refused in execution, by the operation's type, for HTTP and WebSocket
 * alike. Every refusal is a GraphQL-shaped JSON body with a stable code; none quotes a token.
 */
import type { IncomingMessage } from 'node:http';
import { getOperationAST } from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import type { ApiTokens, Role } from './tokens.js';

export interface Refusal {
  status: number;
  code: string;
  message: string;
  headers?: Record<string, string>;
}

export const refusalBody = (r: Pick<Refusal, 'code' | 'message'>): object => ({
  errors: [{ message: r.message, extensions: { code: r.code } }],
});

/** The header a GET request carries to show it is no cross-site link; yoga's CSRF plugin uses the same name. */
export const CSRF_HEADER = 'x-graphql-yoga-csrf';

/** The host part of a Host header or URL authority, lower case, IPv6 without brackets; undefined when malformed. */
export function hostName(authority: string | undefined): string | undefined {
  if (!authority) return undefined;
  try {
    const name = new URL(`http://${authority}`).hostname.toLowerCase();
    return name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
  } catch {
    return undefined;
  }
}

export function normaliseAllowedHosts(hosts: readonly string[] | undefined): Set<string> {
  return new Set((hosts ?? []).map((h) => h.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1')).filter(Boolean));
}

// Client-controlled text going back out: bounded, and JSON-encoded by the caller.
const quote = (s: string): string => JSON.stringify(s.length > 100 ? `${s.slice(0, 100)}...` : s);

/** A Host this server does not answer to; `allowed` empty means any. */
export function foreignHost(req: IncomingMessage, allowed: Set<string>): Refusal | undefined {
  if (allowed.size === 0) return undefined;
  const name = hostName(req.headers.host);
  if (name !== undefined && allowed.has(name)) return undefined;
  const what = req.headers.host === undefined ? 'A request without a Host header' : `Host ${quote(req.headers.host)}`;
  return {
    status: 421,
    code: 'MISDIRECTED_REQUEST',
    message: `${what} is not served here: the names this server answers to are set by --http-allowed-hosts.`,
  };
}

/**
 * Browsers send Origin on WebSocket handshakes, and CORS does not apply to
 * them: without this any web page could read the fleet's health. Same origin only (Origin's host equals
 * Host), and with allowed hosts set the Origin's name must be one of them. No Origin: not a browser.
 */
export function foreignOrigin(req: IncomingMessage, allowed: Set<string>): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  try {
    const url = new URL(origin);
    if (url.host !== req.headers.host?.toLowerCase()) return true;
    return allowed.size > 0 && !allowed.has(hostName(url.host) ?? '');
  } catch {
    return true;
  }
}

// Content types a browser may POST cross-site without a CORS preflight (the Fetch standard's list).
const SIMPLE_TYPES = new Set(['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain']);
const essence = (contentType: string | undefined): string | undefined => contentType?.split(';')[0].trim().toLowerCase() || undefined;

/**
 * A request a web page on another site could make a browser send without a preflight: a form POST (urlencoded,
 * multipart, text/plain or no content type) or a plain GET (a link, an image). A GET shows it is none by a
 * header a page cannot set cross-site: the CSRF header, a non-simple content type, or Authorization.
 */
export function crossSiteRisk(req: IncomingMessage): Refusal | undefined {
  const type = essence(req.headers['content-type']);
  if (req.method === 'POST') {
    if (type !== undefined && !SIMPLE_TYPES.has(type)) return undefined;
    return {
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
      message: `Send the operation as JSON with "content-type: application/json" (got ${type ? quote(type) : 'none'}); form and plain-text bodies are refused.`,
    };
  }
  const proven = (req.headers[CSRF_HEADER] ?? '') !== '' || (type !== undefined && !SIMPLE_TYPES.has(type)) || req.headers.authorization !== undefined;
  if (proven) return undefined;
  return {
    status: 403,
    code: 'CSRF_HEADER_REQUIRED',
    message: `A GET request needs the header "${CSRF_HEADER}: 1" (any value), or use POST with "content-type: application/json": this shows it is no cross-site link or form.`,
  };
}

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/** The token of an `Authorization: Bearer <token>` value; undefined when there is none. */
export function bearerToken(value: unknown): string | undefined {
  return typeof value === 'string' ? BEARER.exec(value)?.[1] : undefined;
}

/** The role of a request's credentials, or why it has none. No table (null): no authentication, full access. */
export function authenticate(tokens: ApiTokens | null, authorization: unknown): { role: Role } | Refusal {
  if (tokens === null) return { role: 'write' };
  const token = bearerToken(authorization);
  if (token === undefined) {
    return unauthenticated(
      'Authentication required: send "Authorization: Bearer <token>" (over WebSocket: connection_init payload {"authorization": "Bearer <token>"}).',
      'Bearer realm="hms"',
    );
  }
  const role = tokens.roleOf(token);
  if (role === undefined) return unauthenticated("The token is not valid: it is not in the server's --api-tokens file.", 'Bearer realm="hms", error="invalid_token"');
  return { role };
}

const unauthenticated = (message: string, challenge: string): Refusal => ({
  status: 401,
  code: 'UNAUTHENTICATED',
  message,
  headers: { 'www-authenticate': challenge },
});

/**
 * Mutations need a `write` role. Decided by the type of the operation being executed, so every mutation,
 * present and future, is covered. A context without a role (a path that forgot to set one) is refused too.
 */
export function roleGuardPlugin(): Plugin<{ role?: Role }> {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      if (getOperationAST(args.document, args.operationName)?.operation !== 'mutation') return;
      if ((args.contextValue as { role?: Role }).role === 'write') return;
      setResultAndStopExecution({
        errors: [
          createGraphQLError('Mutations need a write token; this one may only query and subscribe.', {
            extensions: { code: 'FORBIDDEN', http: { status: 403 } },
          }),
        ],
      });
    },
  };
}
