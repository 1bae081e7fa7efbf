import { ConfigError, flagName } from './config/settings.js';

/** `--some-flag value` / `--some-flag=value` / `--bool` to {someFlag: value}; positionals kept apart. */
export function parseFlags(argv: string[], booleans: string[] = []): { flags: Record<string, string>; positionals: string[] } {
  const flags: Record<string, string> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = (eq > 0 ? a.slice(2, eq) : a.slice(2)).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (eq > 0) flags[name] = a.slice(eq + 1);
    else if (booleans.includes(name)) flags[name] = 'true';
    else if (i + 1 < argv.length) flags[name] = argv[++i];
    else throw new ConfigError(`--${flagName(name)} needs a value`);
  }
  return { flags, positionals };
}
