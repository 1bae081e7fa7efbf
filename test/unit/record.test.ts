import test from 'ava';
import fc from 'fast-check';
import { parseRecord, RECORD_FIELDS } from '../../jobs/mapreduce/task/record.mjs';
import { encodeLine, RAW_COLUMNS, recordTime } from '../../src/core/master-record.js';
import { partitionOf, splitByPartition } from '../../src/storage/store.js';

const msg = { service: 'orders "eu"', ts: 1_764_000_000_123_456, cpu: 42.5, ramTotal: 16, ramFree: 5e-324, diskTotal: 1e308, diskFree: 0 };

test('encodeLine writes exactly the declared fields, in their order, and parseRecord reads them back', (t) => {
  const line = encodeLine(msg, 1_764_000_000_999_999);
  t.true(line.endsWith('}\n'));
  t.deepEqual(Object.keys(JSON.parse(line)), RECORD_FIELDS.map(([name]) => name));
  t.deepEqual(parseRecord(line.trimEnd()), {
    service: msg.service,
    ts: msg.ts,
    cpu: msg.cpu,
    ram_total: msg.ramTotal,
    ram_free: msg.ramFree,
    disk_total: msg.diskTotal,
    disk_free: msg.diskFree,
    recv: 1_764_000_000_999_999,
  });
});

test('the SQL readers name the same columns and types', (t) => {
  t.is(RAW_COLUMNS, "{service: 'VARCHAR', ts: 'BIGINT', cpu: 'DOUBLE', ram_total: 'DOUBLE', ram_free: 'DOUBLE', disk_total: 'DOUBLE', disk_free: 'DOUBLE', recv: 'BIGINT'}");
});

test('recordTime reads the event time without parsing the line, NaN when there is none', (t) => {
  t.is(recordTime(Buffer.from(encodeLine(msg, 7))), msg.ts);
  t.true(Number.isNaN(recordTime(Buffer.from('{"service":"x","ts":-5}'))));
  t.true(Number.isNaN(recordTime(Buffer.from('garbage'))));
  const two = Buffer.from(`{"service":"a"}\n${encodeLine(msg, 7)}`);
  t.true(Number.isNaN(recordTime(two, 0, 16)), 'the search stays within the line');
  t.is(recordTime(two, 16), msg.ts);
  t.false(Number.isSafeInteger(recordTime(Buffer.from('{"ts":9007199254740993}'))));
});

test('property: splitByPartition puts each line in its hour, in order, and sets apart the lines without a time', (t) => {
  const HOUR = 3_600_000_000;
  const line = fc.oneof(
    { weight: 8, arbitrary: fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: HOUR - 1 })).map(([h, us]) => encodeLine({ ...msg, ts: 1_764_000_000_000_000 + h * HOUR + us }, 7)) },
    { weight: 1, arbitrary: fc.constantFrom('garbage\n', '{"ts":-1}\n', '{"ts":99999999999999999999}\n', '\n') },
  );
  fc.assert(
    fc.property(fc.array(line, { maxLength: 60 }), fc.constantFrom('', '{"ts":17640', 'torn'), (lines, tail) => {
      const data = Buffer.from(lines.join('') + tail);
      const { parts, unplaced } = splitByPartition(data);
      // The reference: one line at a time.
      const want = new Map<string, string>();
      const apart: { offset: number; line: string }[] = [];
      let offset = 0;
      for (const l of [...lines, ...(tail ? [tail] : [])]) {
        const ts = recordTime(Buffer.from(l));
        if (Number.isSafeInteger(ts) && l.endsWith('\n')) want.set(partitionOf(ts), (want.get(partitionOf(ts)) ?? '') + l);
        else apart.push({ offset, line: l });
        offset += Buffer.byteLength(l);
      }
      t.deepEqual(new Map([...parts].map(([k, v]) => [k, Buffer.concat(v).toString()])), want);
      t.deepEqual(
        unplaced.map((u) => ({ offset: u.offset, line: u.line.toString() })),
        apart,
      );
    }),
    { numRuns: 2000 },
  );
});
