import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { buildOnce, compileJar, engineJobDir, run, sha256 } from '../java-build.js';
import type { Logger } from '../log.js';
import { Mutex } from '../serving/database.js';

/**
 * The Spark runtime and the long-lived driver process. The runtime is the cached Spark jars plus the driver
 * (jobs/spark/HmsSparkDriver.java) compiled against them; the driver is launched once through SparkSubmit and
 * takes one job at a time on stdin, answering on stdout, so a job pays neither JVM nor Spark start-up.
 */

// ---------------------------------------------------------------------------------------------------------
// Runtime: the jar cache, the compiled driver and the JVM flags Spark needs.

export interface SparkRuntime {
  /** Directory of the Spark jars (`<jars>/*` is the classpath). */
  jars: string;
  /** The driver, compiled against those jars. */
  driverJar: string;
  /** Spark's own `--add-opens` list (JavaModuleOptions), read from the jars so it matches their version. */
  moduleOptions: string[];
  /** jobs/spark, for log4j2.properties. */
  jobDir: string;
}

const DRIVER_CLASS = 'HmsSparkDriver';

/** jobs/spark from the source tree or the build output. */
export const sparkJobDir = (): string => engineJobDir('spark', `${DRIVER_CLASS}.java`);

async function tool(name: string): Promise<void> {
  try {
    await run(name, name === 'jar' ? ['--version'] : ['-version']);
  } catch {
    throw new Error(`Spark engine: ${name} not found on PATH (a JDK 17 is needed)`);
  }
}

/**
 * Makes sure the jars of jobs/spark/pom.xml are cached in `jars` (running fetch-jars.sh, which needs mvn,
 * when `fetch` is set) and the driver is compiled against them; throws with the reason when it cannot.
 * The compiled driver lives in the cache, keyed by its source and the pom, and is built once.
 */
export async function prepareSparkRuntime(opts: { jars: string; fetch?: boolean }): Promise<SparkRuntime> {
  for (const t of ['java', 'javac', 'jar']) await tool(t);
  const jobDir = sparkJobDir();
  const { jars } = opts;
  const pom = await readFile(join(jobDir, 'pom.xml'));
  const marker = join(jars, '.complete');
  const complete = async () => (await readFile(marker, 'utf8').catch(() => '')).trim() === sha256(pom);
  if (!(await complete())) {
    if (!opts.fetch) throw new Error(`Spark engine: the Spark jars are not in ${jars} (--spark-jars); run jobs/spark/fetch-jars.sh`);
    try {
      await run('mvn', ['-v']);
    } catch {
      throw new Error(`Spark engine: the Spark jars are not in ${jars} and mvn is not on PATH to fetch them`);
    }
    try {
      await run('bash', [join(jobDir, 'fetch-jars.sh')], { maxBuffer: 16 << 20, env: { ...process.env, HMS_SPARK_JARS: jars } });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`Spark engine: jobs/spark/fetch-jars.sh failed: ${(e.stderr || e.message).slice(-2000)}`);
    }
    if (!(await complete())) throw new Error(`Spark engine: fetch-jars.sh ran but ${marker} does not match the pom`);
  }
  const source = await readFile(join(jobDir, `${DRIVER_CLASS}.java`));
  const dir = join(jars, `driver-${sha256(source, pom).slice(0, 16)}`);
  const driverJar = join(dir, 'hms-spark-driver.jar');
  const optionsFile = join(dir, 'module-options.txt');
  if (!existsSync(optionsFile)) await buildDriver(jobDir, jars, dir);
  const moduleOptions = (await readFile(optionsFile, 'utf8')).trim().split(/\s+/).filter(Boolean);
  return { jars, driverJar, moduleOptions, jobDir };
}

/** The driver compiled, and Spark's module options read from the jars it was compiled against. */
async function buildDriver(jobDir: string, jars: string, dir: string): Promise<void> {
  await buildOnce(dir, async (build) => {
    const classes = join(build, 'classes');
    await compileJar(join(jobDir, `${DRIVER_CLASS}.java`), `${jars}/*`, classes, join(build, 'hms-spark-driver.jar'));
    const { stdout } = await run('java', ['-cp', `${classes}:${jars}/*`, DRIVER_CLASS, '--module-options']);
    await writeFile(join(build, 'module-options.txt'), stdout);
  });
}

// ---------------------------------------------------------------------------------------------------------
// The driver process: one job at a time over stdin/stdout.

export interface SparkDriverOptions {
  runtime: SparkRuntime;
  /** `local[2]`, `yarn`, `spark://host:7077`... */
  master: string;
  /** Extra `--conf` settings; they win over the defaults below. */
  conf?: Record<string, string>;
  /** Heap of the driver JVM (client mode: the JVM running SparkSubmit is the driver). @default '1g' */
  heap?: string;
  /** @default 180000 */
  startTimeoutMs?: number;
  /** A job running longer is abandoned and the driver restarted. @default 300000 */
  jobTimeoutMs?: number;
  /** The driver's log (its stderr) is appended here too; a tail is always kept for error messages. */
  logFile?: string;
  log?: Logger;
}

export interface SparkJob {
  inputs: string[];
  schema: string;
  view: string;
  fileColumn: string;
  sql: string;
  output: string;
}

export interface SparkJobResult {
  rows: number;
  /** Time the driver spent on the job. */
  ms: number;
}

type Answer = Record<string, unknown>;

export const isLocal = (master: string) => master.startsWith('local');

export class SparkDriver {
  /** Spawn to ready of the last start, in ms. */
  lastStartMs: number | null = null;
  starts = 0;
  private proc?: ChildProcess;
  private starting?: Promise<ChildProcess>;
  private waiting?: (msg: Answer) => void;
  private stderrTail = '';
  private jobNo = 0;
  private logStream?: WriteStream;
  private readonly lock = new Mutex();
  private readonly killOnExit = () => this.proc?.kill('SIGKILL');

  constructor(readonly options: SparkDriverOptions) {}

  get master(): string {
    return this.options.master;
  }

  get running(): boolean {
    return this.proc !== undefined;
  }

  /** A job is in flight. */
  get busy(): boolean {
    return this.proc !== undefined && this.waiting !== undefined;
  }

  /** Starts the driver if it is not running; a driver that died is started again by the next job. */
  start(): Promise<ChildProcess> {
    if (this.proc) return Promise.resolve(this.proc);
    this.starting ??= this.spawnDriver().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private args(): string[] {
    const { runtime, master } = this.options;
    const conf: Record<string, string> = {
      'spark.ui.enabled': 'false',
      // A tick's data is small: Spark's default of 200 shuffle partitions costs seconds of empty tasks.
      'spark.sql.shuffle.partitions': '2',
      // The driver and, in local mode, the executor stay on loopback.
      ...(isLocal(master) ? { 'spark.driver.host': '127.0.0.1', 'spark.driver.bindAddress': '127.0.0.1' } : {}),
      // Without SPARK_HOME, YARN containers get Spark's jars from the daemon's cache (uploaded once per start).
      ...(master === 'yarn' ? { 'spark.yarn.jars': `${runtime.jars}/*.jar` } : {}),
      ...this.options.conf,
    };
    return [
      ...runtime.moduleOptions,
      `-Xmx${this.options.heap ?? '1g'}`,
      `-Dlog4j.configurationFile=${pathToFileURL(join(runtime.jobDir, 'log4j2.properties')).href}`,
      '-cp',
      `${runtime.jars}/*`,
      'org.apache.spark.deploy.SparkSubmit',
      '--master',
      master,
      '--name',
      'hms-speed-layer',
      ...Object.entries(conf).flatMap(([k, v]) => ['--conf', `${k}=${v}`]),
      '--class',
      DRIVER_CLASS,
      runtime.driverJar,
    ];
  }

  private async spawnDriver(): Promise<ChildProcess> {
    const t0 = Date.now();
    if (this.options.logFile && !this.logStream) {
      await mkdir(dirname(this.options.logFile), { recursive: true });
      this.logStream = createWriteStream(this.options.logFile, { flags: 'a' });
    }
    const env = { ...process.env, ...(isLocal(this.master) ? { SPARK_LOCAL_IP: '127.0.0.1' } : {}) };
    const proc = spawn('java', this.args(), { stdio: ['pipe', 'pipe', 'pipe'], env });
    process.once('exit', this.killOnExit);
    // Writing a job to a driver that just died fails with EPIPE; the exit handler below reports it.
    proc.stdin!.on('error', () => undefined);
    proc.stderr!.on('data', (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString()).slice(-16_000);
      this.logStream?.write(d);
    });
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      if (!line.startsWith('@@hms ')) return;
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting?.(JSON.parse(line.slice(6)) as Answer);
    });
    proc.once('exit', (code, signal) => {
      process.removeListener('exit', this.killOnExit);
      if (this.proc === proc) this.proc = undefined;
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting?.({ ok: false, exited: true, error: `the Spark driver exited (${signal ?? code})\n${this.stderrTail.slice(-3000)}` });
    });
    proc.once('error', (err) => {
      this.waiting?.({ ok: false, exited: true, error: `cannot start java: ${err.message}` });
      this.waiting = undefined;
    });
    const ready = await this.answer(proc, this.options.startTimeoutMs ?? 180_000, 'start');
    if (ready.event !== 'ready') {
      proc.kill('SIGKILL');
      throw new Error(`Spark driver did not start: ${String(ready.error ?? JSON.stringify(ready))}`);
    }
    this.proc = proc;
    this.starts++;
    this.lastStartMs = Date.now() - t0;
    this.options.log?.info({ master: this.master, version: ready.version, ms: this.lastStartMs }, 'Spark driver ready');
    return proc;
  }

  /** The next answer line, or a failure when the process exits or the timeout passes (the process is then killed). */
  private answer(proc: ChildProcess, timeoutMs: number, what: string): Promise<Answer> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        proc.kill('SIGKILL');
        resolve({ ok: false, error: `Spark driver: no answer to ${what} within ${timeoutMs} ms; driver killed\n${this.stderrTail.slice(-3000)}` });
      }, timeoutMs);
      this.waiting = (msg) => {
        clearTimeout(timer);
        resolve(msg);
      };
    });
  }

  /** Runs one job; rejects with Spark's error text. Jobs are serialised: the driver runs one at a time. */
  run(job: SparkJob): Promise<SparkJobResult> {
    return this.lock.run(async () => {
      const proc = await this.start();
      const id = ++this.jobNo;
      const reply = this.answer(proc, this.options.jobTimeoutMs ?? 300_000, `job ${id}`);
      proc.stdin!.write(`${JSON.stringify({ id, ...job })}\n`);
      const msg = await reply;
      if (msg.ok !== true) throw new Error(`Spark job failed: ${String(msg.error)}`);
      return { rows: Number(msg.rows), ms: Number(msg.ms) };
    });
  }

  /** Closes stdin (the driver stops Spark and exits), killing it if it takes too long. */
  async stop(): Promise<void> {
    await this.starting?.catch(() => undefined);
    const proc = this.proc;
    if (proc && proc.exitCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.stdin!.end();
      const t = setTimeout(() => proc.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(t);
    }
    this.logStream?.end();
    this.logStream = undefined;
  }

  /** Kills the driver at once (tests of a driver crash). */
  kill(): void {
    this.proc?.kill('SIGKILL');
  }
}
