import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { csvFields, type ImportRecord, readRecords } from '../../src/import/readers.js';

test('CSV fields: plain, quoted with commas and doubled quotes, empty; a quote that does not close is refused', (t) => {
  t.deepEqual(csvFields('orders,1764273214,5,16,4,100,25'), ['orders', '1764273214', '5', '16', '4', '100', '25']);
  t.deepEqual(csvFields('"a,b","say ""hi""",,x'), ['a,b', 'say "hi"', '', 'x']);
  t.deepEqual(csvFields(''), ['']);
  t.is(csvFields('"never closed,1'), undefined);
  t.is(csvFields('"closed"junk,1'), undefined);
});

async function records(text: string, format: 'jsonl' | 'csv', compat: string[] = []): Promise<ImportRecord[]> {
  const dir = await mkdtemp(join(tmpdir(), 'hms-readers-'));
  try {
    await writeFile(join(dir, 'f'), text);
    const out: ImportRecord[] = [];
    for await (const chunk of readRecords(join(dir, 'f'), format, new Set(compat as never[]))) out.push(...chunk.records);
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('CSV rows become wire messages, with the header skipped, numbers as JSON writes them, and rejects with their line', async (t) => {
  const got = await records(
    'service,timestamp,CPU,total_ram,free_ram,total_disk,free_disk\r\norders,1764273214,5.50,16,4,100,25\n"pay,ments",2026-11-27T10:00:00Z,0x10,16,4,100,25\nx,1,1,1\n\nsearch,1e400,1,1,1,1,1\n',
    'csv',
  );
  t.deepEqual(got, [
    { line: 2, text: '{"serviceName":"orders","Timestamp":1764273214,"CPU":5.5,"RAM":{"Total":16,"Free":4},"Disk":{"Total":100,"Free":25}}' },
    { line: 3, reason: 'schema', detail: 'CPU "0x10" is not a number' },
    { line: 4, reason: 'schema', detail: '4 fields; the CSV has 7: service,timestamp,CPU,total_ram,free_ram,total_disk,free_disk' },
    // A timestamp the decoder will refuse (range): passed on as written, for it to say why.
    { line: 6, text: '{"serviceName":"search","Timestamp":1e400,"CPU":1,"RAM":{"Total":1,"Free":1},"Disk":{"Total":1,"Free":1}}' },
  ]);
  // With a compatibility mode, CPU is the 0-1 fraction those CSVs hold.
  const seed = await records('orders,1764273214,0.07,16,4,100,25\n', 'csv', ['seed']);
  t.is((seed[0] as { text: string }).text.includes('"CPU":7,'), true);
});

test('JSON records keep their starting line; the seed client objects keep their comma for the decoder', async (t) => {
  const got = await records('{"a": 1}\n\n{"b":\n 2},\n{"c": 3}', 'jsonl', ['seed']);
  t.deepEqual(got, [
    { line: 1, text: '{"a": 1}' },
    { line: 3, text: '{"b":\n 2},' },
    { line: 5, text: '{"c": 3}' },
  ]);
});
