/**
 * The view definitions, written once and used by every engine that runs SQL (batch, speed, rebuild, query).
 *
 * Values are kept in micro-units (1e-6 of a percent) as BIGINT so that sums are exact integers: merging
 * buckets is associative and order-free, which is what makes incremental = full recompute hold exactly
 * and lets any engine (DuckDB, MapReduce, Spark) produce identical views. `quantize` is the JS twin of
 * the SQL below, for engines written in JavaScript.
 */

import { type DuckDBListType, type DuckDBListValue, LIST, listValue, VARCHAR } from '@duckdb/node-api';
import { INVALID_RECORD, RECORD_FIELDS } from '../../jobs/mapreduce/task/record.mjs';
import { RAW_COLUMNS, VALID_RECORD } from '../core/master-record.js';

export const RESOURCES = ['cpu', 'ram', 'disk'] as const;
export type ResourceName = (typeof RESOURCES)[number];

export const MICRO = 1e6;

/** Micro-units of a percentage, exactly as the SQL computes them (same operation order, round half away from zero). */
export const quantize = (pct: number): number => Math.sign(pct) * Math.round(Math.abs(pct) * MICRO);

/** `read_json` over a list of segment files; `$files` is bound as a VARCHAR[] parameter. */
export const readSegments = (files = '$files') =>
  `read_json(${files}, format = 'newline_delimited', columns = ${RAW_COLUMNS}, filename = true)`;

/** The segment id of a file, from its name. */
export const SEGMENT_OF_FILENAME = "CAST(regexp_extract(filename, 'seg-(\\d{12})', 1) AS BIGINT)";

const RECORD_COLUMNS = `${RECORD_FIELDS.map(([name]) => name).join(', ')}, filename`;

/**
 * The records of master files and segments of either form, with `filename` and `seg` (each record's segment: a
 * JSON-lines file's from its name, a compacted Parquet file's from its column), as a subquery, and the
 * parameters it binds. A path ending in `.parquet` is read as Parquet.
 */
export function recordSource(paths: string[]): { sql: string; params: Record<string, DuckDBListValue>; types: Record<string, DuckDBListType> } {
  const parquet = paths.filter((p) => p.endsWith('.parquet'));
  const jsonl = paths.filter((p) => !p.endsWith('.parquet'));
  const parts: string[] = [];
  const params: Record<string, DuckDBListValue> = {};
  const types: Record<string, DuckDBListType> = {};
  if (jsonl.length > 0 || parquet.length === 0) {
    parts.push(`SELECT ${RECORD_COLUMNS}, ${SEGMENT_OF_FILENAME} AS seg FROM ${readSegments('$jsonl')}`);
    params.jsonl = listValue(jsonl);
    types.jsonl = LIST(VARCHAR);
  }
  if (parquet.length > 0) {
    parts.push(`SELECT ${RECORD_COLUMNS}, seg FROM read_parquet($parquet, filename = true)`);
    params.parquet = listValue(parquet);
    types.parquet = LIST(VARCHAR);
  }
  return { sql: `(${parts.join('\n  UNION ALL ')})`, params, types };
}

const QUANTIZED = `service, ts,
  CAST(round(cpu * ${MICRO}) AS BIGINT) AS cpu_u,
  CAST(round((ram_total - ram_free) / ram_total * 100 * ${MICRO}) AS BIGINT) AS ram_u,
  CAST(round((disk_total - disk_free) / disk_total * 100 * ${MICRO}) AS BIGINT) AS disk_u`;

/** Aggregate columns of every view table, in order. */
export const AGG_COLUMNS = ['n', ...RESOURCES.flatMap((r) => [`${r}_sum`, `${r}_min`, `${r}_max`, `${r}_peak`])];

export const AGG_COLUMN_DDL = ['n BIGINT', ...RESOURCES.flatMap((r) => [`${r}_sum BIGINT`, `${r}_min BIGINT`, `${r}_max BIGINT`, `${r}_peak BIGINT`])].join(', ');

/**
 * The ordering key of the peak time: the value, then the earliest time, packed into one 128-bit integer (times
 * are below 2^53). A list key (`[value, -ts]`) means the same, but every group of a large aggregation then holds a
 * list on the heap: several hundred MB over a month of minutes, beyond --memory-limit.
 */
const TIME_SPAN = 2 ** 53;
const peakKey = (value: string, time: string) => `(CAST(${value} AS HUGEINT) * ${TIME_SPAN} + (${TIME_SPAN - 1} - ${time}))`;

const RAW_AGGS = [
  'count(*) AS n',
  ...RESOURCES.map(
    (r) =>
      // Peak time: the earliest time the maximum was reached, so every engine picks the same one.
      `CAST(sum(${r}_u) AS BIGINT) AS ${r}_sum, min(${r}_u) AS ${r}_min, max(${r}_u) AS ${r}_max, max_by(ts, ${peakKey(`${r}_u`, 'ts')}) AS ${r}_peak`,
  ),
].join(',\n  ');

export const MERGE_AGGREGATES = [
  'CAST(sum(n) AS BIGINT) AS n',
  ...RESOURCES.map(
    (r) =>
      `CAST(sum(${r}_sum) AS BIGINT) AS ${r}_sum, min(${r}_min) AS ${r}_min, max(${r}_max) AS ${r}_max, max_by(${r}_peak, ${peakKey(`${r}_max`, `${r}_peak`)}) AS ${r}_peak`,
  ),
].join(',\n  ');

/**
 * Minute buckets from raw rows. `source` must have the raw columns and `filename`; `extraKeys` are grouped
 * on too (the speed layer keeps the segment id). Every row is checked before `where` filters it: a row that
 * is not a master record fails the query (naming its file) instead of being counted or dropped unseen.
 * `checked: false` is only for lines this process has just encoded from decoded messages (the speed tick),
 * where the check would cost the ingest path CPU for nothing.
 */
export function minuteAggregate(source: string, extraKeys: string[] = [], where = 'TRUE', checked = true): string {
  const keys = extraKeys.map((k) => `${k}, `).join('');
  const filter = checked ? `CASE WHEN ${VALID_RECORD} THEN (${where}) ELSE error('${INVALID_RECORD} in ' || filename) END` : where;
  return `SELECT service, ts // 60000000 * 60000000 AS bucket, ${keys}${RAW_AGGS}
FROM (SELECT ${keys}${QUANTIZED} FROM ${source} WHERE ${filter})
GROUP BY ALL`;
}

/** Merges bucket rows of `source` grouped by the `groupBy` expressions (coarser buckets, or a whole window). */
export function rollup(source: string, groupBy: string, where = 'TRUE'): string {
  return `SELECT ${groupBy}, ${MERGE_AGGREGATES}
FROM ${source} WHERE ${where}
GROUP BY ALL`;
}
