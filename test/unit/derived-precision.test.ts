import test from 'ava';
import fc from 'fast-check';
import { DERIVED_DIGITS, roundDerived } from '../../src/core/derived-precision.js';
import { usedPct } from '../../src/core/message.js';

/** The unit of the last digit kept: 10^(e - 11) for a value with decimal exponent e. */
const unitOf = (x: number) => 10 ** (Math.floor(Math.log10(Math.abs(x))) - (DERIVED_DIGITS - 1));

test('the noise of derived values goes, the digits stay', (t) => {
  t.is(usedPct(16, 7.04), 56.00000000000001, 'the arithmetic leaves noise');
  t.is(roundDerived(usedPct(16, 7.04)), 56);
  t.is(roundDerived(56.025000000000006), 56.025);
  t.is(roundDerived(0.1 + 0.2), 0.3);
  t.is(roundDerived(1 / 3), 0.333333333333);
  for (const kept of [0, 42.5, 60.9375, 99.999999, 12.3456789012, 1e-7, 100]) t.is(roundDerived(kept), kept, String(kept));
});

test('property: rounding moves a value by at most half its rounding unit, and is idempotent', (t) => {
  fc.assert(
    fc.property(fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e300, max: 1e300 }), (x) => {
      const r = roundDerived(x);
      t.is(roundDerived(r), r, `${x}`);
      if (x === 0) return t.is(r, 0);
      // Half a unit, plus the one rounding of the decimal result to a double.
      t.true(Math.abs(r - x) <= unitOf(x) / 2 + Math.abs(r) * Number.EPSILON, `${x} -> ${r}`);
    }),
    { numRuns: 20_000 },
  );
  // A decimal of up to 12 significant digits (any percentage to 1e-9, the views' 1e-6 steps) is kept exactly.
  fc.assert(
    fc.property(fc.stringMatching(/^[1-9][0-9]{0,11}$/), fc.integer({ min: -20, max: 20 }), (digits, exponent) => {
      const x = Number(`${digits}e${exponent}`);
      t.is(roundDerived(x), x, String(x));
    }),
    { numRuns: 20_000 },
  );
});
