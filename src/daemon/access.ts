/**
 * Who may talk to the daemon: the signing keys of the UDP side, the API tokens, the TLS certificate, the Host
 * names and limits of the HTTP side, their reload on SIGHUP, and the warnings an operator should see at start.
 * Protected mode itself (which binds need which of these) is checked with the settings (config/settings.ts).
 */
import { statSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import type { HttpServerOptions } from '../../graphql/server.js';
import { type ApiTokens, loadApiTokens } from '../../graphql/tokens.js';
import { bindHosts, type Config, DAEMON_SETTINGS, listOf, readSettingFile, type SettingName } from '../config/settings.js';
import { DatagramAuth, loadAuthKeys } from '../ingest/datagram-auth.js';
import type { Logger } from '../log.js';

export interface Access {
  readonly auth: DatagramAuth;
  /** What the HTTP server needs beyond its address: tokens (looked up per request), Host names, TLS, limits. */
  readonly http: Pick<HttpServerOptions, 'tokens' | 'allowedHosts' | 'tls' | 'limits'>;
  /** SIGHUP: reads the keys and tokens files again; a file that no longer parses keeps the old ones. */
  reload(): void;
  /** Logs what weakens protection: --insecure, secrets other users can read. */
  warnAtStart(): void;
}

/** Reads every file the access settings name; throws ConfigError naming the setting of a bad one. */
export function openAccess(config: Config, log: Logger): Access {
  const auth = new DatagramAuth(config.authKeys ? loadAuthKeys(config.authKeys) : null, {
    mode: config.authMode,
    windowUs: config.authWindow,
    maxNonces: config.authReplayCapacity,
  });
  let tokens: ApiTokens | null = config.apiTokens ? loadApiTokens(config.apiTokens) : null;
  const read = (name: SettingName) => readSettingFile(config[name] as string, DAEMON_SETTINGS.describe(name));
  const http: Access['http'] = {
    tokens: () => tokens,
    allowedHosts: allowedHosts(config.httpAllowedHosts, bindHosts(config).http),
    tls: config.tlsCert ? { cert: read('tlsCert'), key: read('tlsKey') } : undefined,
    limits: {
      queryTimeoutMs: config.queryTimeout / 1000,
      maxBodyBytes: config.maxRequestBytes,
      maxDataFields: config.maxDataFields,
      maxSubscriptions: config.maxSubscriptions,
      maxSubscriptionsPerConnection: config.maxSubscriptionsPerConnection,
    },
  };
  const secrets = ['authKeys', 'apiTokens', 'tlsKey'] as const;
  const warnIfShared = () => {
    for (const name of secrets) warnIfOthersRead(config[name], name, log);
  };

  return {
    auth,
    http,
    warnAtStart() {
      warnIfShared();
      if (!config.insecure) return;
      const { udp, http: httpHost } = bindHosts(config);
      log.warn(
        { udp, authMode: config.authMode, http: httpHost, apiTokens: config.apiTokens !== '' },
        '--insecure: protected mode is off; whoever reaches these ports may send health (unless --auth-mode required) and use GraphQL (unless --api-tokens)',
      );
    },
    reload() {
      warnIfShared();
      if (config.authKeys) {
        try {
          auth.reload(loadAuthKeys(config.authKeys));
          log.info({ file: config.authKeys }, 'signing keys reloaded');
        } catch (err) {
          log.error({ err }, 'signing keys not reloaded; the previous keys stay in force');
        }
      }
      if (config.apiTokens) {
        try {
          tokens = loadApiTokens(config.apiTokens);
          log.info({ file: config.apiTokens, tokens: tokens.size }, 'API tokens reloaded');
        } catch (err) {
          log.error({ err }, 'API tokens not reloaded; the previous tokens stay in force');
        }
      }
    },
  };
}

/**
 * The names a request's Host header may carry (a DNS-rebinding guard): --http-allowed-hosts, or the bind
 * address and the loopback names, and for a wildcard bind this machine's addresses and hostname. A
 * rebinding attack uses the attacker's own name, which is never among these.
 */
export function allowedHosts(setting: string, bind: string): string[] {
  const given = listOf(setting).filter(Boolean);
  if (given.length) return given;
  const names = new Set([bind, 'localhost', '127.0.0.1', '::1']);
  if (bind === '0.0.0.0' || bind === '::') {
    names.add(hostname());
    for (const addrs of Object.values(networkInterfaces())) for (const a of addrs ?? []) names.add(a.address);
  }
  return [...names];
}

/** A secret that other users can read is logged, as ssh does for keys; the daemon still starts. */
function warnIfOthersRead(path: string, name: SettingName, log: Logger): void {
  if (!path) return;
  try {
    const mode = statSync(path).mode & 0o777;
    if (mode & 0o077) log.warn({ file: path, mode: mode.toString(8) }, `${DAEMON_SETTINGS.describe(name)}: other users may read this secret; chmod 600 it`);
  } catch {
    // an unreadable file is reported where it is read
  }
}
