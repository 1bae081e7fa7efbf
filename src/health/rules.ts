/**
 * Health rules: what counts as WARN, CRIT or SILENT, with the defaults of issue 4, per-service overrides by
 * glob, and validation of the config object at start. Errors name the offending key path so a typo in a
 * config file points at itself. Durations are strings ("30s", "5m") as everywhere else in the config.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, parseDuration } from '../config/settings.js';
import { compileGlob, globProblem } from '../core/glob.js';

/** Thresholds on the newest values: three used-percent resources and free disk space. */
export type ThresholdRuleName = 'cpu' | 'ram' | 'disk' | 'diskFree';
/** Least-squares trends of used percent extrapolated to 100 %. */
export type ForecastRuleName = 'diskFull' | 'ramFull';
export type RuleName = ThresholdRuleName | 'silent' | ForecastRuleName;

export const THRESHOLD_RULES: readonly ThresholdRuleName[] = ['cpu', 'ram', 'disk', 'diskFree'];
export const FORECAST_RULES: readonly ForecastRuleName[] = ['diskFull', 'ramFull'];
export const RULE_NAMES: readonly RuleName[] = [...THRESHOLD_RULES, 'silent', ...FORECAST_RULES];

export interface ThresholdRule {
  enabled: boolean;
  /** Level that raises WARN; null disables the WARN level. */
  warn: number | null;
  /** Level that raises CRIT; null disables the CRIT level. */
  crit: number | null;
  /** How long the level must hold before the alert fires (Prometheus `for`). */
  forUs: number;
  /** Hysteresis: the value must be this far on the good side of the level to count as clear. */
  clear: number;
  /** How long the value must stay clear before the alert resolves. */
  clearForUs: number;
}

export interface SilentRule {
  enabled: boolean;
  /** Never SILENT sooner than this after the last message. */
  afterUs: number;
  /** SILENT after this many usual intervals without a message. */
  intervals: number;
}

export interface ForecastRule {
  enabled: boolean;
  /** Recent window the trend is fitted over. */
  windowUs: number;
  /** The points in the window must span at least this long before a forecast is made. */
  minSpanUs: number;
  /** Coefficient of determination (R²) below which the trend is noise, not a forecast. */
  minFit: number;
  /** A fall of more than this many points between consecutive messages (a restart, a cleanup) restarts the trend. */
  resetDrop: number;
  /** WARN when full within this horizon; null disables the level. */
  warnUs: number | null;
  /** CRIT when full within this horizon; null disables the level. */
  critUs: number | null;
  forUs: number;
  clearForUs: number;
}

export interface RuleSet {
  cpu: ThresholdRule;
  ram: ThresholdRule;
  disk: ThresholdRule;
  diskFree: ThresholdRule;
  silent: SilentRule;
  diskFull: ForecastRule;
  ramFull: ForecastRule;
}

export type RuleOverrides = { [K in RuleName]?: Partial<RuleSet[K]> };

export interface ServiceOverride {
  /** As written in the config: a service name or a glob (`*`, `?`). */
  pattern: string;
  matches: (service: string) => boolean;
  /** Defaults with this pattern's overrides applied (validated as a whole at parse time). */
  rules: RuleSet;
}

export interface RulesConfig {
  /**
   * A firing CRIT suppresses the WARN of the same rule and service (Alertmanager's inhibit rule
   * `source: severity=CRIT, target: severity=WARN, equal: [alertname, service]`). @default true
   */
  inhibit: boolean;
  defaults: RuleSet;
  /** Exact names first, then globs in config order; the first match wins. */
  services: ServiceOverride[];
}

/** Which side of the level is bad: used percent is bad high, free GB is bad low. */
export const DIRECTION: Record<ThresholdRuleName, 'above' | 'below'> = { cpu: 'above', ram: 'above', disk: 'above', diskFree: 'below' };

const S = 1_000_000;
const percent = (): ThresholdRule => ({ enabled: true, warn: 85, crit: 95, forUs: 30 * S, clear: 5, clearForUs: 30 * S });
const forecast = (): ForecastRule => ({
  enabled: true,
  windowUs: 30 * 60 * S,
  // A short or noisy series extrapolates wildly; these two guards keep the forecast from crying wolf.
  minSpanUs: 5 * 60 * S,
  minFit: 0.95,
  resetDrop: 10,
  warnUs: 24 * 3600 * S,
  critUs: 3600 * S,
  forUs: 30 * S,
  clearForUs: 30 * S,
});

/** The defaults of issue 4. */
export const DEFAULT_RULES: Readonly<RuleSet> = Object.freeze({
  cpu: percent(),
  ram: percent(),
  disk: percent(),
  diskFree: { enabled: true, warn: 5, crit: 1, forUs: 30 * S, clear: 1, clearForUs: 30 * S },
  silent: { enabled: true, afterUs: 10 * S, intervals: 3 },
  diskFull: forecast(),
  ramFull: forecast(),
});

/** A ConfigError, so the CLI reports it like any other bad setting: one line, naming the key path. */
export class RulesConfigError extends ConfigError {}

/** The rules that apply to `service`. */
export function rulesFor(config: RulesConfig, service: string): RuleSet {
  for (const o of config.services) if (o.matches(service)) return o.rules;
  return config.defaults;
}

/** Config keys per rule kind, with how each is read. */
type Field = 'bool' | 'pct' | 'gb' | 'nonneg' | 'duration' | 'optDuration' | 'positive' | 'fraction';
const THRESHOLD_FIELDS: Record<string, [keyof ThresholdRule, Field]> = {
  enabled: ['enabled', 'bool'],
  warn: ['warn', 'pct'],
  crit: ['crit', 'pct'],
  for: ['forUs', 'duration'],
  clear: ['clear', 'nonneg'],
  clearFor: ['clearForUs', 'duration'],
};
const SILENT_FIELDS: Record<string, [keyof SilentRule, Field]> = {
  enabled: ['enabled', 'bool'],
  after: ['afterUs', 'duration'],
  intervals: ['intervals', 'positive'],
};
const FORECAST_FIELDS: Record<string, [keyof ForecastRule, Field]> = {
  enabled: ['enabled', 'bool'],
  window: ['windowUs', 'duration'],
  minSpan: ['minSpanUs', 'duration'],
  minFit: ['minFit', 'fraction'],
  resetDrop: ['resetDrop', 'positive'],
  warn: ['warnUs', 'optDuration'],
  crit: ['critUs', 'optDuration'],
  for: ['forUs', 'duration'],
  clearFor: ['clearForUs', 'duration'],
};

function fieldsOf(rule: RuleName): Record<string, [string, Field]> {
  if (rule === 'silent') return SILENT_FIELDS;
  if (rule === 'diskFull' || rule === 'ramFull') return FORECAST_FIELDS;
  return THRESHOLD_FIELDS;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v));
const keyPath = (path: string, key: string): string => (/^[A-Za-z_][\w]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`);

function fail(path: string, message: string): never {
  throw new RulesConfigError(`${path}: ${message}`);
}

function readField(path: string, kind: Field, raw: unknown, rule: RuleName): unknown {
  const num = (ok: (n: number) => boolean, expected: string): number => {
    if (typeof raw !== 'number' || !Number.isFinite(raw) || !ok(raw)) fail(path, `expected ${expected}, got ${show(raw)}`);
    return raw;
  };
  switch (kind) {
    case 'bool':
      if (typeof raw !== 'boolean') fail(path, `expected true or false, got ${show(raw)}`);
      return raw;
    case 'pct':
      if (raw === null) return null;
      // Free disk is in GB, the other thresholds in percent.
      return rule === 'diskFree' ? num((n) => n >= 0, 'a size in GB (>= 0) or null') : num((n) => n >= 0 && n <= 100, 'a percentage 0-100 or null');
    case 'nonneg':
      return num((n) => n >= 0, 'a number >= 0');
    case 'positive':
      return num((n) => n > 0, 'a number > 0');
    case 'fraction':
      return num((n) => n >= 0 && n <= 1, 'a number 0-1');
    case 'optDuration':
      if (raw === null) return null;
      return readDuration(path, raw);
    case 'duration':
      return readDuration(path, raw);
    default:
      return raw;
  }
}

function readDuration(path: string, raw: unknown): number {
  const us = typeof raw === 'string' ? parseDuration(raw) : undefined;
  if (us === undefined) fail(path, `expected a duration such as "30s", "5m" or "24h", got ${show(raw)}`);
  return us;
}

function readOverrides(path: string, raw: unknown): RuleOverrides {
  if (!isObject(raw)) fail(path, `expected an object of rules (${RULE_NAMES.join(', ')}), got ${show(raw)}`);
  const out: Record<string, Record<string, unknown>> = {};
  for (const [name, body] of Object.entries(raw)) {
    const at = keyPath(path, name);
    if (!(RULE_NAMES as readonly string[]).includes(name)) fail(at, `unknown rule (known: ${RULE_NAMES.join(', ')})`);
    const rule = name as RuleName;
    if (!isObject(body)) fail(at, `expected an object, got ${show(body)}`);
    const fields = fieldsOf(rule);
    const parsed: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(body)) {
      const spec = fields[key];
      if (!spec) fail(keyPath(at, key), `unknown setting (known for ${rule}: ${Object.keys(fields).join(', ')})`);
      parsed[spec[0]] = readField(keyPath(at, key), spec[1], value, rule);
    }
    out[rule] = parsed;
  }
  return out as RuleOverrides;
}

function applyOverrides(base: RuleSet, o: RuleOverrides): RuleSet {
  const out = { ...base } as Record<RuleName, unknown>;
  for (const name of RULE_NAMES) if (o[name]) out[name] = { ...base[name], ...o[name] };
  return out as unknown as RuleSet;
}

/** Checks that only make sense on a whole rule: the CRIT level must be worse than the WARN level, and so on. */
function checkCoherent(path: string, rules: RuleSet): void {
  for (const name of THRESHOLD_RULES) {
    const r = rules[name];
    if (r.warn === null || r.crit === null) continue;
    const ok = DIRECTION[name] === 'above' ? r.warn < r.crit : r.warn > r.crit;
    if (!ok) {
      const relation = DIRECTION[name] === 'above' ? 'below' : 'above';
      fail(keyPath(path, name), `warn (${r.warn}) must be ${relation} crit (${r.crit})`);
    }
  }
  for (const name of FORECAST_RULES) {
    const r = rules[name];
    if (r.windowUs <= 0) fail(keyPath(keyPath(path, name), 'window'), 'must be longer than 0s');
    if (r.minSpanUs > r.windowUs) fail(keyPath(keyPath(path, name), 'minSpan'), 'must not be longer than window');
    if (r.warnUs !== null && r.critUs !== null && r.critUs >= r.warnUs) {
      fail(keyPath(path, name), 'crit must be a shorter horizon than warn (full sooner is worse)');
    }
  }
}

/**
 * Reads the `rules` object of the config file:
 * `{"inhibit": true, "defaults": {"cpu": {"warn": 85, ...}, ...}, "services": {"payments-*": {"cpu": {"warn": 90}}}}`.
 * Every key is optional; `undefined` gives the defaults. Throws RulesConfigError naming the key path.
 * @param path how the object is named in error messages
 */
export function parseRulesConfig(obj: unknown, path = 'rules'): RulesConfig {
  if (obj === undefined || obj === null) return { inhibit: true, defaults: DEFAULT_RULES, services: [] };
  if (!isObject(obj)) fail(path, `expected an object with "inhibit", "defaults" and/or "services", got ${show(obj)}`);
  for (const key of Object.keys(obj)) {
    if (key !== 'inhibit' && key !== 'defaults' && key !== 'services') fail(keyPath(path, key), 'unknown key (known: inhibit, defaults, services)');
  }
  if (obj.inhibit !== undefined && typeof obj.inhibit !== 'boolean') fail(keyPath(path, 'inhibit'), `expected true or false, got ${show(obj.inhibit)}`);
  const defaultsPath = keyPath(path, 'defaults');
  const defaults = obj.defaults === undefined ? DEFAULT_RULES : applyOverrides(DEFAULT_RULES, readOverrides(defaultsPath, obj.defaults));
  checkCoherent(defaultsPath, defaults);

  const services: ServiceOverride[] = [];
  if (obj.services !== undefined) {
    const servicesPath = keyPath(path, 'services');
    if (!isObject(obj.services)) fail(servicesPath, `expected an object of service name or glob to rules, got ${show(obj.services)}`);
    for (const [pattern, raw] of Object.entries(obj.services)) {
      const at = keyPath(servicesPath, pattern);
      const problem = globProblem(pattern.trim());
      if (problem) fail(at, problem);
      const rules = applyOverrides(defaults, readOverrides(at, raw));
      checkCoherent(at, rules);
      services.push({ pattern, matches: compileGlob(pattern), rules });
    }
  }
  // An exact name is the most specific thing a user can say, so it beats every glob.
  const exact = services.filter((s) => !/[*?]/.test(s.pattern));
  const globs = services.filter((s) => /[*?]/.test(s.pattern));
  return { inhibit: obj.inhibit !== false, defaults, services: [...exact, ...globs] };
}

/** Reads a JSON file holding the rules object (the value `parseRulesConfig` takes); errors name the file too. */
export function loadRulesFile(file: string): RulesConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new RulesConfigError(`rules file ${file}: ${(err as Error).message}`);
  }
  try {
    return parseRulesConfig(raw);
  } catch (err) {
    if (err instanceof RulesConfigError) throw new RulesConfigError(`rules file ${file}: ${err.message}`);
    throw err;
  }
}
