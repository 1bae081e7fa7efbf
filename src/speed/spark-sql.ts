/**
 * Spark SQL for the realtime views, generated from the view definitions in view-sql.ts.
 *
 * The Spark engine must give exactly the rows the DuckDB engine gives, so it must not have its own copy of
 * the quantisation, the aggregates or the peak-time rule. It runs `minuteAggregate` itself: the DuckDB text
 * is translated to Spark's dialect by a few mechanical rewrites, and anything this translator does not know
 * makes it throw instead of letting Spark guess. When view-sql.ts changes, the Spark job changes with it
 * (and the engine-equivalence test says whether the translation still holds).
 */
import { RAW_COLUMNS } from '../core/master-record.js';
import { type AbsorbedState, absorbedParams, absorbedSql } from '../core/absorbed.js';
import { minuteAggregate, SEGMENT_OF_FILENAME } from '../serving/view-sql.js';

/** The temporary view the driver registers over the segment files for each job. */
export const SEGMENTS_VIEW = 'segments';

/** The column the driver adds with each row's file path: the name DuckDB's `read_json(filename = true)` uses. */
export const FILE_COLUMN = 'filename';

const SPARK_TYPES: Record<string, string> = { VARCHAR: 'STRING', BIGINT: 'BIGINT', DOUBLE: 'DOUBLE' };

/** The raw segment columns as a Spark DDL schema, parsed from the DuckDB spelling so that there is one list. */
export function sparkRawSchema(duckColumns: string = RAW_COLUMNS): string {
  const cols = [...duckColumns.matchAll(/(\w+): '(\w+)'/g)].map(([, name, type]) => {
    const spark = SPARK_TYPES[type];
    if (!spark) throw new Error(`spark-sql: no Spark type for DuckDB type ${type} (column ${name})`);
    return `${name} ${spark}`;
  });
  if (cols.length === 0) throw new Error(`spark-sql: cannot read the raw columns from ${duckColumns}`);
  return cols.join(', ');
}

export type SqlParam = number | bigint | string;

const literal = (name: string, v: SqlParam | undefined): string => {
  if (v === undefined) throw new Error(`spark-sql: no value for $${name}`);
  if (typeof v === 'string') return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new Error(`spark-sql: $${name} must be an integer, got ${v}`);
  return String(v);
};

/**
 * Translates DuckDB SQL, as view-sql.ts writes it, to Spark SQL. `$name` parameters are inlined as literals
 * (Spark's own parameter markers would need the driver to know their names and types).
 *
 * Rewrites: `a // b` (integer division) -> `a div b`, which Spark parses at the same precedence as `*`;
 * `[a, b]` (a list) -> `array(a, b)`, ordered element-wise in both engines; `CAST(x AS HUGEINT)` (the peak-time
 * key, a 128-bit integer) -> `CAST(x AS DECIMAL(38, 0))`, which holds the same integers exactly;
 * backslashes in string literals are doubled, because Spark unescapes them and DuckDB does not;
 * `error(msg)` (fail the query) -> `raise_error(msg)`; `regexp_matches(s, re)` -> `regexp_like(s, re)`, both a
 * partial match (RE2 and java.util.regex agree on the character classes view-sql.ts uses).
 * `GROUP BY ALL`, `max_by`, `regexp_extract`, `round` (half away from zero), casts and subqueries without an
 * alias mean the same in both dialects.
 */
export function toSparkSql(duckSql: string, params: Record<string, SqlParam> = {}): string {
  // Literals and code alternate; only code is rewritten.
  const parts = duckSql.split(/('(?:[^']|'')*')/);
  return parts
    .map((part, i) => {
      if (i % 2 === 1) return part.replace(/\\/g, '\\\\');
      const out = part
        .replace(/\s\/\/\s/g, ' div ')
        .replace(/\[([^[\]]*)\]/g, 'array($1)')
        .replace(/\bAS HUGEINT\)/g, 'AS DECIMAL(38, 0))')
        .replace(/\berror\(/g, 'raise_error(')
        .replace(/\bregexp_matches\(/g, 'regexp_like(')
        .replace(/\$(\w+)/g, (_, name: string) => literal(name, params[name]));
      const unknown = /::|\/\/|[[\]$]|\bQUALIFY\b|\bEXCLUDE\b|\bCOLUMNS\(/i.exec(out);
      if (unknown) throw new Error(`spark-sql: no Spark translation for "${unknown[0]}" in: ${part.trim().slice(0, 200)}`);
      return out;
    })
    .join('');
}

/**
 * The realtime minute views over the rows of `SEGMENTS_VIEW` that the batch views have not absorbed
 * (watermark W, batch segment), keyed by (service, bucket, seg): the rows of `rt_minute`.
 */
export function realtimeMinutesSql(absorbed: AbsorbedState): string {
  const source = `(SELECT *, ${SEGMENT_OF_FILENAME} AS seg FROM ${SEGMENTS_VIEW})`;
  return toSparkSql(minuteAggregate(source, ['seg'], `NOT ${absorbedSql('ts')}`), absorbedParams(absorbed));
}
