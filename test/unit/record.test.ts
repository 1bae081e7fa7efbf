import test from 'ava';
import { parseRecord, RECORD_FIELDS } from '../../jobs/mapreduce/task/record.mjs';
import { encodeLine, RAW_COLUMNS, recordTime } from '../../src/core/master-record.js';

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
});
