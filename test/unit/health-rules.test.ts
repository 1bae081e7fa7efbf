/** The rules config: defaults, overrides by glob, and validation errors that name the offending key path. */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ConfigError } from '../../src/config/settings.js';
import { DEFAULT_RULES, loadRulesFile, parseRulesConfig, RulesConfigError, rulesFor } from '../../src/health/rules.js';

const S = 1_000_000;

test('defaults are those of issue 4', (t) => {
  const { inhibit, defaults, services } = parseRulesConfig(undefined);
  t.deepEqual(services, []);
  t.true(inhibit, 'a firing CRIT inhibits its WARN unless the rules say otherwise');
  t.false(parseRulesConfig({ inhibit: false }).inhibit);
  t.true(parseRulesConfig({ defaults: {} }).inhibit);
  for (const rule of ['cpu', 'ram', 'disk'] as const) {
    t.like(defaults[rule], { enabled: true, warn: 85, crit: 95, forUs: 30 * S, clear: 5, clearForUs: 30 * S });
  }
  t.like(defaults.diskFree, { warn: 5, crit: 1 });
  t.deepEqual(defaults.silent, { enabled: true, afterUs: 10 * S, intervals: 3 });
  t.like(defaults.diskFull, { windowUs: 1800 * S, warnUs: 24 * 3600 * S, critUs: 3600 * S });
  t.deepEqual(defaults.ramFull, defaults.diskFull);
});

test('overrides merge field by field onto the defaults; exact names first, then globs in order', (t) => {
  const config = parseRulesConfig({
    defaults: { cpu: { warn: 80 }, silent: { after: '20s' } },
    services: { 'pay*': { cpu: { crit: 99, for: '1m' } }, 'payments-*': { cpu: { warn: 70 } }, payments: { disk: { enabled: false } } },
  });
  t.like(rulesFor(config, 'orders').cpu, { warn: 80, crit: 95, forUs: 30 * S });
  t.is(rulesFor(config, 'orders').silent.afterUs, 20 * S);
  // 'pay*' is listed first, so it wins over 'payments-*' for payments-eu.
  t.like(rulesFor(config, 'payments-eu').cpu, { warn: 80, crit: 99, forUs: 60 * S });
  t.like(rulesFor(config, 'payments').cpu, { warn: 80, crit: 95 });
  t.false(rulesFor(config, 'payments').disk.enabled);
  t.true(rulesFor(config, 'paymentsx').disk.enabled);
  t.is(DEFAULT_RULES.cpu.warn, 85, 'the built-in defaults are not modified');
});

const bad: [string, unknown, string][] = [
  ['not an object', 'cpu=90', 'rules: expected an object with "inhibit", "defaults" and/or "services", got "cpu=90"'],
  ['unknown top-level key', { default: {} }, 'rules.default: unknown key (known: inhibit, defaults, services)'],
  ['inhibit as a string', { inhibit: 'false' }, 'rules.inhibit: expected true or false, got "false"'],
  ['unknown rule', { defaults: { cpux: {} } }, 'rules.defaults.cpux: unknown rule (known: cpu, ram, disk, diskFree, silent, diskFull, ramFull)'],
  ['unknown setting', { defaults: { cpu: { warning: 90 } } }, 'rules.defaults.cpu.warning: unknown setting (known for cpu: enabled, warn, crit, for, clear, clearFor)'],
  ['percent as a string', { defaults: { cpu: { warn: '90' } } }, 'rules.defaults.cpu.warn: expected a percentage 0-100 or null, got "90"'],
  ['percent out of range', { defaults: { ram: { crit: 120 } } }, 'rules.defaults.ram.crit: expected a percentage 0-100 or null, got 120'],
  ['duration as a number', { services: { 'payments-*': { cpu: { for: 30 } } } }, 'rules.services["payments-*"].cpu.for: expected a duration such as "30s", "5m" or "24h", got 30'],
  ['warn above crit in an override', { services: { api: { disk: { warn: 96 } } } }, 'rules.services.api.disk: warn (96) must be below crit (95)'],
  ['free-disk levels the wrong way round', { defaults: { diskFree: { warn: 1, crit: 5 } } }, 'rules.defaults.diskFree: warn (1) must be above crit (5)'],
  ['negative GB', { defaults: { diskFree: { crit: -1 } } }, 'rules.defaults.diskFree.crit: expected a size in GB (>= 0) or null, got -1'],
  ['zero intervals', { defaults: { silent: { intervals: 0 } } }, 'rules.defaults.silent.intervals: expected a number > 0, got 0'],
  ['minSpan beyond window', { defaults: { diskFull: { minSpan: '1h' } } }, 'rules.defaults.diskFull.minSpan: must not be longer than window'],
  ['horizons the wrong way round', { defaults: { ramFull: { crit: '2d' } } }, 'rules.defaults.ramFull: crit must be a shorter horizon than warn (full sooner is worse)'],
  ['fit outside 0-1', { defaults: { ramFull: { minFit: 2 } } }, 'rules.defaults.ramFull.minFit: expected a number 0-1, got 2'],
  ['enabled as a string', { services: { '*': { silent: { enabled: 'no' } } } }, 'rules.services["*"].silent.enabled: expected true or false, got "no"'],
  ['rules of a service not an object', { services: { api: 5 } }, 'rules.services.api: expected an object of rules (cpu, ram, disk, diskFree, silent, diskFull, ramFull), got 5'],
  ['empty pattern', { services: { '': {} } }, 'rules.services[""]: a service pattern must not be empty'],
];

for (const [name, input, message] of bad) {
  test(`config error names the key: ${name}`, (t) => {
    const err = t.throws(() => parseRulesConfig(input), { instanceOf: RulesConfigError });
    t.is(err?.message, message);
    t.true(err instanceof ConfigError, 'reported by the CLI like any other bad setting');
  });
}

test('null disables a level; the error path can be renamed for another config source', (t) => {
  t.is(parseRulesConfig({ defaults: { cpu: { warn: null } } }).defaults.cpu.warn, null);
  t.throws(() => parseRulesConfig({ defaults: { cpu: { warn: 'x' } } }, 'rules.json'), { message: /^rules\.json\.defaults\.cpu\.warn: / });
});

test('a rules file: parsed like the config object, errors name the file and the key', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hms-rules-'));
  const good = join(dir, 'rules.json');
  await writeFile(good, JSON.stringify({ services: { 'payments-*': { cpu: { warn: 90 } } } }));
  t.is(rulesFor(loadRulesFile(good), 'payments-eu').cpu.warn, 90);
  const bad = join(dir, 'bad.json');
  await writeFile(bad, JSON.stringify({ services: { 'payments-*': { cpu: { warn: 900 } } } }));
  t.throws(() => loadRulesFile(bad), { instanceOf: RulesConfigError, message: `rules file ${bad}: rules.services["payments-*"].cpu.warn: expected a percentage 0-100 or null, got 900` });
  const broken = join(dir, 'broken.json');
  await writeFile(broken, '{"services": ');
  t.throws(() => loadRulesFile(broken), { instanceOf: RulesConfigError, message: new RegExp(`^rules file ${broken}: `) });
});
