/**
 * Property tests over generated hostile input: whatever the decoder accepts, every layer downstream can
 * carry (the master record line, the JS validator, the MapReduce mapper, DuckDB's strict reader, GraphQL's
 * DateTime, the dashboard's columns); whatever DuckDB's strict reader refuses, the scrub finds.
 * CI runs 100,000 generated datagrams (HMS_PROPERTY_RUNS overrides; 10,000 otherwise).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, LIST, listValue, VARCHAR } from '@duckdb/node-api';
import test from 'ava';
import fc from 'fast-check';
import stringWidth from 'string-width';
import { DateTime } from '../../graphql/datetime.js';
import { parseRecord } from '../../jobs/mapreduce/task/record.mjs';
import { RecordMapper } from '../../jobs/mapreduce/task/stages.mjs';
import { decodeDatagram } from '../../src/ingest/decode.js';
import { type HealthMessage, REJECT_REASONS } from '../../src/core/message.js';
import { encodeLine, RAW_COLUMNS, scanRecords } from '../../src/core/master-record.js';
import { minuteAggregate, readSegments } from '../../src/serving/view-sql.js';
import { fitText } from '../../tui/format.js';
import { datagram, NOW, numberToken, OPTS } from '../helpers/hostile.js';

const RUNS = Number(process.env.HMS_PROPERTY_RUNS ?? (process.env.CI ? 100_000 : 10_000));

const CONTROL_OR_FORMAT = /[\p{Cc}\p{Cf}\p{Cs}\p{Cn}\p{Zl}\p{Zp}]/u;

// ---- properties ----

test(`${RUNS} generated datagrams: the decoder never throws, and what it accepts every layer carries`, async (t) => {
  const accepted: HealthMessage[] = [];
  const reasons = new Map<string, number>();
  fc.assert(
    fc.property(datagram, (bytes) => {
      const d = decodeDatagram(bytes, NOW, OPTS);
      if (!d.ok) {
        if (!REJECT_REASONS.includes(d.reason) || typeof d.detail !== 'string') return false;
        reasons.set(d.reason, (reasons.get(d.reason) ?? 0) + 1);
        return true;
      }
      const m = d.msg;
      // The name as stored: normalised, printable, bounded.
      if (m.service !== m.service.normalize('NFC') || CONTROL_OR_FORMAT.test(m.service) || m.service.length > 200 || m.service.trim() !== m.service) return false;
      // The record line is one line, parses back to the same values, and the validator and the scrub take it.
      const line = encodeLine(m, NOW + accepted.length);
      if (line.indexOf('\n') !== line.length - 1 || scanRecords(Buffer.from(line)) !== undefined) return false;
      const r = parseRecord(line.slice(0, -1));
      if (typeof r === 'string') return false;
      if (r.service !== m.service || r.ts !== m.ts || r.cpu !== m.cpu || r.ram_free !== m.ramFree || r.disk_total !== m.diskTotal) return false;
      // The MapReduce mapper takes it; GraphQL can show its time; the dashboard fits it in its column.
      new RecordMapper({ watermark: Number.MAX_SAFE_INTEGER, maxKeys: 10 }, () => {}).push(line.slice(0, -1));
      DateTime.serialize(m.ts);
      if (stringWidth(fitText(m.service, 24)) !== 24) return false;
      accepted.push(m);
      return true;
    }),
    { numRuns: RUNS, seed: 20261201 },
  );
  t.log(`accepted ${accepted.length} of ${RUNS}; rejected by reason: ${JSON.stringify(Object.fromEntries(reasons))}`);
  t.true(accepted.length > RUNS / 10, 'a good share of the inputs goes all the way down');
  for (const reason of ['malformed_json', 'schema', 'range', 'future']) t.true((reasons.get(reason) ?? 0) > 0, `some inputs are rejected as ${reason}`);

  // Every accepted message through DuckDB's reader, as the batch and speed engines read it: same values,
  // and the strict view query (which fails on any row that is not a record) runs.
  const dir = await mkdtemp(join(tmpdir(), 'hms-props-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'seg-000000000001.jsonl');
  await writeFile(file, accepted.map((m, i) => encodeLine(m, i)).join(''));
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  const files = { files: listValue([file]) };
  const types = { files: LIST(VARCHAR) };
  const rows = (
    await conn.runAndReadAll(
      `SELECT service, ts, cpu, ram_total, ram_free, disk_total, disk_free FROM read_json($files, format = 'newline_delimited', columns = ${RAW_COLUMNS}) ORDER BY recv`,
      files,
      types,
    )
  ).getRows();
  t.is(rows.length, accepted.length);
  let mismatches = 0;
  for (const [i, m] of accepted.entries()) {
    const [service, ts, cpu, rt, rf, dt, df] = rows[i];
    const same = service === m.service && Number(ts) === m.ts && cpu === m.cpu && rt === m.ramTotal && rf === m.ramFree && dt === m.diskTotal && df === m.diskFree;
    if (!same && mismatches++ < 5) t.log('DuckDB read back', rows[i], 'for', m);
  }
  t.is(mismatches, 0);
  const minutes = (await conn.runAndReadAll(`SELECT sum(n) FROM (${minuteAggregate(readSegments(), [], 'TRUE')})`, files, types)).getRows();
  t.is(Number(minutes[0][0]), accepted.length);
  conn.closeSync();
});

/** A valid line with one field replaced by a generated token, or cut, or with bytes flipped. */
const mutatedLine = fc
  .record({
    field: fc.constantFrom('service', 'ts', 'cpu', 'ram_total', 'ram_free', 'disk_total', 'disk_free', 'recv'),
    token: fc.oneof(numberToken, fc.constantFrom('null', 'true', '"7"', '{}', '[]', '"\\ud800"', '"a\\u0000b"', '""', '-5', '1.5', 'NaN', 'Infinity')),
    cut: fc.nat({ max: 200 }),
    mode: fc.constantFrom('field', 'cut', 'garbage', 'drop'),
    garbage: fc.uint8Array({ minLength: 1, maxLength: 40 }),
  })
  .map(({ field, token, cut, mode, garbage }) => {
    const valid = encodeLine({ service: 'svc', ts: NOW, cpu: 50, ramTotal: 16, ramFree: 8, diskTotal: 100, diskFree: 40 }, NOW).slice(0, -1);
    if (mode === 'cut') return Buffer.from(valid.slice(0, cut % valid.length));
    if (mode === 'garbage') return Buffer.concat([Buffer.from(valid.slice(0, cut % valid.length)), Buffer.from(garbage)]).filter((b) => b !== 0x0a);
    if (mode === 'drop') return Buffer.from(valid.replace(new RegExp(`"${field}":[^,}]*,?`), '').replace(',}', '}'));
    return Buffer.from(valid.replace(new RegExp(`("${field}":)(?:"[^"]*"|[^,}]*)`), `$1${token}`));
  });

test('whenever DuckDB refuses a master file, the scrub finds the bad line (so no engine fails for good)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hms-props-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  const good = encodeLine({ service: 'ok', ts: NOW, cpu: 1, ramTotal: 1, ramFree: 1, diskTotal: 1, diskFree: 1 }, NOW);
  let refused = 0;
  let n = 0;
  await fc.assert(
    fc.asyncProperty(mutatedLine, async (bad) => {
      const file = join(dir, `seg-${String(++n).padStart(12, '0')}.jsonl`);
      const data = Buffer.concat([Buffer.from(good), bad, Buffer.from('\n'), Buffer.from(good)]);
      await writeFile(file, data);
      let duckRefused = false;
      try {
        await conn.run(`SELECT count(*) FROM (${minuteAggregate(readSegments(), [], 'TRUE')})`, { files: listValue([file]) }, { files: LIST(VARCHAR) });
      } catch {
        duckRefused = true;
      }
      const scanned = scanRecords(data);
      if (duckRefused) refused++;
      // The scrub keeps both good lines whatever it finds.
      if (scanned && scanned.good.toString() !== good + good && scanned.good.toString() !== good + bad.toString() + '\n' + good) return false;
      return !duckRefused || (scanned !== undefined && scanned.badLines === 1);
    }),
    { numRuns: 2000, seed: 7 },
  );
  t.log(`DuckDB refused ${refused} of 2000 mutated files; the scrub found the line in each`);
  t.true(refused > 500);
  conn.closeSync();
});
