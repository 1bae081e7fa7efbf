import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Database, reclaimSpace } from '../../src/serving/database.js';

const setting = async (db: Database, name: string) => {
  const conn = await db.connect();
  try {
    return String((await conn.runAndReadAll(`SELECT current_setting('${name}')`)).getRows()[0][0]);
  } finally {
    conn.closeSync();
  }
};

test('DuckDB runs within the memory, threads and spill directory it is given, not its server defaults', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hms-db-'));
  try {
    const db = await Database.open(join(dir, 'hms.duckdb'), { memoryBytes: 300 * 2 ** 20, threads: 1, tempDir: join(dir, 'spill') });
    try {
      t.is(await setting(db, 'memory_limit'), '300.0 MiB');
      t.is(await setting(db, 'threads'), '1');
      t.is(await setting(db, 'temp_directory'), join(dir, 'spill'));
      t.is(await setting(db, 'preserve_insertion_order'), 'false');
    } finally {
      db.close();
    }
    // Without limits, DuckDB's own default (a share of the machine's RAM) is what a caller gets.
    const open = await Database.open(join(dir, 'other.duckdb'));
    try {
      t.not(await setting(open, 'memory_limit'), '300.0 MiB');
    } finally {
      open.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('reclaimSpace: the free blocks deleted rows leave go back to the disk; rows and constraints stay; a copy cut short is cleaned up', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hms-reclaim-'));
  const path = join(dir, 'hms.duckdb');
  try {
    const db = await Database.open(path);
    const conn = await db.connect();
    // A month of realtime rows, absorbed and deleted: what an import followed by a batch run leaves behind.
    await conn.run(`INSERT INTO rt_minute SELECT 'svc-' || (i % 100), i * 60000000, i // 100, ${Array(13).fill('i').join(', ')} FROM range(0, 300000) t(i)`);
    await conn.run(`INSERT INTO batch_hour SELECT 'svc-' || (i % 100), i * 3600000000, ${Array(13).fill('i').join(', ')} FROM range(0, 20000) t(i)`);
    await conn.run('CHECKPOINT');
    await conn.run('DELETE FROM rt_minute WHERE bucket > 60000000');
    await conn.run("INSERT INTO meta VALUES ('watermark', 42)");
    conn.closeSync();
    db.close();
    const { size: before } = await stat(path);
    const kept = await dump(path);

    const r = await reclaimSpace(path, {}, 2 ** 20);
    t.truthy(r);
    const { size: after } = await stat(path);
    t.log(`${(before / 2 ** 20).toFixed(0)} MiB -> ${(after / 2 ** 20).toFixed(0)} MiB`);
    t.true(after < before / 2, `${before} -> ${after}`);
    t.is(r!.afterBytes, after);
    t.deepEqual(await dump(path), kept);
    t.is(await reclaimSpace(path, {}, 2 ** 20), undefined, 'nothing worth a copy the second time');

    // A copy cut short: the old file is whole and the partial one goes at the next open.
    await writeFile(`${path}.compact`, 'half a database');
    const again = await Database.open(path);
    const c = await again.connect();
    await t.throwsAsync(c.run("INSERT INTO meta VALUES ('watermark', 1)"), { message: /PRIMARY KEY|Duplicate key/ }, 'constraints kept');
    c.closeSync();
    again.close();
    await t.throwsAsync(stat(`${path}.compact`), { code: 'ENOENT' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

async function dump(path: string): Promise<string[]> {
  const db = await Database.open(path);
  const conn = await db.connect();
  try {
    const out: string[] = [];
    for (const table of ['rt_minute', 'batch_hour', 'meta']) {
      out.push(...(await conn.runAndReadAll(`SELECT * FROM ${table} ORDER BY ALL`)).getRows().map((r) => `${table}:${r.join(',')}`));
    }
    return out;
  } finally {
    conn.closeSync();
    db.close();
  }
}
