/**
 * A stand-in for `hadoop jar hadoop-streaming.jar` in the engine's cluster mode, for testing the engine's
 * process handling without a JVM: it prints what a Streaming client prints (job id, progress, counters or
 * a failure) and writes the output directory (a file:// path) itself. FAKE_HADOOP selects the behaviour:
 * ok (default) | fail | hang | duplicate. The arguments it got are written to FAKE_HADOOP_ARGS if set.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const mode = process.env.FAKE_HADOOP ?? 'ok';
if (process.env.FAKE_HADOOP_ARGS) writeFileSync(process.env.FAKE_HADOOP_ARGS, JSON.stringify(args));
const say = (line: string) => process.stderr.write(`${line}\n`);

say('2026-11-27 10:00:00,000 INFO mapreduce.Job: Running job: job_1700000000000_0042');
say('2026-11-27 10:00:00,100 INFO mapreduce.Job:  map 0% reduce 0%');
say('2026-11-27 10:00:01,000 INFO mapreduce.Job:  map 50% reduce 0%');
if (mode === 'hang') setInterval(() => {}, 1000);
else if (mode === 'fail') {
  say('2026-11-27 10:00:02,000 INFO mapreduce.Job: Task Id : attempt_1700000000000_0042_m_000000_0, Status : FAILED');
  say('Error: java.lang.RuntimeException: PipeMapRed.waitOutputThreads(): subprocess failed with code 3');
  say('\tat org.apache.hadoop.streaming.PipeMapRed.waitOutputThreads(PipeMapRed.java:326)');
  say('2026-11-27 10:00:09,000 INFO mapreduce.Job: Job job_1700000000000_0042 failed with state FAILED due to: Task failed task_1700000000000_0042_m_000000');
  say('2026-11-27 10:00:09,001 ERROR streaming.StreamJob: Job not successful!');
  process.stdout.write('Streaming Command Failed!\n');
  process.exit(1);
} else {
  const out = fileURLToPath(args[args.indexOf('-output') + 1]);
  mkdirSync(out, { recursive: true });
  const row = (service: string, bucket: number) => [JSON.stringify(service), bucket, 2, 10, 4, 6, bucket + 1, 20, 9, 11, bucket + 2, 30, 14, 16, bucket + 3].join('\t');
  writeFileSync(`${out}/part-00000`, `${row('a\tb', 0)}\n${row('c', 60_000_000)}\n`);
  writeFileSync(`${out}/part-00001`, mode === 'duplicate' ? `${row('c', 60_000_000)}\n` : '');
  writeFileSync(`${out}/_SUCCESS`, '');
  say('2026-11-27 10:00:02,000 INFO mapreduce.Job:  map 100% reduce 0%');
  say('2026-11-27 10:00:03,000 INFO mapreduce.Job:  map 100% reduce 100%');
  say('2026-11-27 10:00:03,100 INFO mapreduce.Job: Job job_1700000000000_0042 completed successfully');
  say('\t\tMap input records=4');
  say('\t\tmap_records_kept=4');
}
