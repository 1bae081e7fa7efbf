import { readFileSync } from 'node:fs';
import { COMPAT_MODES, type CompatMode } from '../ingest/message.js';
import { isoToMicros } from '../ingest/timestamp.js';

/**
 * One typed registry of daemon settings. Each has a flag, an environment variable and a config-file key;
 * an explicit flag wins over the environment, which wins over the file, which wins over the default.
 * Everything is validated once at start; errors name the setting in all three spellings.
 */

type Kind = 'port' | 'int' | 'bytes' | 'duration' | 'time' | 'string' | 'cron' | 'compat' | 'enum';

interface Spec {
  kind: Kind;
  default: string;
  doc: string;
  values?: readonly string[];
}

const SPECS = {
  dataDir: { kind: 'string', default: './data', doc: 'Directory for segments, the local master dataset and the DuckDB file' },
  udpPort: { kind: 'port', default: '3500', doc: 'UDP port for health messages' },
  httpPort: { kind: 'port', default: '4000', doc: 'HTTP port for GraphQL, /health and /ready' },
  host: { kind: 'string', default: '127.0.0.1', doc: 'Address to bind UDP and HTTP to' },
  maxDatagramBytes: { kind: 'bytes', default: '8KiB', doc: 'Datagrams larger than this are rejected (too_large)' },
  maxFutureSkew: { kind: 'duration', default: '5m', doc: 'Timestamps further ahead of the receiver clock are rejected (future)' },
  minTimestamp: { kind: 'time', default: '2000-01-01T00:00:00Z', doc: 'Timestamps before this are rejected (range); 1970 at the earliest' },
  compat: { kind: 'compat', default: '', doc: 'Legacy formats to accept: seed (trailing commas), course (Python dicts, CPU 0-1)' },
  recvBuffer: { kind: 'bytes', default: '4MiB', doc: 'UDP receive buffer to ask for (the kernel caps it at net.core.rmem_max)' },
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
  rules: { kind: 'string', default: '', doc: 'JSON file of health rules (or a "rules" object in the config file); empty: defaults' },
  healthSchedule: { kind: 'cron', default: '* * * * * *', doc: 'node-cron schedule for evaluating the health rules' },
  webhookUrl: { kind: 'string', default: '', doc: 'POST alerts here in the Alertmanager webhook format; empty: no notifications' },
  webhookGroupWait: { kind: 'duration', default: '10s', doc: 'Alerts changing within this window go out in one POST' },
  webhookRepeatInterval: { kind: 'duration', default: '4h', doc: 'Still-firing alerts are sent again this often' },
  alertRetention: { kind: 'duration', default: '30d', doc: 'Resolved alerts are deleted this long after they end' },
  storage: { kind: 'enum', default: 'local', values: ['local', 'hdfs'], doc: 'Master dataset store: local files under the data dir, or HDFS over WebHDFS' },
  hdfsUrl: { kind: 'string', default: '', doc: 'WebHDFS namenode URL(s), comma-separated for HA, e.g. http://namenode:9870' },
  hdfsUser: { kind: 'string', default: '', doc: 'HDFS user for simple auth (WebHDFS user.name); empty: the cluster default' },
  hdfsRoot: { kind: 'string', default: '/hms', doc: 'HDFS directory; the master dataset is <root>/master' },
  hdfsCacheMax: { kind: 'bytes', default: '2GiB', doc: 'Local cache for master files staged from HDFS for the batch engine' },
  batchEngine: { kind: 'enum', default: 'duckdb', values: ['duckdb', 'mapreduce'], doc: 'Batch layer engine: DuckDB SQL here, or a Hadoop Streaming job' },
  speedEngine: { kind: 'enum', default: 'duckdb', values: ['duckdb', 'spark'], doc: 'Speed layer engine: DuckDB here, or Spark jobs' },
  hdfsFsUri: { kind: 'string', default: '', doc: 'Namenode RPC URI for Spark and MapReduce with --storage hdfs, e.g. hdfs://namenode:8020' },
  mapreduceSubmit: {
    kind: 'string',
    default: 'local',
    doc: '"local" (Hadoop LocalJobRunner in a JVM here) or the command that submits to a cluster, e.g. "hadoop jar /opt/hadoop/share/hadoop/tools/lib/hadoop-streaming-3.4.2.jar"',
  },
  mapreduceReduces: { kind: 'int', default: '1', doc: 'Reduce tasks of a MapReduce batch job' },
  mapreduceJars: { kind: 'string', default: '', doc: 'Hadoop Streaming jars for --mapreduce-submit local; empty: ~/.cache/hms/mapreduce-jars (jobs/mapreduce/fetch-jars.sh)' },
  sparkMaster: { kind: 'string', default: 'local[2]', doc: 'Spark master URL for --speed-engine spark: local[N], yarn, spark://HOST:PORT' },
  logLevel: { kind: 'enum', default: 'info', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], doc: 'Log level' },
} satisfies Record<string, Spec>;

export type SettingName = keyof typeof SPECS;

export interface Config {
  dataDir: string;
  udpPort: number;
  httpPort: number;
  host: string;
  maxDatagramBytes: number;
  /** Microseconds. */
  maxFutureSkew: number;
  /** Epoch microseconds. */
  minTimestamp: number;
  compat: ReadonlySet<CompatMode>;
  recvBuffer: number;
  /** Milliseconds. */
  flushInterval: number;
  maxUnflushed: number;
  segmentMaxBytes: number;
  /** Milliseconds. */
  segmentMaxAge: number;
  shipSchedule: string;
  batchSchedule: string;
  speedSchedule: string;
  /** Microseconds. */
  allowedLateness: number;
  rules: string;
  /** The config file's inline "rules" object, when it has one instead of a file path. */
  rulesInline: unknown;
  healthSchedule: string;
  webhookUrl: string;
  /** Microseconds. */
  webhookGroupWait: number;
  /** Microseconds. */
  webhookRepeatInterval: number;
  /** Microseconds. */
  alertRetention: number;
  storage: string;
  hdfsUrl: string;
  hdfsUser: string;
  hdfsRoot: string;
  hdfsCacheMax: number;
  batchEngine: string;
  speedEngine: string;
  hdfsFsUri: string;
  mapreduceSubmit: string;
  mapreduceReduces: number;
  mapreduceJars: string;
  sparkMaster: string;
  logLevel: string;
}

export class ConfigError extends Error {
  readonly code = 'HMS_ERR_CONFIG';
}

export const flagName = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
export const envName = (name: string): string => `HMS_${flagName(name).replace(/-/g, '_').toUpperCase()}`;
const describe = (name: string) => `--${flagName(name)} / ${envName(name)} / "${name}"`;

const DURATION = /^(\d+(?:\.\d+)?)(us|ms|s|m|h|d)$/;
const DURATION_US: Record<string, number> = { us: 1, ms: 1e3, s: 1e6, m: 60e6, h: 3600e6, d: 86400e6 };
const BYTES = /^(\d+)(B|KiB|MiB|GiB)?$/;
const BYTES_MUL: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** Parses "200ms", "5m", "1.5h" to microseconds. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  return m ? Math.round(Number(m[1]) * DURATION_US[m[2]]) : undefined;
}

function convert(name: SettingName, raw: string): unknown {
  const spec: Spec = SPECS[name];
  const bad = (expected: string) => new ConfigError(`${describe(name)}: expected ${expected}, got ${JSON.stringify(raw)}`);
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
    case 'cron': {
      const fields = raw.trim().split(/\s+/);
      if (raw.trim() !== 'off' && (fields.length < 5 || fields.length > 6)) throw bad('a cron expression (5 or 6 fields) or "off"');
      return raw.trim();
    }
    case 'compat': {
      const modes = raw.split(',').map((s) => s.trim()).filter(Boolean);
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

export interface ConfigSources {
  flags: Partial<Record<string, string>>;
  env: NodeJS.ProcessEnv;
  /** Path of a JSON config file, from --config or HMS_CONFIG. */
  file?: string;
}

/** Resolves every setting from its sources. Throws ConfigError naming the setting at fault. */
export function loadConfig({ flags, env, file }: ConfigSources): Readonly<Config> {
  let fromFile: Record<string, unknown> = {};
  if (file) {
    try {
      fromFile = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ConfigError(`config file ${file}: ${(err as Error).message}`);
    }
    for (const key of Object.keys(fromFile)) {
      if (!(key in SPECS)) throw new ConfigError(`config file ${file}: unknown setting "${key}" (known: ${Object.keys(SPECS).join(', ')})`);
    }
  }
  for (const flag of Object.keys(flags)) {
    if (!(flag in SPECS)) throw new ConfigError(`unknown option --${flagName(flag)}`);
  }
  const out: Record<string, unknown> = {};
  // Rules may sit in the config file as an object rather than a path; they are parsed where they are used.
  if (typeof fromFile.rules === 'object' && fromFile.rules !== null) {
    out.rulesInline = fromFile.rules;
    delete fromFile.rules;
  }
  for (const name of Object.keys(SPECS) as SettingName[]) {
    const fileValue = fromFile[name];
    const raw = flags[name] ?? env[envName(name)] ?? (fileValue === undefined ? undefined : String(fileValue)) ?? SPECS[name].default;
    out[name] = convert(name, raw);
  }
  const config = out as unknown as Config;
  checkHdfs(config);
  return Object.freeze(config);
}

/** Settings that only make sense together are checked together. */
function checkHdfs(c: Config): void {
  if (c.storage !== 'hdfs') return;
  const engines = [c.batchEngine === 'mapreduce' && '--batch-engine mapreduce', c.speedEngine === 'spark' && '--speed-engine spark'].filter(Boolean);
  if (engines.length && !/^hdfs:\/\/[^/]+/.test(c.hdfsFsUri)) {
    throw new ConfigError(`${describe('hdfsFsUri')}: ${engines.join(' and ')} with --storage hdfs need the namenode RPC URI, e.g. hdfs://namenode:8020`);
  }
  const urls = c.hdfsUrl.split(',').map((u) => u.trim()).filter(Boolean);
  if (urls.length === 0) throw new ConfigError(`${describe('hdfsUrl')}: required with --storage hdfs, e.g. http://namenode:9870`);
  for (const u of urls) {
    if (!/^https?:\/\/[^/]+/.test(u)) throw new ConfigError(`${describe('hdfsUrl')}: expected http(s)://HOST:PORT, got ${JSON.stringify(u)}`);
  }
  if (!c.hdfsRoot.startsWith('/')) throw new ConfigError(`${describe('hdfsRoot')}: expected an absolute HDFS path, got ${JSON.stringify(c.hdfsRoot)}`);
}

/** Rows for the README's configuration table and `hms daemon --help`. */
export const settingsTable = (): { flag: string; env: string; key: string; default: string; doc: string }[] =>
  (Object.entries(SPECS) as [SettingName, Spec][]).map(([name, s]) => ({
    flag: `--${flagName(name)}`,
    env: envName(name),
    key: name,
    default: s.default,
    doc: s.doc,
  }));
