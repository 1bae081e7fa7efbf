/** The Spark SQL generator, without Spark: what it rewrites, and that it refuses what it cannot translate. */
import test from 'ava';
import { realtimeMinutesSql, sparkRawSchema, toSparkSql } from '../../src/speed/spark-sql.js';
import { RAW_COLUMNS } from '../../src/core/master-record.js';
import { AGG_COLUMNS } from '../../src/serving/view-sql.js';

test('the input schema is the raw segment columns, in Spark types', (t) => {
  t.is(sparkRawSchema(), 'service STRING, ts BIGINT, cpu DOUBLE, ram_total DOUBLE, ram_free DOUBLE, disk_total DOUBLE, disk_free DOUBLE, recv BIGINT');
  t.is(sparkRawSchema(RAW_COLUMNS).split(', ').length, [...RAW_COLUMNS.matchAll(/: '/g)].length);
  t.throws(() => sparkRawSchema("{a: 'HUGEINT'}"), { message: /HUGEINT/ });
});

test('DuckDB-isms are rewritten, parameters inlined, literals escaped for Spark', (t) => {
  t.is(toSparkSql('SELECT ts // 60 * 60, max_by(ts, [u, -ts]) FROM x WHERE ts < $w AND s = $s', { w: 10n, s: "o'k" }), "SELECT ts div 60 * 60, max_by(ts, array(u, -ts)) FROM x WHERE ts < 10 AND s = 'o\\'k'");
  t.is(toSparkSql('max_by(ts, (CAST(u AS HUGEINT) * 9007199254740992 + (9007199254740991 - ts)))'), 'max_by(ts, (CAST(u AS DECIMAL(38, 0)) * 9007199254740992 + (9007199254740991 - ts)))');
  t.is(toSparkSql("SELECT regexp_extract(f, 'seg-(\\d{12})', 1)"), "SELECT regexp_extract(f, 'seg-(\\\\d{12})', 1)");
  // Inside a literal nothing is rewritten.
  t.is(toSparkSql("SELECT 'a // b [c] $d'"), "SELECT 'a // b [c] $d'");
});

test('syntax without a known translation is refused, not passed on', (t) => {
  t.throws(() => toSparkSql('SELECT x::BIGINT FROM t'), { message: /::/ });
  t.throws(() => toSparkSql('SELECT * EXCLUDE (a) FROM t'), { message: /EXCLUDE/ });
  t.throws(() => toSparkSql('SELECT $missing'), { message: /\$missing/ });
  t.throws(() => toSparkSql('SELECT $w', { w: 1.5 }), { message: /integer/ });
});

test('the realtime job keeps every view column, keyed by segment, and filters what the batch absorbed', (t) => {
  const sql = realtimeMinutesSql({ watermark: 1_800_000_000_000_000, segment: 41 });
  for (const c of ['service', 'bucket', 'seg', ...AGG_COLUMNS]) t.regex(sql, new RegExp(`AS ${c}\\b|\\b${c},`));
  t.regex(sql, /NOT \(ts < 1800000000000000 AND seg <= 41\)/);
  t.regex(realtimeMinutesSql({ watermark: null, segment: null }), /NOT \(ts < 0 AND seg <= -1\)/);
  t.regex(sql, /GROUP BY ALL/);
});
