/** Whether to colour at all; kept free of React so the entry point can ask before React loads. */

/** False when NO_COLOR is set to a non-empty value (https://no-color.org) or the terminal is "dumb". */
export function colorEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') return false;
  return env['TERM'] !== 'dumb';
}
