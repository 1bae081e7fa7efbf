/** Service globs: `*` and `?` only, linear time whatever the pattern, and a length limit. */
import test from 'ava';
import fc from 'fast-check';
import { compileGlob, globMatches, globProblem, MAX_GLOB_LENGTH } from '../../src/core/glob.js';

test('globs: * and ? only, everything else literal', (t) => {
  t.true(compileGlob('payments-*')('payments-eu-1'));
  t.false(compileGlob('payments-*')('payments'));
  t.true(compileGlob('svc-00?')('svc-007'));
  t.false(compileGlob('svc-00?')('svc-0071'));
  t.false(compileGlob('a.b')('axb'), 'a dot is a dot');
  t.true(compileGlob('(x)+[y]')('(x)+[y]'));
  t.true(compileGlob('*')('anything'));
  t.true(compileGlob('*')(''));
  t.true(compileGlob('a*b*c')('a-b-b-c'));
  t.false(compileGlob('a*b*c')('a-b-b-'));
  t.true(compileGlob('**?')('x'));
  t.false(compileGlob('**?')(''));
});

/** The definition, by dynamic programming over every (pattern, name) prefix pair: obviously right, slow. */
function reference(pattern: string, name: string): boolean {
  const m = pattern.length;
  const n = name.length;
  let row = new Array<boolean>(n + 1).fill(false);
  row[0] = true;
  for (let i = 1; i <= m; i++) {
    const next = new Array<boolean>(n + 1).fill(false);
    const c = pattern[i - 1];
    next[0] = c === '*' && row[0];
    for (let j = 1; j <= n; j++) {
      next[j] = c === '*' ? row[j] || next[j - 1] : (c === '?' || c === name[j - 1]) && row[j - 1];
    }
    row = next;
  }
  return row[n];
}

test('the two-pointer matcher agrees with the definition on generated patterns and names', (t) => {
  const alphabet = fc.constantFrom('a', 'b', '-', '*', '?', '.', '\\');
  const text = fc.constantFrom('a', 'b', '-', '.', '*', '?');
  fc.assert(
    fc.property(fc.string({ unit: alphabet, maxLength: 12 }), fc.string({ unit: text, maxLength: 16 }), (pattern, name) => {
      return globMatches(pattern, name) === reference(pattern, name);
    }),
    { numRuns: 20_000 },
  );
  t.pass();
});

test('the backtracking case of a regex-built glob is answered by a linear walk', (t) => {
  // As a regex, ^.*a.*a.*a.*a.*b$ against 200 "a"s took 22 s on the old main. Here each call is at most
  // pattern × name steps; a thousand of them finish long before ava's timeout even on a loaded machine.
  const worst = `${'*a'.repeat(MAX_GLOB_LENGTH / 2 - 1)}*b`;
  const name = 'a'.repeat(200);
  const started = process.hrtime.bigint();
  for (let i = 0; i < 1000; i++) {
    t.false(globMatches('*a*a*a*a*b', name));
    t.false(globMatches(worst, name));
  }
  t.true(globMatches('*a*a*a*a*b', `${name}b`));
  t.log(`2,000 worst-case matches in ${Number(process.hrtime.bigint() - started) / 1e6} ms`);
});

test('a pattern has a length limit, and compileGlob refuses what globProblem names', (t) => {
  t.is(globProblem('x'.repeat(MAX_GLOB_LENGTH)), undefined);
  t.regex(globProblem('x'.repeat(MAX_GLOB_LENGTH + 1)) ?? '', /at most 200 characters \(got 201\)/);
  t.regex(globProblem('') ?? '', /must not be empty/);
  t.throws(() => compileGlob('*'.repeat(MAX_GLOB_LENGTH + 1)), { message: /at most 200/ });
});
