import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type DuckDBConnection, LIST, listValue, VARCHAR } from '@duckdb/node-api';
import { buildOnce, compileJar, engineJobDir, sha256 } from '../java-build.js';
import { JobLog } from './mapreduce/job-log.js';
import { inputListConf, streamingArgs } from './mapreduce/streaming.js';
import type { Logger } from '../log.js';
import { fetchParts, type MasterFile, type MasterStore, type Scratch } from '../storage/store.js';
import type { BatchEngine } from './engine.js';
import { AGG_COLUMNS } from '../serving/view-sql.js';

/**
 * Batch engine `mapreduce`: the minute views computed by a Hadoop MapReduce job, through Hadoop Streaming
 * with this project's mapper, combiner and reducer (jobs/mapreduce/task, shipped with the job), over the
 * master dataset where it lives (HDFS). The job's output (one `stage_minute` row per line) is loaded into
 * DuckDB; the batch layer then swaps it in with the watermark exactly as for the duckdb engine.
 *
 * The job reads the master files where the store keeps them (`store.uri`) and writes to a fresh directory in
 * the store's `mapreduce` scratch area; that and a local scratch directory (input list, and in local mode
 * Hadoop's staging and task dirs) are deleted whatever happens.
 */

export interface MapReduceBatchEngineOptions {
  /**
   * 'local': Hadoop's LocalJobRunner in a JVM started here (`java -cp <jarsDir>/* HadoopStreaming`), reading
   * and writing the store's file system. Otherwise the command prefix that submits to a real cluster, e.g.
   * `['hadoop', 'jar', '/opt/hadoop/share/hadoop/tools/lib/hadoop-streaming-3.4.2.jar']` (uses the cluster's
   * configuration: YARN, fs.defaultFS).
   */
  submit: 'local' | string[];
  /** Local mode: directory of the Hadoop Streaming jars (jobs/mapreduce/fetch-jars.sh prints it). */
  jarsDir?: string;
  /** @default 'java' */
  javaBin?: string;
  /** Local mode JVM options. @default ['-Xmx1g', '-XX:+UseSerialGC'] */
  jvmOpts?: string[];
  /** The master dataset: where the job reads (`uri`) and writes its output (`scratch('mapreduce')`). */
  store: MasterStore;
  /** Compiled task scripts to ship. @default dist/jobs/mapreduce/task next to this module's build */
  taskDir?: string;
  /** Node on the task nodes (no spaces). @default 'node' */
  nodeBin?: string;
  /** Reduce tasks (output files). @default 1 */
  reduces?: number;
  /** Largest map split; small master files are packed together up to it. @default 64 MiB */
  splitBytes?: number;
  /** Local mode: map tasks at once. @default available cores */
  mapSlots?: number;
  /** In-mapper combining bound (keys per map task); 0 leaves all merging to the combiner. @default 50000 */
  mapKeys?: number;
  /** Old-space limit of each task's Node process (on YARN it shares the container's memory with the task JVM). @default 256 */
  taskHeapMb?: number;
  /** Tests: an input line containing this text fails its map task. */
  failMarker?: string;
  /** More Hadoop properties (`-D`). */
  conf?: Record<string, string>;
  /** Environment of the submitting process (e.g. HADOOP_USER_NAME, HADOOP_CONF_DIR). */
  env?: Record<string, string>;
  /** The job is killed after this long. @default 1 hour */
  timeoutMs?: number;
  /**
   * Cluster mode: how to kill a job on the cluster when the engine gives up on it (timeout, release); the job
   * id is appended, e.g. `['mapred', 'job', '-kill']`. Killing the submitting client alone leaves the job
   * running on YARN. @default none
   */
  killCommand?: string[];
  /** Local scratch directories are made under this. @default os.tmpdir() */
  localTmp?: string;
  log: Logger;
}

/** The compiled task scripts: next to this module's build, or in dist/ when running from the sources. */
export const DEFAULT_TASK_DIR = [new URL('../../jobs/mapreduce/task/', import.meta.url), new URL('../../dist/jobs/mapreduce/task/', import.meta.url)]
  .map((u) => fileURLToPath(u))
  .find((d) => existsSync(join(d, 'mapper.mjs'))) ?? fileURLToPath(new URL('../../jobs/mapreduce/task/', import.meta.url));

const INPUT_FORMAT_CLASS = 'HmsMasterInputFormat';

/** jobs/mapreduce from the source tree or the build output. */
export const mapreduceJobDir = (): string => engineJobDir('mapreduce', `${INPUT_FORMAT_CLASS}.java`);

/** Parquet's reader and its codecs: what a cluster lacks to run the input format. */
const PARQUET_JARS = /^(parquet-|zstd-jni-|aircompressor-|snappy-java-|commons-pool-).*\.jar$/;

/**
 * The input format (jobs/mapreduce/HmsMasterInputFormat.java) compiled against the jars of `jarsDir`, once per
 * source and jar set (kept in the jar cache), and the jars a cluster needs shipped with it.
 */
export async function prepareInputFormat(jarsDir: string | undefined): Promise<{ jar: string; libjars: string[] }> {
  if (!jarsDir) throw new Error('mapreduce engine: jarsDir (--mapreduce-jars) is needed to build the input format (jobs/mapreduce/fetch-jars.sh)');
  const source = join(mapreduceJobDir(), `${INPUT_FORMAT_CLASS}.java`);
  const marker = await readFile(join(jarsDir, '.complete'), 'utf8').catch(() => {
    throw new Error(`mapreduce engine: no Hadoop jars in ${jarsDir} (--mapreduce-jars); run jobs/mapreduce/fetch-jars.sh`);
  });
  const dir = join(jarsDir, `input-format-${sha256(await readFile(source), marker).slice(0, 16)}`);
  const jar = join(dir, 'hms-mr-input.jar');
  if (!existsSync(jar)) await buildOnce(dir, (build) => compileJar(source, `${jarsDir}/*`, join(build, 'classes'), join(build, 'hms-mr-input.jar')));
  const libjars = (await readdir(jarsDir)).filter((f) => PARQUET_JARS.test(f)).map((f) => join(jarsDir, f));
  return { jar, libjars: [jar, ...libjars] };
}

/** Hadoop logs through log4j 1.x (reload4j): progress and failures to stderr, the rest only when it matters. */
const LOG4J = `log4j.rootLogger=WARN,E
log4j.appender.E=org.apache.log4j.ConsoleAppender
log4j.appender.E.target=System.err
log4j.appender.E.layout=org.apache.log4j.PatternLayout
log4j.appender.E.layout.ConversionPattern=%p %c{2}: %m%n
log4j.logger.org.apache.hadoop.mapreduce.Job=INFO
log4j.logger.org.apache.hadoop.streaming.StreamJob=INFO
log4j.logger.org.apache.hadoop.util.NativeCodeLoader=ERROR
log4j.logger.org.apache.hadoop.metrics2=ERROR
`;

/** Record counts through the job's stages (the rest of Hadoop's counters is noise in a log line). */
function recordCounters(all: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of all) if (/ records$/.test(k) || /^(map|combine|reduce)_/.test(k)) out[k] = v;
  return out;
}

export class MapReduceBatchEngine implements BatchEngine {
  readonly name = 'mapreduce';
  private readonly log: Logger;
  private running?: ChildProcess;
  private killRunning?: () => void;
  private released = false;
  private readonly scratchArea: Scratch;
  private inputFormat?: Promise<{ jar: string; libjars: string[] }>;

  constructor(private readonly opts: MapReduceBatchEngineOptions) {
    this.log = opts.log.child({ module: 'batch-mapreduce' });
    if (opts.submit === 'local' && !opts.jarsDir) throw new Error("mapreduce engine: submit 'local' needs jarsDir (the Hadoop Streaming jars)");
    this.scratchArea = opts.store.scratch('mapreduce');
  }

  async computeMinutes(conn: DuckDBConnection, files: MasterFile[], watermark: number, progress?: (mapPct: number, reducePct: number) => void): Promise<void> {
    if (files.length === 0) return;
    const o = this.opts;
    const taskDir = o.taskDir ?? DEFAULT_TASK_DIR;
    if (!existsSync(join(taskDir, 'mapper.mjs'))) throw new Error(`mapreduce engine: no compiled task scripts in ${taskDir} (run npm run build)`);
    const run = `run-${randomUUID()}`;
    // JSON lines alone need no more than Hadoop's own CombineTextInputFormat; compacted partitions need ours.
    const input = files.some((f) => f.format === 'parquet') ? await this.parquetInput() : undefined;
    const scratch = await mkdtemp(join(o.localTmp ?? tmpdir(), 'hms-mr-'));
    try {
      const inputs = files.map((f) => o.store.uri(f));
      const inputListFile = join(scratch, 'inputs.xml');
      await writeFile(inputListFile, inputListConf(inputs));
      const args = streamingArgs({
        inputs,
        output: this.scratchArea.uri(run),
        taskDir,
        nodeBin: o.nodeBin ?? 'node',
        watermark,
        inputListFile,
        reduces: o.reduces ?? 1,
        splitBytes: o.splitBytes ?? 64 << 20,
        mapKeys: o.mapKeys,
        failMarker: o.failMarker,
        taskHeapMb: o.taskHeapMb ?? 256,
        inputFormat: input ? INPUT_FORMAT_CLASS : 'org.apache.hadoop.mapred.lib.CombineTextInputFormat',
        // In local mode the classpath has them (command); a cluster's task JVMs get them shipped.
        libjars: o.submit === 'local' ? undefined : input?.libjars,
        local:
          o.submit === 'local'
            ? { fsUri: o.store.fsUri, scratchDir: join(scratch, 'hadoop'), mapSlots: o.mapSlots ?? availableParallelism() }
            : undefined,
        jobName: `hms-batch-minutes-${new Date(watermark / 1000).toISOString()}`,
        conf: o.conf,
      });
      const t0 = Date.now();
      const job = await this.run(await this.command(args, scratch, input?.jar), progress);
      this.log.info({ job: job.jobId, files: files.length, ms: Date.now() - t0, counters: recordCounters(job.counters) }, 'mapreduce job succeeded');
      await this.load(conn, await this.fetchOutput(run, scratch));
    } finally {
      await this.scratchArea.remove(run).catch((err) => this.log.warn({ err, dir: this.scratchArea.uri(run) }, 'could not delete the run directory'));
      await rm(scratch, { recursive: true, force: true });
    }
  }

  /** The input format for compacted partitions, built once per engine (again after a failed build). */
  private parquetInput(): Promise<{ jar: string; libjars: string[] }> {
    this.inputFormat ??= prepareInputFormat(this.opts.jarsDir).catch((err) => {
      this.inputFormat = undefined;
      throw err;
    });
    return this.inputFormat;
  }

  private async command(args: string[], scratch: string, inputFormatJar: string | undefined): Promise<string[]> {
    const o = this.opts;
    if (o.submit !== 'local') return [...o.submit, ...args];
    const log4j = join(scratch, 'log4j.properties');
    await writeFile(log4j, LOG4J);
    return [
      o.javaBin ?? 'java',
      ...(o.jvmOpts ?? ['-Xmx1g', '-XX:+UseSerialGC']),
      `-Dlog4j.configuration=file:${log4j}`,
      '-cp',
      inputFormatJar ? `${o.jarsDir}/*:${inputFormatJar}` : `${o.jarsDir}/*`,
      'org.apache.hadoop.streaming.HadoopStreaming',
      ...args,
    ];
  }

  /** Runs the submitting process to its end; resolves with what it printed, rejects with Hadoop's error text. */
  private run(cmd: string[], progress?: (mapPct: number, reducePct: number) => void): Promise<JobLog> {
    if (this.released) return Promise.reject(new Error('mapreduce engine released'));
    const o = this.opts;
    const job = new JobLog();
    // Own process group: on timeout or release the whole job goes, the task processes with the JVM.
    const proc = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...o.env }, detached: true });
    this.running = proc;
    const onLine = (line: string) => {
      const p = job.line(line);
      if (p) {
        this.log.debug({ job: job.jobId, ...p }, 'mapreduce progress');
        progress?.(p.map, p.reduce);
      }
    };
    createInterface({ input: proc.stdout! }).on('line', onLine);
    const stderr = createInterface({ input: proc.stderr! });
    stderr.on('line', onLine);
    const stderrDone = new Promise((resolve) => stderr.once('close', resolve));
    const kill = () => {
      if (proc.pid !== undefined && proc.exitCode === null) {
        try {
          process.kill(-proc.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      if (o.submit !== 'local' && o.killCommand?.length && job.jobId) this.killOnCluster(o.killCommand, job.jobId);
    };
    this.killRunning = kill;
    process.once('exit', kill);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, o.timeoutMs ?? 3_600_000);
    const finished = () => {
      clearTimeout(timer);
      process.removeListener('exit', kill);
      this.running = undefined;
      this.killRunning = undefined;
    };
    return new Promise<JobLog>((resolve, reject) => {
      proc.once('error', (err) => {
        finished();
        reject(new Error(`mapreduce engine: cannot run ${cmd[0]}: ${err.message}`));
      });
      proc.once('close', async (code, signal) => {
        finished();
        await stderrDone;
        if (code === 0) return resolve(job);
        const why = timedOut ? `killed after ${o.timeoutMs ?? 3_600_000} ms` : this.released ? 'killed: engine released' : code !== null ? `exit code ${code}` : `signal ${signal}`;
        reject(new Error(job.errorText(why)));
      });
    });
  }

  /** The job's non-empty output files as local paths for DuckDB, copied to local scratch when remote. */
  private async fetchOutput(run: string, scratch: string): Promise<string[]> {
    return fetchParts(this.scratchArea, run, (f) => f.name.startsWith('part-') && f.bytes > 0, scratch);
  }

  /** Loads the reducer's rows (see jobs/mapreduce/task/aggregate.mts) into `stage_minute`. */
  private async load(conn: DuckDBConnection, files: string[]): Promise<void> {
    if (files.length === 0) return;
    const columns = ["'service_json': 'VARCHAR'", "'bucket': 'BIGINT'", ...AGG_COLUMNS.map((c) => `'${c}': 'BIGINT'`)].join(', ');
    // quote/escape off: the only text field is a JSON string literal, decoded by json_extract_string.
    await conn.run(
      `INSERT INTO stage_minute
       SELECT json_extract_string(service_json, '$'), bucket, ${AGG_COLUMNS.join(', ')}
       FROM read_csv($files, delim = '\t', header = false, quote = '', escape = '', auto_detect = false, columns = {${columns}})`,
      { files: listValue(files) },
      { files: LIST(VARCHAR) },
    );
    // One row per (service, minute) is the contract; a misconfigured job (key fields) would break it silently.
    const dup = (await conn.runAndReadAll('SELECT service, bucket FROM stage_minute GROUP BY ALL HAVING count(*) > 1 LIMIT 1')).getRows();
    if (dup.length > 0) throw new Error(`mapreduce job output has more than one row for service ${JSON.stringify(dup[0][0])} minute ${dup[0][1]}`);
  }

  private killOnCluster(cmd: string[], jobId: string): void {
    this.log.warn({ job: jobId, cmd: [...cmd, jobId] }, 'killing the mapreduce job on the cluster');
    const p = spawn(cmd[0], [...cmd.slice(1), jobId], { stdio: 'ignore', env: { ...process.env, ...this.opts.env } });
    p.on('error', (err) => this.log.error({ err, job: jobId }, 'could not kill the mapreduce job on the cluster'));
  }

  /** Kills a job in progress (shutdown). */
  async release(): Promise<void> {
    this.released = true;
    const proc = this.running;
    if (!proc || proc.exitCode !== null) return;
    const closed = new Promise((resolve) => proc.once('close', resolve));
    this.killRunning?.();
    await closed;
  }
}
