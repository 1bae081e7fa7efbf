/**
 * Service-name globs for rule overrides and silences: `*` is any run of characters, `?` one character,
 * everything else literal. Service names have no path separators, so `*` needs no special case for `/`.
 */
export function compileGlob(pattern: string): (name: string) => boolean {
  if (!/[*?]/.test(pattern)) return (name) => name === pattern;
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  const re = new RegExp(`^${source}$`, 's');
  return (name) => re.test(name);
}
