/**
 * Service-name globs for rule overrides, silences and signing keys: `*` is any run of characters, `?` one
 * character, everything else literal. Service names have no path separators, so `*` needs no case for `/`.
 *
 * Patterns come from API callers and files, so no regex is built from them (`*a*a*a*a*b` would backtrack
 * exponentially). The matcher is the classic two-pointer walk: on a mismatch it resumes after the last `*`,
 * which makes it O(pattern × name) at worst, and patterns are at most MAX_GLOB_LENGTH characters.
 */

/** Longest pattern accepted; as long as the longest service name. */
export const MAX_GLOB_LENGTH = 200;

/** Why a pattern cannot be used, or undefined when it can. */
export function globProblem(pattern: string): string | undefined {
  if (pattern.length === 0) return 'a service pattern must not be empty';
  if (pattern.length > MAX_GLOB_LENGTH) return `a service pattern is at most ${MAX_GLOB_LENGTH} characters (got ${pattern.length})`;
  return undefined;
}

export function globMatches(pattern: string, name: string): boolean {
  let p = 0;
  let n = 0;
  let star = -1; // position in pattern after the last `*`
  let resume = 0; // position in name that the last `*` has swallowed up to
  while (n < name.length) {
    const c = pattern.charCodeAt(p);
    if (p < pattern.length && (c === 63 /* ? */ || c === name.charCodeAt(n)) && c !== 42) {
      p++;
      n++;
    } else if (p < pattern.length && c === 42 /* * */) {
      star = ++p;
      resume = n;
    } else if (star >= 0) {
      p = star;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern.charCodeAt(p) === 42) p++;
  return p === pattern.length;
}

/** A matcher for one pattern; throws on a pattern that globProblem refuses. */
export function compileGlob(pattern: string): (name: string) => boolean {
  const problem = globProblem(pattern);
  if (problem) throw new Error(problem);
  if (!/[*?]/.test(pattern)) return (name) => name === pattern;
  return (name) => globMatches(pattern, name);
}
