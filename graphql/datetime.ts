/**
 * `DateTime`: the core speaks epoch microseconds, clients speak ISO-8601. Output is UTC with sub-millisecond
 * digits only when present; input must carry a zone, because a zoneless time would be a guess about the
 * caller's clock.
 */
import { GraphQLError, GraphQLScalarType, Kind, print } from 'graphql';
import { isoToMicros, microsToIso } from '../src/core/time.js';

// Date cannot represent more than 8.64e15 ms either side of the epoch.
const MAX_MICROS = 8.64e18;

const EXPECTED = 'an ISO-8601 date-time with a zone, e.g. "2026-11-27T10:00:00Z" or "2026-11-27T11:00:00.000123+01:00"';

// A GraphQLError, not a plain Error, so that yoga's error masking shows the reason instead of hiding it.
function refuse(shown: string): GraphQLError {
  return new GraphQLError(`DateTime must be ${EXPECTED}; got ${shown}.`, { extensions: { code: 'BAD_DATETIME' } });
}

function parseIso(value: unknown): number {
  const micros = typeof value === 'string' ? isoToMicros(value.trim()) : undefined;
  if (micros === undefined) throw refuse(typeof value === 'string' ? JSON.stringify(value) : String(value));
  return micros;
}

export const DateTime = new GraphQLScalarType<number, string>({
  name: 'DateTime',
  description: 'ISO-8601 UTC date-time, microsecond precision. Input needs a zone (Z or ±hh:mm).',
  serialize(value) {
    if (typeof value !== 'number' || !Number.isFinite(value) || Math.abs(value) > MAX_MICROS) {
      throw new GraphQLError(`DateTime cannot represent ${String(value)}: expected epoch microseconds.`);
    }
    return microsToIso(Math.round(value));
  },
  parseValue: parseIso,
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw refuse(print(ast));
    return parseIso(ast.value);
  },
});
