import { readFileSync } from 'node:fs';
import { availableParallelism, homedir } from 'node:os';
import { join } from 'node:path';
import { COMPAT_MODES, type CompatMode } from '../core/message.js';
import { isoToMicros } from '../core/time.js';

/** --ingest-workers 0 (the default) takes one per core, up to this many. */
export const MAX_AUTO_INGEST_WORKERS = 8;
const MAX_INGEST_WORKERS = 64;
/** A firing alert pushed to Alertmanager ends this many resend intervals after the push unless pushed again (Prometheus: 4). */
export const ALERTMANAGER_ENDS_AFTER = 4;

/**
 * Typed registries of settings, one per command. Each setting is declared once, with its kind, default and
 * doc; from that come its flag, its environment variable, its config-file key, its type in the config
 * object, `--help` and the README table. An explicit flag wins over the environment, which wins over the
 * file, which wins over the default. Everything is validated once at start; errors name the setting in all
 * three spellings. Durations are microseconds in the config object; sizes are bytes; times epoch µs.
 */

type Kind = 'port' | 'int' | 'number' | 'bool' | 'bytes' | 'duration' | 'time' | 'string' | 'path' | 'cron' | 'compat' | 'enum';

export interface Spec {
  kind: Kind;
  default: string;
  doc: string;
  values?: readonly string[];
  /** A duration or size that may also be "off" (value 0): no limit. */
  off?: true;
}

/** The type a setting has in the config object. */
type ValueOf<S extends Spec> = S extends { kind: 'enum'; values: readonly (infer V)[] }
  ? V
  : S['kind'] extends 'port' | 'int' | 'number' | 'bytes' | 'duration' | 'time'
    ? number
    : S['kind'] extends 'bool'
      ? boolean
      : S['kind'] extends 'compat'
        ? ReadonlySet<CompatMode>
        : string;

export type SettingsOf<S extends Record<string, Spec>> = { readonly [K in keyof S]: ValueOf<S[K]> };

export class ConfigError extends Error {
  readonly code = 'HMS_ERR_CONFIG';
}

export const flagName = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

const DURATION = /^(\d+(?:\.\d+)?)(us|ms|s|m|h|d)$/;
const DURATION_US: Record<string, number> = { us: 1, ms: 1e3, s: 1e6, m: 60e6, h: 3600e6, d: 86400e6 };
const BYTES = /^(\d+)(B|KiB|MiB|GiB)?$/;
const BYTES_MUL: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** Parses "200ms", "5m", "1.5h" to microseconds. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  return m ? Math.round(Number(m[1]) * DURATION_US[m[2]]) : undefined;
}

function convert(spec: Spec, raw: string, describe: string): unknown {
  const bad = (expected: string) => new ConfigError(`${describe}: expected ${expected}${spec.off ? ' (or off)' : ''}, got ${JSON.stringify(raw)}`);
  if (spec.off && raw.trim() === 'off') return 0;
  switch (spec.kind) {
    case 'port': {
      const n = Number(raw);
      if (!/^\d+$/.test(raw) || n > 65535) throw bad('a port number 0-65535');
      return n;
    }
    case 'int': {
      if (!/^\d+$/.test(raw)) throw bad('a non-negative integer');
      return Number(raw);
    }
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n) || n < 0) throw bad('a non-negative number');
      return n;
    }
    case 'bool':
      if (raw !== 'true' && raw !== 'false') throw bad('true or false');
      return raw === 'true';
    case 'bytes': {
      const m = BYTES.exec(raw.trim());
      if (!m || Number(m[1]) === 0) throw bad('a size such as 65536, 64KiB or 4MiB');
      return Number(m[1]) * BYTES_MUL[m[2] ?? 'B'];
    }
    case 'duration': {
      const us = parseDuration(raw);
      if (us === undefined) throw bad('a duration such as 200ms, 30s, 5m or 1h');
      return us;
    }
    case 'time': {
      const us = isoToMicros(/^\d{4}-\d{2}-\d{2}$/.test(raw.trim()) ? `${raw.trim()}T00:00:00Z` : raw.trim());
      if (us === undefined || us < 0) throw bad('an ISO-8601 time with a zone (or a date) from 1970 on, e.g. 2000-01-01T00:00:00Z');
      return us;
    }
    case 'path':
      return raw.startsWith('~/') ? join(homedir(), raw.slice(2)) : raw;
    case 'cron': {
      const fields = raw.trim().split(/\s+/);
      if (raw.trim() !== 'off' && (fields.length < 5 || fields.length > 6)) throw bad('a cron expression (5 or 6 fields) or "off"');
      return raw.trim();
    }
    case 'compat': {
      const modes = listOf(raw).filter(Boolean);
      for (const m of modes) if (!COMPAT_MODES.includes(m as CompatMode)) throw bad(`a comma-separated list of ${COMPAT_MODES.join(', ')}`);
      return new Set(modes as CompatMode[]);
    }
    case 'enum':
      if (!spec.values?.includes(raw)) throw bad(`one of ${spec.values?.join(', ')}`);
      return raw;
    default:
      return raw;
  }
}

/** Edit distance (insertions, deletions, substitutions), for suggestions. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

/** `; did you mean --x?` for the closest known name within a third of its length, or nothing. */
export function didYouMean(given: string, known: readonly string[], show: (name: string) => string): string {
  const lower = given.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.ceil(given.length / 3)) + 1;
  for (const name of known) {
    const d = distance(lower, name.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  return best === undefined ? '' : `; did you mean ${show(best)}?`;
}

export interface ConfigSources {
  flags: Partial<Record<string, string>>;
  env: NodeJS.ProcessEnv;
  /** Values from a config file, by key, and the file's name for errors. */
  file?: { name: string; values: Record<string, unknown> };
}

/** One command's settings: resolve them from their sources, or list them for `--help` and the README. */
export interface Settings<S extends Record<string, Spec>> {
  readonly specs: S;
  /** The setting in all three spellings, for errors: `--flag / HMS_FLAG / "key"`. */
  describe(name: keyof S & string): string;
  /** Throws ConfigError naming the setting at fault, or an unknown flag or file key. */
  load(sources: ConfigSources): SettingsOf<S>;
  table(): { flag: string; env: string; key: string; default: string; doc: string }[];
  /** Settings given as a bare `--flag` on the command line. */
  booleans(): string[];
}

export function defineSettings<const S extends Record<string, Spec>>(envPrefix: string, specs: S): Settings<S> {
  const envName = (name: string) => `${envPrefix}${flagName(name).replace(/-/g, '_').toUpperCase()}`;
  const describe = (name: string) => `--${flagName(name)} / ${envName(name)} / "${name}"`;
  return {
    specs,
    describe,
    load({ flags, env, file = { name: '', values: {} } }) {
      const names = Object.keys(specs);
      for (const key of Object.keys(file.values)) {
        if (!(key in specs)) throw new ConfigError(`config file ${file.name}: unknown setting "${key}"${didYouMean(key, names, (n) => `"${n}"`)} (known: ${names.join(', ')})`);
      }
      for (const flag of Object.keys(flags)) {
        if (!(flag in specs)) throw new ConfigError(`unknown option --${flagName(flag)}${didYouMean(flag, names, (n) => `--${flagName(n)}`)}`);
      }
      const out: Record<string, unknown> = {};
      for (const [name, spec] of Object.entries(specs)) {
        const fileValue = file.values[name];
        const raw = flags[name] ?? env[envName(name)] ?? (fileValue === undefined ? undefined : String(fileValue)) ?? spec.default;
        out[name] = convert(spec, raw, describe(name));
      }
      return Object.freeze(out) as SettingsOf<S>;
    },
    table: () =>
      Object.entries(specs).map(([name, s]) => ({ flag: `--${flagName(name)}`, env: envName(name), key: name, default: s.default, doc: s.doc })),
    booleans: () => Object.keys(specs).filter((name) => specs[name].kind === 'bool'),
  };
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** `auto`: human-readable (pino-pretty) when stderr is a terminal, JSON lines otherwise. */
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The daemon's settings. */
export const DAEMON_SETTINGS = defineSettings('HMS_', {
  dataDir: { kind: 'string', default: './data', doc: 'Directory for segments, the local master dataset and the DuckDB file' },
  udpPort: { kind: 'port', default: '3500', doc: 'UDP port for health messages' },
  httpPort: { kind: 'port', default: '4000', doc: 'HTTP port for GraphQL, /health and /ready' },
  host: { kind: 'string', default: '127.0.0.1', doc: 'Address to bind UDP and HTTP to (--udp-host and --http-host win over it)' },
  udpHost: { kind: 'string', default: '', doc: 'Address to bind UDP to; empty: --host' },
  httpHost: { kind: 'string', default: '', doc: 'Address to bind HTTP to; empty: --host' },
  insecure: {
    kind: 'bool',
    default: 'false',
    doc: 'Serve a non-loopback address without authentication (unsigned UDP, HTTP without API tokens); logged as a warning at every start',
  },
  authMode: {
    kind: 'enum',
    default: 'off',
    values: ['off', 'optional', 'required'] as const,
    doc: 'Signed datagrams (HMS1 header, HMAC-SHA256): required refuses unsigned ones, optional accepts both and counts each kind',
  },
  authKeys: { kind: 'path', default: '', doc: 'JSON file of signing keys for --auth-mode optional/required; reloaded on SIGHUP' },
  authWindow: { kind: 'duration', default: '60s', doc: "A signed datagram's time may differ from the receiver clock by this much; nonces are remembered this long" },
  authReplayCapacity: {
    kind: 'int',
    default: '1000000',
    doc: 'Nonces the replay filter remembers (about 120 bytes each); when full, the window narrows rather than admit a replay',
  },
  apiTokens: { kind: 'path', default: '', doc: 'File of API tokens (read TOKEN / write TOKEN a line); required for GraphQL when set; reloaded on SIGHUP' },
  httpAllowedHosts: {
    kind: 'string',
    default: '',
    doc: "Comma-separated names a request's Host header may carry (DNS-rebinding guard); empty: the bind address, localhost, 127.0.0.1, ::1 (and this machine's addresses and hostname for a wildcard bind)",
  },
  tlsCert: { kind: 'path', default: '', doc: 'PEM certificate (chain) to serve HTTPS and wss with; needs --tls-key' },
  tlsKey: { kind: 'path', default: '', doc: 'PEM private key for --tls-cert' },
  queryTimeout: { kind: 'duration', default: '10s', doc: 'A GraphQL query running longer fails with QUERY_TIMEOUT and its DuckDB statement is interrupted' },
  maxRequestBytes: { kind: 'bytes', default: '1MiB', doc: 'Largest HTTP request body and WebSocket message (413 / close 1009)' },
  maxDataFields: { kind: 'int', default: '20', doc: 'stats, series and history fields in one GraphQL operation, aliases included (TOO_MANY_FIELDS)' },
  maxSubscriptions: { kind: 'int', default: '1000', doc: 'Subscriptions open at once, WebSocket and SSE together (TOO_MANY_SUBSCRIPTIONS)' },
  maxSubscriptionsPerConnection: { kind: 'int', default: '20', doc: 'Subscriptions open at once on one WebSocket (TOO_MANY_SUBSCRIPTIONS)' },
  metricsMaxServices: {
    kind: 'int',
    default: '1000',
    doc: 'Services whose health GET /metrics exports (the first by name); the rest are left out and counted in hms_services_omitted',
  },
  maxDatagramBytes: { kind: 'bytes', default: '8KiB', doc: 'Datagrams larger than this are rejected (too_large)' },
  maxFutureSkew: { kind: 'duration', default: '5m', doc: 'Timestamps further ahead of the receiver clock are rejected (future)' },
  minTimestamp: { kind: 'time', default: '2000-01-01T00:00:00Z', doc: 'Timestamps before this are rejected (range); 1970 at the earliest' },
  compat: { kind: 'compat', default: '', doc: "Legacy formats to accept: seed (the seed client's trailing commas, CPU 0-1), course (Python dicts, CPU 0-1)" },
  recvBuffer: { kind: 'bytes', default: '32MiB', doc: 'UDP receive buffer to ask for (the kernel caps it at net.core.rmem_max; the daemon says when)' },
  ingestWorkers: {
    kind: 'int',
    default: '0',
    doc: `Processes reading the UDP port: the daemon and N-1 ingest worker processes; 0: one per core, at most ${MAX_AUTO_INGEST_WORKERS}`,
  },
  flushInterval: { kind: 'duration', default: '200ms', doc: 'Write-ahead flush and fsync interval: the most a SIGKILL can lose' },
  maxUnflushed: {
    kind: 'bytes',
    default: '64MiB',
    doc: 'Accepted messages held in memory while the segment cannot be written (disk full); beyond it, rejected (storage_unavailable)',
  },
  segmentMaxBytes: { kind: 'bytes', default: '64MiB', doc: 'Seal the open segment at this size' },
  segmentMaxAge: { kind: 'duration', default: '1m', doc: 'Seal the open segment at this age' },
  shipSchedule: { kind: 'cron', default: '*/5 * * * * *', doc: 'node-cron schedule for shipping sealed segments' },
  batchSchedule: { kind: 'cron', default: '0 */15 * * * *', doc: 'node-cron schedule for batch runs ("off" to run only on demand)' },
  speedSchedule: { kind: 'cron', default: '* * * * * *', doc: 'node-cron schedule for the speed-layer tick' },
  allowedLateness: { kind: 'duration', default: '1m', doc: 'Batch watermark W = floor_to_minute(seal time - this)' },
  memoryLimit: {
    kind: 'bytes',
    default: '1GiB',
    doc: "Memory for the whole daemon: DuckDB (views, batch runs, compaction) gets half and spills to <data dir>/duckdb-tmp beyond it; the rest is Node's",
  },
  threads: { kind: 'int', default: '0', doc: 'DuckDB worker threads (batch runs, compaction, queries); 0: one per core' },
  compactSchedule: {
    kind: 'cron',
    default: '0 5 * * * *',
    doc: 'node-cron schedule for compaction: the files of each hour the batch views hold become one Parquet file ("off": on demand)',
  },
  retentionSchedule: { kind: 'cron', default: '0 */10 * * * *', doc: 'node-cron schedule for applying retention ("off": on demand)' },
  retentionRaw: { kind: 'duration', default: '30d', doc: 'Master dataset partitions older than this leave the disk once the batch views hold them; older messages are rejected (expired)' },
  retentionSize: {
    kind: 'bytes',
    default: 'off',
    off: true,
    doc: 'Largest master dataset: beyond it the oldest partitions the batch views hold leave first',
  },
  retentionMinute: { kind: 'duration', default: '7d', doc: 'Minute views older than this are removed; older windows are answered from hour views' },
  retentionHour: { kind: 'duration', default: '90d', doc: 'Hour views older than this are removed; older windows are answered from day views' },
  retentionDay: { kind: 'duration', default: 'off', off: true, doc: 'Day views older than this are removed (off: kept)' },
  forgetAfter: {
    kind: 'duration',
    default: '7d',
    off: true,
    doc: 'A service silent this long leaves services and the dashboard (its history stays); off: never',
  },
  rules: { kind: 'string', default: '', doc: 'JSON file of health rules (or a "rules" object in the config file); empty: defaults' },
  healthSchedule: { kind: 'cron', default: '* * * * * *', doc: 'node-cron schedule for evaluating the health rules' },
  webhookUrl: { kind: 'string', default: '', doc: 'POST alerts here in the Alertmanager webhook format; empty: no notifications' },
  webhookGroupWait: { kind: 'duration', default: '10s', doc: 'Alerts changing within this window go out in one POST' },
  webhookRepeatInterval: { kind: 'duration', default: '4h', doc: 'Still-firing alerts are sent again this often' },
  alertmanagerUrl: {
    kind: 'string',
    default: '',
    doc: 'Alertmanager URL(s), comma-separated, to push alerts to (POST /api/v2/alerts, as Prometheus does); empty: none',
  },
  alertmanagerResendInterval: {
    kind: 'duration',
    default: '1m',
    doc: `Firing alerts are pushed to Alertmanager again this often; unless pushed again, they end ${ALERTMANAGER_ENDS_AFTER} of these after a push`,
  },
  alertRetention: { kind: 'duration', default: '30d', doc: 'Resolved alerts are deleted this long after they end' },
  storage: { kind: 'enum', default: 'local', values: ['local', 'hdfs'] as const, doc: 'Master dataset store: local files under the data dir, or HDFS over WebHDFS' },
  hdfsUrl: { kind: 'string', default: '', doc: 'WebHDFS namenode URL(s), comma-separated for HA, e.g. http://namenode:9870' },
  hdfsUser: { kind: 'string', default: '', doc: 'HDFS user for simple auth (WebHDFS user.name); empty: the cluster default' },
  hdfsRoot: { kind: 'string', default: '/hms', doc: 'HDFS directory; the master dataset is <root>/master' },
  hdfsCacheMax: { kind: 'bytes', default: '2GiB', doc: 'Local cache for master files staged from HDFS for the batch engine' },
  batchEngine: { kind: 'enum', default: 'duckdb', values: ['duckdb', 'mapreduce'] as const, doc: 'Batch layer engine: DuckDB SQL here, or a Hadoop Streaming job' },
  speedEngine: { kind: 'enum', default: 'duckdb', values: ['duckdb', 'spark'] as const, doc: 'Speed layer engine: DuckDB here, or Spark jobs' },
  hdfsFsUri: { kind: 'string', default: '', doc: 'Namenode RPC URI for Spark and MapReduce with --storage hdfs, e.g. hdfs://namenode:8020' },
  mapreduceSubmit: {
    kind: 'string',
    default: 'local',
    doc: '"local" (Hadoop LocalJobRunner in a JVM here) or the command that submits to a cluster, e.g. "hadoop jar /opt/hadoop/share/hadoop/tools/lib/hadoop-streaming-3.4.2.jar"',
  },
  mapreduceReduces: { kind: 'int', default: '1', doc: 'Reduce tasks of a MapReduce batch job' },
  mapreduceJars: { kind: 'path', default: '~/.cache/hms/mapreduce-jars', doc: 'Hadoop Streaming jars for --mapreduce-submit local (jobs/mapreduce/fetch-jars.sh puts them there)' },
  sparkJars: { kind: 'path', default: '~/.cache/hms/spark-jars', doc: 'Spark jars for --speed-engine spark (jobs/spark/fetch-jars.sh puts them there)' },
  sparkMaster: { kind: 'string', default: 'local[2]', doc: 'Spark master URL for --speed-engine spark: local[N], yarn, spark://HOST:PORT' },
  logLevel: { kind: 'enum', default: 'info', values: LOG_LEVELS, doc: 'Log level' },
  logFormat: {
    kind: 'enum',
    default: 'auto',
    values: LOG_FORMATS,
    doc: 'Log lines on stderr: json, pretty (human-readable, pino-pretty), or auto: pretty when stderr is a terminal, else json',
  },
});

export type Config = SettingsOf<typeof DAEMON_SETTINGS.specs> & {
  /** The config file's inline "rules" object, when it has one instead of a file path. */
  readonly rulesInline?: unknown;
};

export type SettingName = keyof typeof DAEMON_SETTINGS.specs;

const describe = (name: SettingName) => DAEMON_SETTINGS.describe(name);

export interface DaemonConfigSources {
  flags: Partial<Record<string, string>>;
  env: NodeJS.ProcessEnv;
  /** Path of a JSON config file, from --config or HMS_CONFIG. */
  file?: string;
}

/** Resolves every daemon setting from its sources. Throws ConfigError naming the setting at fault. */
export function loadConfig({ flags, env, file }: DaemonConfigSources): Config {
  let fromFile: Record<string, unknown> = {};
  if (file) {
    try {
      fromFile = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ConfigError(`config file ${file}: ${(err as Error).message}`);
    }
  }
  // Rules may sit in the config file as an object rather than a path; they are parsed where they are used.
  let rulesInline: unknown;
  if (typeof fromFile.rules === 'object' && fromFile.rules !== null) {
    rulesInline = fromFile.rules;
    fromFile = { ...fromFile };
    delete fromFile.rules;
  }
  const settings = DAEMON_SETTINGS.load({ flags, env, file: { name: file ?? '', values: fromFile } });
  const config: Config = Object.freeze({ ...settings, rulesInline });
  checkHdfs(config);
  checkAuth(config);
  checkLimits(config);
  return config;
}

/** A file a setting names (a certificate, a CA); a ConfigError names the setting when it cannot be read. */
export function readSettingFile(path: string, setting: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`${setting}: cannot read ${path}: ${(err as Error).message}`);
  }
}

/** Addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\./.test(h);
}

/** What the decoder checks every datagram (and imported message) against. */
export const decodeSettings = (c: Config) => ({
  maxBytes: c.maxDatagramBytes,
  maxFutureUs: c.maxFutureSkew,
  minTimestampUs: c.minTimestamp,
  // Older than the raw tier keeps: rejected as expired.
  maxAgeUs: c.retentionRaw,
  compat: c.compat,
});

/** How many processes read the UDP port (the daemon counts as one). */
export const ingestWorkerCount = (c: Config): number => c.ingestWorkers || Math.min(availableParallelism(), MAX_AUTO_INGEST_WORKERS);

/** The addresses UDP and HTTP bind to: the specific flag wins over --host. */
export const bindHosts = (c: Config): { udp: string; http: string } => ({ udp: c.udpHost || c.host, http: c.httpHost || c.host });

/**
 * Protected mode (as Redis has it): a port that other machines can reach must authenticate, unless the
 * operator says --insecure. Also the settings that only make sense together.
 */
function checkAuth(c: Config): void {
  if (c.authMode !== 'off' && !c.authKeys) throw new ConfigError(`${describe('authKeys')}: --auth-mode ${c.authMode} needs a keys file`);
  if (c.authMode === 'off' && c.authKeys) throw new ConfigError(`${describe('authMode')}: --auth-keys is set but signatures are off: add --auth-mode required (or optional)`);
  if (Boolean(c.tlsCert) !== Boolean(c.tlsKey)) throw new ConfigError(`${describe(c.tlsCert ? 'tlsKey' : 'tlsCert')}: --tls-cert and --tls-key go together`);
  if (c.insecure) return;
  const { udp, http } = bindHosts(c);
  if (!isLoopback(udp) && c.authMode !== 'required') {
    throw new ConfigError(
      `${describe('authMode')}: UDP would listen on ${udp}, which other machines can reach, without authentication: add --auth-mode required --auth-keys FILE (or --udp-host 127.0.0.1, or --insecure to accept unsigned datagrams from anyone)`,
    );
  }
  if (!isLoopback(http) && !c.apiTokens) {
    throw new ConfigError(
      `${describe('apiTokens')}: HTTP would listen on ${http}, which other machines can reach, without authentication: add --api-tokens FILE (or --http-host 127.0.0.1, or --insecure to serve GraphQL to anyone)`,
    );
  }
}

/** The largest UDP payload over IPv4: 65,535 minus the IP and UDP headers. */
export const MAX_UDP_PAYLOAD = 65_507;

/** Values a setting's kind admits but the thing it sets cannot take. */
function checkLimits(c: Config): void {
  if (c.ingestWorkers > MAX_INGEST_WORKERS) {
    throw new ConfigError(`${describe('ingestWorkers')}: at most ${MAX_INGEST_WORKERS} processes (got ${c.ingestWorkers}); 0 picks one per core`);
  }
  if (c.maxDatagramBytes > MAX_UDP_PAYLOAD) {
    throw new ConfigError(`${describe('maxDatagramBytes')}: a UDP datagram carries at most ${MAX_UDP_PAYLOAD} bytes (got ${c.maxDatagramBytes})`);
  }
  if (c.webhookUrl) checkHttpUrl('webhookUrl', c.webhookUrl, 'http://alertmanager:9093/hook');
  for (const url of listOf(c.alertmanagerUrl)) checkHttpUrl('alertmanagerUrl', url, 'http://alertmanager:9093 (several: comma-separated)');
  if (c.alertmanagerResendInterval <= 0) throw new ConfigError(`${describe('alertmanagerResendInterval')}: must be longer than 0s, e.g. 1m`);
  checkRetention(c);
}

const DAY_US = 86_400e6;

/**
 * Each tier keeps at least what the next finer one does: a window past the minute views is answered from the hour
 * views, and days are rolled up from the hours of the days the batch recomputes (from the raw horizon's day on).
 */
function checkRetention(c: Config): void {
  const days = (us: number) => `${us / DAY_US}d`;
  if (c.retentionMinute < DAY_US) throw new ConfigError(`${describe('retentionMinute')}: at least 1d (the dashboard's sparklines and the batch's last hour read minute views), got ${days(c.retentionMinute)}`);
  if (c.retentionRaw < c.allowedLateness + 2 * 3600e6) throw new ConfigError(`${describe('retentionRaw')}: at least 2h more than --allowed-lateness, got ${c.retentionRaw / 1e6} s`);
  if (c.retentionHour < c.retentionMinute) throw new ConfigError(`${describe('retentionHour')}: at least --retention-minute (${days(c.retentionMinute)}), got ${days(c.retentionHour)}`);
  if (c.retentionHour < c.retentionRaw + DAY_US) {
    throw new ConfigError(`${describe('retentionHour')}: at least a day more than --retention-raw (${days(c.retentionRaw)}): a batch run rolls whole days up from hours; got ${days(c.retentionHour)}`);
  }
  if (c.retentionDay > 0 && c.retentionDay < c.retentionHour) throw new ConfigError(`${describe('retentionDay')}: at least --retention-hour (${days(c.retentionHour)}) or off, got ${days(c.retentionDay)}`);
}

/** The items of a comma-separated setting, trimmed; an empty item stays, for a check to name or a caller to drop. */
export const listOf = (text: string): string[] => (text.trim() === '' ? [] : text.split(',').map((s) => s.trim()));

function checkHttpUrl(name: SettingName, value: string, example: string): void {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    // reported below
  }
  if (url?.protocol !== 'http:' && url?.protocol !== 'https:') {
    throw new ConfigError(`${describe(name)}: expected an http(s) URL such as ${example}, got ${JSON.stringify(value)}`);
  }
}

/** Settings that only make sense together are checked together. */
function checkHdfs(c: Config): void {
  if (c.storage !== 'hdfs') return;
  const engines = [c.batchEngine === 'mapreduce' && '--batch-engine mapreduce', c.speedEngine === 'spark' && '--speed-engine spark'].filter(Boolean);
  if (engines.length && !/^hdfs:\/\/[^/]+/.test(c.hdfsFsUri)) {
    throw new ConfigError(`${describe('hdfsFsUri')}: ${engines.join(' and ')} with --storage hdfs need the namenode RPC URI, e.g. hdfs://namenode:8020`);
  }
  const urls = listOf(c.hdfsUrl).filter(Boolean);
  if (urls.length === 0) throw new ConfigError(`${describe('hdfsUrl')}: required with --storage hdfs, e.g. http://namenode:9870`);
  for (const u of urls) {
    if (!/^https?:\/\/[^/]+/.test(u)) throw new ConfigError(`${describe('hdfsUrl')}: expected http(s)://HOST:PORT, got ${JSON.stringify(u)}`);
  }
  if (!c.hdfsRoot.startsWith('/')) throw new ConfigError(`${describe('hdfsRoot')}: expected an absolute HDFS path, got ${JSON.stringify(c.hdfsRoot)}`);
}

/** Rows for the README's configuration table and `hms daemon --help`. */
export const settingsTable = () => DAEMON_SETTINGS.table();

/** `hms tui`. */
export const TUI_SETTINGS = defineSettings('HMS_', {
  url: { kind: 'string', default: 'http://127.0.0.1:4000/graphql', doc: "The daemon's GraphQL endpoint (http, https, ws or wss)" },
  token: { kind: 'string', default: '', doc: 'API token, when the daemon has --api-tokens (the environment keeps it out of ps)' },
  ca: { kind: 'path', default: '', doc: "PEM file of the CA that signed the daemon's certificate, for https/wss with a private CA" },
});

/** `hms demo`. */
export const DEMO_SETTINGS = defineSettings('HMS_DEMO_', {
  dataDir: { kind: 'string', default: '', doc: "The demo daemon's data dir, kept afterwards; empty: a new temporary one" },
});

/** `hms mock`. */
export const MOCK_SETTINGS = defineSettings('HMS_MOCK_', {
  target: { kind: 'string', default: '127.0.0.1:3500', doc: "HOST:PORT of the daemon's UDP socket" },
  services: { kind: 'int', default: '8', doc: 'Services in the fleet' },
  rate: { kind: 'number', default: '1', doc: 'Messages per second from each service' },
  duration: { kind: 'number', default: '0', doc: 'Seconds to send for; 0: until stopped' },
  seed: { kind: 'int', default: '1', doc: 'Seed of the fleet (the same seed sends the same values)' },
  real: { kind: 'bool', default: 'false', doc: "Every service reports this host's real CPU, RAM and disk instead of simulated behaviours" },
  authKeys: { kind: 'path', default: '', doc: "The daemon's keys file (--auth-keys): sign every datagram with the key --key-id" },
  keyId: { kind: 'string', default: '', doc: 'Which key of --auth-keys signs' },
});

/** How `hms convert` writes the timestamp column. */
export const TIMESTAMP_UNITS = ['s', 'ms', 'us', 'ns', 'iso'] as const;

/** `hms convert`. */
export const CONVERT_SETTINGS = defineSettings('HMS_CONVERT_', {
  compat: { kind: 'compat', default: '', doc: "Legacy formats to read: seed (the seed client's objects with trailing commas, CPU 0-1), course (Python dicts, CPU 0-1)" },
  timestampUnit: {
    kind: 'enum',
    default: 's',
    values: TIMESTAMP_UNITS,
    doc: "Timestamp column: integer epoch s (the seed's CSV, read by Long.parseLong; a fraction of a second is cut off), ms (cut off likewise), us or ns (exact), or iso (ISO-8601 UTC to the microsecond)",
  },
});

/** `hms import`. */
export const IMPORT_SETTINGS = defineSettings('HMS_IMPORT_', {
  dataDir: {
    kind: 'string',
    default: '',
    doc: "Import straight into this stopped daemon's data dir (refused while a daemon holds it); the daemon's HMS_ settings and --config apply",
  },
  url: { kind: 'string', default: '', doc: "Import through a running daemon: its GraphQL endpoint, e.g. http://127.0.0.1:4000/graphql (needs a write token with --api-tokens)" },
  config: { kind: 'path', default: '', doc: "With --data-dir: the daemon's config file (storage, limits, --retention-raw)" },
  token: { kind: 'string', default: '', doc: 'With --url: an API token with write access, when the daemon has --api-tokens' },
  ca: { kind: 'path', default: '', doc: "With an https --url: PEM file of the CA that signed the daemon's certificate" },
  format: { kind: 'enum', default: 'jsonl', values: ['jsonl', 'csv'] as const, doc: "jsonl: health messages as the daemon takes them; csv: the seed's CSV (service,timestamp,CPU,total_ram,free_ram,total_disk,free_disk)" },
  compat: { kind: 'compat', default: '', doc: "Legacy formats to read: seed (the seed client's objects, CPU 0-1), course (Python dicts, CPU 0-1); with csv: CPU is a 0-1 fraction" },
});

/** `hms agent`. */
export const AGENT_SETTINGS = defineSettings('HMS_AGENT_', {
  service: { kind: 'string', default: '', doc: "Service name to report this host as (required; the daemon's rules for names apply)" },
  target: { kind: 'string', default: '127.0.0.1:3500', doc: "HOST:PORT of the daemon's UDP socket; HOST is resolved again at every send" },
  interval: { kind: 'duration', default: '10s', doc: 'Time between reports, 1s to 1h' },
  disk: { kind: 'path', default: '/', doc: 'Report the size and free space of the file system holding this path' },
  authKeys: { kind: 'path', default: '', doc: "Keys file in the daemon's --auth-keys format holding the key --key-id: sign every datagram" },
  keyId: { kind: 'string', default: '', doc: 'Which key of --auth-keys signs' },
  logLevel: { kind: 'enum', default: 'info', values: LOG_LEVELS, doc: 'Log level' },
  logFormat: { kind: 'enum', default: 'auto', values: LOG_FORMATS, doc: 'Log lines on stderr: json, pretty, or auto: pretty when stderr is a terminal, else json' },
});

/** Bounds of `hms agent --interval`: below a second CPU deltas are a few clock ticks; above an hour a host is seen too rarely. */
export const AGENT_INTERVAL_US = { min: 1e6, max: 3600e6 };

/** `HOST:PORT` or `[IPv6]:PORT` of a setting, or a ConfigError naming it. */
export function parseTarget(text: string, setting: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+)):(\d{1,5})$/.exec(text.trim());
  const port = Number(m?.[3]);
  if (!m || port < 1 || port > 65535) {
    throw new ConfigError(`${setting}: expected HOST:PORT (a name or an IPv4 address, or [IPv6]; port 1-65535), e.g. monitor.example:3500, got ${JSON.stringify(text)}`);
  }
  return { host: m[1] ?? m[2], port };
}
