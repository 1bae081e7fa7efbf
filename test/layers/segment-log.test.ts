/**
 * The write-ahead segment log on a real, small tmpfs that fills up: writes that stop short or fail are cut
 * back to the last good line, the lines wait in memory (bounded), and once space returns every accepted line
 * is in the file, in order, exactly once.
 */
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { pino } from 'pino';
import { encodeLine, scanRecords } from '../../src/core/master-record.js';
import { Quarantine } from '../../src/storage/quarantine.js';
import { SegmentLog } from '../../src/storage/segment-log.js';
import { mountTmpfs } from '../helpers/tmpfs.js';

const probe = await mountTmpfs(1 << 20);
if ('dir' in probe) await probe.unmount();
const diskTest = 'error' in probe && !process.env.CI ? test.skip : test;
if ('error' in probe && !process.env.CI) console.warn(`segment-log: skipped: ${probe.error}`);

const log = pino({ level: 'silent' });
const line = (i: number) => encodeLine({ service: `svc-${i % 7}`, ts: 1_764_000_000_000_000 + i, cpu: i % 100, ramTotal: 16, ramFree: 8, diskTotal: 100, diskFree: 40 }, i);

diskTest('a disk that fills up: no torn line, a bounded backlog, and every accepted line written in order once space returns', async (t) => {
  const fs = await mountTmpfs(2 << 20);
  if ('error' in fs) return t.fail(fs.error);
  t.teardown(() => fs.unmount());
  const dir = join(fs.dir, 'segments');
  const segments = new SegmentLog(
    { dir, quarantineDir: join(fs.dir, 'quarantine'), quarantine: new Quarantine(log), flushIntervalMs: 3_600_000, maxBytes: 1 << 30, maxAgeMs: 3_600_000, minNextId: 1, maxUnflushedBytes: 200 << 10 },
    log,
  );
  await segments.start();
  // Leave about 64 KiB free.
  const filler = join(fs.dir, 'filler');
  await writeFile(filler, Buffer.alloc((2 << 20) - (64 << 10)));
  const accepted: string[] = [];
  let refused = 0;
  let failures = 0;
  // Far more than the disk holds, flushed in batches of odd sizes so that writes end mid-line.
  for (let i = 0; i < 6000; i++) {
    const l = line(i);
    if (segments.append(l) === undefined) refused++;
    else accepted.push(l);
    if (i % 97 === 0) await segments.flush().catch(() => failures++);
  }
  t.true(failures > 0, 'the disk filled up');
  t.true(refused > 0, 'beyond the backlog bound, lines are refused');
  const status = segments.status();
  t.regex(status.error ?? '', /ENOSPC|no space/i);
  t.true(status.unflushedBytes > 0 && status.unflushedBytes <= 200 << 10, `${status.unflushedBytes} bytes waiting`);
  const [name] = await readdir(dir);
  const onDisk = await readFile(join(dir, name));
  t.true(onDisk.length > 0);
  t.is(scanRecords(onDisk), undefined, 'the file holds whole lines only, even while the disk is full');
  t.true(accepted.join('').startsWith(onDisk.toString()), 'what is on disk is a prefix of what was accepted');

  // Space returns: the backlog goes to disk, in order, nothing twice; the error clears.
  await rm(filler);
  await segments.flush();
  t.deepEqual(segments.status(), { unflushed: 0, unflushedBytes: 0, error: null, errorSince: null });
  t.is((await readFile(join(dir, name))).toString(), accepted.join(''));
  t.is(accepted.length + refused, 6000);
  await segments.close();
});
