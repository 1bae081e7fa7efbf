/** Failures reach API callers as a code and a fixed sentence; the error's own text (paths, hosts) never does. */
import test from 'ava';
import fc from 'fast-check';
import { INVALID_RECORD } from '../../jobs/mapreduce/task/record.mjs';
import { ERROR_CODES, storedSummary, summarizeError, systemErrorText } from '../../src/core/error-code.js';
import { WebHdfsError } from '../../src/storage/webhdfs.js';

const errno = (code: string, message: string) => Object.assign(new Error(message), { code });

test('each kind of failure gets its code', (t) => {
  const cases: [unknown, string][] = [
    [new Error(`${INVALID_RECORD} in /var/lib/hms/master/2026/x.jsonl`), 'MASTER_RECORD_INVALID'],
    [errno('ENOSPC', "ENOSPC: no space left on device, write '/data/seg'"), 'DISK_FULL'],
    [errno('EACCES', "EACCES: permission denied, open '/data/master'"), 'STORE_UNAVAILABLE'],
    [new Error('cannot ship', { cause: new Error('hdfs store: x', { cause: errno('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.1:9870') }) }), 'STORE_UNAVAILABLE'],
    [new Error('STORE_UNAVAILABLE: cannot ship segments to the master dataset: anything'), 'STORE_UNAVAILABLE'],
    [new Error('java.lang.OutOfMemoryError at /opt/hadoop'), 'ENGINE_FAILED'],
    ['a string thrown', 'ENGINE_FAILED'],
    [null, 'ENGINE_FAILED'],
  ];
  for (const [err, code] of cases) t.is(summarizeError(err, 'ENGINE_FAILED').code as string, code, String(err));
  const hdfs = new WebHdfsError({ op: 'LISTSTATUS', path: '/hms/master', exception: 'RemoteException', message: 'namenode is in safe mode' });
  t.is(summarizeError(hdfs, 'JOB_FAILED').code, 'STORE_UNAVAILABLE');
});

test('a summary is the code and its sentence, and reads back to the same code', (t) => {
  const s = summarizeError(errno('EIO', "EIO: i/o error, read '/x'"), 'ENGINE_FAILED');
  t.is(s.text, `STORE_UNAVAILABLE: ${ERROR_CODES.STORE_UNAVAILABLE}`);
  t.deepEqual(storedSummary(s.text, 'ENGINE_FAILED'), s);
  t.is(storedSummary(null, 'ENGINE_FAILED'), null);
  t.is(storedSummary("an old run's raw text: /tmp/x", 'ENGINE_FAILED')?.code, 'ENGINE_FAILED', 'text recorded before codes is not shown');
});

test('a system error loses the path Node appends', (t) => {
  t.is(systemErrorText(errno('ENOSPC', "ENOSPC: no space left on device, open '/var/lib/hms/segments/x'"), 'STORE_UNAVAILABLE'), 'ENOSPC: no space left on device');
  t.is(systemErrorText(new Error('weird: /etc/passwd'), 'STORE_UNAVAILABLE'), `STORE_UNAVAILABLE: ${ERROR_CODES.STORE_UNAVAILABLE}`);
});

test('whatever an error says, no slash from it reaches the summary', (t) => {
  fc.assert(
    fc.property(fc.string(), fc.option(fc.constantFrom('ENOSPC', 'EIO', 'ENOENT', 'weird')), (message, code) => {
      const err = code ? errno(code, message) : new Error(message);
      return !summarizeError(err, 'JOB_FAILED').text.includes('/') && !systemErrorText(err, 'JOB_FAILED').includes('/');
    }),
  );
  t.pass();
});
