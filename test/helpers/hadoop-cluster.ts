/**
 * A real HDFS for the tests: MiniDFSCluster (one namenode, N datanodes, WebHDFS on) from the Maven Central jars
 * that test/hadoop/fetch-jars.sh caches outside the repository, run with plain `java -cp <cache>/*`.
 *
 * MiniDFSClusterManager cannot stop and restart single nodes, so a tiny launcher (below) is compiled once per
 * source change and drives MiniDFSCluster from one-line commands on its stdin. It shuts the cluster down when
 * stdin closes, so a test process that dies does not leave a JVM behind.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import type { TestFn } from 'ava';

const run = promisify(execFile);
const FETCH_JARS = join(import.meta.dirname, '..', 'hadoop', 'fetch-jars.sh');
const POM = join(import.meta.dirname, '..', 'hadoop', 'pom.xml');
const JVM_OPTS = ['-Xmx512m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Djava.net.preferIPv4Stack=true'];

/** The test harness's Hadoop jars (MiniDFSCluster, YARN mini cluster): test/hadoop/fetch-jars.sh, HMS_HADOOP_JARS. */
export const jarCache = (): string => process.env.HMS_HADOOP_JARS ?? join(homedir(), '.cache', 'hms', 'hadoop-jars');

const LAUNCHER = `
import java.io.*;
import java.nio.charset.StandardCharsets;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.MiniDFSCluster;

/** A MiniDFSCluster driven by one-line commands on stdin; answers are "@@hms <json>" lines on stdout. */
public class HmsMiniHdfs {
  private static PrintStream out;

  private static String q(String s) {
    StringBuilder b = new StringBuilder("\\"");
    for (char c : String.valueOf(s).toCharArray()) {
      if (c == '"' || c == '\\\\') b.append('\\\\').append(c);
      else if (c < 0x20) b.append(String.format("\\\\u%04x", (int) c));
      else b.append(c);
    }
    return b.append('"').toString();
  }

  private static void say(String json) {
    out.println("@@hms " + json);
    out.flush();
  }

  public static void main(String[] args) throws Exception {
    out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8");
    int n = Integer.parseInt(args[3]);
    Configuration conf = new Configuration();
    for (int i = 4; i < args.length; i++) {
      int eq = args[i].indexOf('=');
      conf.set(args[i].substring(0, eq), args[i].substring(eq + 1));
    }
    conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, args[0]);
    long t0 = System.nanoTime();
    // checkDataNodeHostConfig: keep dfs.datanode.hostname (MiniDFSCluster would force 127.0.0.1).
    MiniDFSCluster c = new MiniDFSCluster.Builder(conf)
        .nameNodePort(Integer.parseInt(args[1])).nameNodeHttpPort(Integer.parseInt(args[2])).numDataNodes(n)
        .format(true).checkDataNodeHostConfig(true).build();
    c.waitActive();
    String[] xfer = new String[n];
    MiniDFSCluster.DataNodeProperties[] stopped = new MiniDFSCluster.DataNodeProperties[n];
    StringBuilder dns = new StringBuilder("[");
    for (int i = 0; i < n; i++) {
      xfer[i] = c.getDataNodes().get(i).getDatanodeId().getXferAddr();
      dns.append(i > 0 ? "," : "").append(q(xfer[i]));
    }
    say("{\\"event\\":\\"ready\\",\\"ms\\":" + (System.nanoTime() - t0) / 1000000 + ",\\"datanodes\\":" + dns + "]}");

    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      String[] w = line.trim().split("\\\\s+");
      String cmd = w[0];
      if (cmd.equals("shutdown")) break;
      try {
        if (cmd.equals("stopNamenode")) c.shutdownNameNode(0);
        else if (cmd.equals("restartNamenode")) c.restartNameNode(0, true);
        else if (cmd.equals("stopDatanode")) {
          int i = Integer.parseInt(w[1]);
          // stopDataNode takes the node out of the cluster's list: keep its properties to restart it.
          if (stopped[i] == null) stopped[i] = c.stopDataNode(xfer[i]);
        } else if (cmd.equals("startDatanode")) {
          int i = Integer.parseInt(w[1]);
          if (stopped[i] != null) {
            c.restartDataNode(stopped[i], true);
            stopped[i] = null;
            c.waitActive();
          }
        } else throw new IllegalArgumentException("unknown command: " + line);
        say("{\\"ok\\":true,\\"cmd\\":" + q(cmd) + "}");
      } catch (Throwable e) {
        say("{\\"ok\\":false,\\"cmd\\":" + q(cmd) + ",\\"error\\":" + q(e.toString()) + "}");
      }
    }
    c.shutdown(true);
    say("{\\"event\\":\\"stopped\\"}");
    System.exit(0);
  }
}
`;

export type HadoopAvailability = { ok: true; jars: string } | { ok: false; why: string };

let availability: Promise<HadoopAvailability> | undefined;

/** Java and the cached jars (fetched with Maven when missing); the answer says why not. Asked once per process. */
export function hadoopAvailable(): Promise<HadoopAvailability> {
  availability ??= checkAvailable();
  return availability;
}

async function checkAvailable(): Promise<HadoopAvailability> {
  for (const tool of ['java', 'javac']) {
    try {
      await run(tool, ['-version']);
    } catch {
      return { ok: false, why: `${tool} not found on PATH (a JDK 17 is needed)` };
    }
  }
  const jars = jarCache();
  const marker = join(jars, '.complete');
  const want = createHash('sha256').update(await readFile(POM)).digest('hex');
  const complete = async () => existsSync(marker) && (await readFile(marker, 'utf8')).trim() === want;
  if (!(await complete())) {
    try {
      await run('mvn', ['-v']);
    } catch {
      return { ok: false, why: `the Hadoop jars are not in ${jars} and mvn is not on PATH to fetch them` };
    }
    try {
      await run('bash', [FETCH_JARS], { maxBuffer: 16 << 20 });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      return { ok: false, why: `test/hadoop/fetch-jars.sh failed: ${(e.stderr || e.message).slice(-2000)}` };
    }
    if (!(await complete())) return { ok: false, why: `test/hadoop/fetch-jars.sh ran but ${marker} does not match the pom` };
  }
  return { ok: true, jars };
}

/**
 * Registers the one test that stands for a suite that cannot run: it fails in CI (where Hadoop is required)
 * and elsewhere passes with the reason in the log, so a skip is never silent. (`test` is passed in because
 * importing ava outside a test file throws, and the bench uses this module too.)
 */
export function registerUnavailable(test: TestFn, suite: string, why: string): void {
  test(`${suite}: needs Hadoop`, (t) => {
    if (process.env.CI) t.fail(`Hadoop required in CI: ${why}`);
    else {
      t.log(`${suite} skipped: ${why}`);
      t.pass();
    }
  });
}

/** Compiles the launcher once per source and jar set, into a shared temp dir (atomically, for parallel workers). */
async function launcherClasses(jars: string): Promise<string> {
  const pomHash = await readFile(join(jars, '.complete'), 'utf8');
  const hash = createHash('sha256').update(LAUNCHER).update(jars).update(pomHash).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), `hms-hadoop-launcher-${hash}`);
  if (existsSync(join(dir, 'HmsMiniHdfs.class'))) return dir;
  const build = await mkdtemp(join(tmpdir(), 'hms-launcher-build-'));
  await writeFile(join(build, 'HmsMiniHdfs.java'), LAUNCHER);
  await run('javac', ['-nowarn', '-cp', `${jars}/*`, '-d', join(build, 'out'), join(build, 'HmsMiniHdfs.java')]);
  await rename(join(build, 'out'), dir).catch(() => undefined); // another worker won the race: same classes
  await rm(build, { recursive: true, force: true });
  return dir;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Daemon flags for the master dataset on `hdfs` under `root`; batch runs on demand, W = the seal minute. */
export const daemonOnHdfs = (hdfs: HdfsCluster, root: string): string[] => [
  '--storage',
  'hdfs',
  '--hdfs-url',
  hdfs.namenodeHttp,
  '--hdfs-fs-uri',
  hdfs.fsUri,
  '--hdfs-user',
  'hms',
  '--hdfs-root',
  root,
  '--batch-schedule',
  'off',
  '--allowed-lateness',
  '0s',
];

export interface HdfsCluster {
  /** WebHDFS base, `http://127.0.0.1:PORT`. */
  namenodeHttp: string;
  /** `hdfs://127.0.0.1:PORT`, for Hadoop's own clients. */
  fsUri: string;
  /** Datanode transfer addresses (`ip:port`), by index. */
  datanodes: string[];
  /** Milliseconds from spawning the JVM until a WebHDFS CREATE succeeded. */
  startMs: number;
  baseDir: string;
  stopNamenode(): Promise<void>;
  /** Restarts the namenode on the same ports and waits until it accepts writes again. */
  restartNamenode(): Promise<void>;
  stopDatanode(i: number): Promise<void>;
  startDatanode(i: number): Promise<void>;
  /** `org.apache.hadoop.fs.FsShell` (hadoop fs) from the same jars against `fsUri`. */
  hadoopFs(args: string[]): Promise<{ stdout: Buffer; stderr: string; code: number | null }>;
  /** The tail of the cluster's log, for failure messages. */
  logTail(): Promise<string>;
  stop(): Promise<void>;
}

export interface StartHdfsOptions {
  /** @default 1 */
  datanodes?: number;
  /** Extra Hadoop configuration, e.g. `{'dfs.ls.limit': '5'}`. */
  conf?: Record<string, string>;
  /** @default 120000 */
  timeoutMs?: number;
}

/** Hadoop logs to a file: its stdout carries the launcher's answers and FsShell's data. */
const log4j = (file: string, level: string) =>
  [
    `log4j.rootLogger=${level},F`,
    'log4j.appender.F=org.apache.log4j.FileAppender',
    `log4j.appender.F.File=${file}`,
    'log4j.appender.F.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.F.layout.ConversionPattern=%d{ISO8601} %p %c{2}: %m%n',
    '',
  ].join('\n');

/** Starts a real HDFS on free ports with its data in a temp dir; resolves when a WebHDFS CREATE succeeds. */
export async function startHdfs(opts: StartHdfsOptions = {}): Promise<HdfsCluster> {
  const avail = await hadoopAvailable();
  if (!avail.ok) throw new Error(`Hadoop unavailable: ${avail.why}`);
  const t0 = Date.now();
  const classes = await launcherClasses(avail.jars);
  const baseDir = await mkdtemp(join(tmpdir(), 'hms-hdfs-'));
  const logFile = join(baseDir, 'hadoop.log');
  const log4jFile = join(baseDir, 'log4j.properties');
  await writeFile(log4jFile, log4j(logFile, process.env.HMS_HADOOP_LOG_LEVEL ?? 'WARN'));
  const shellConf = join(baseDir, 'fsshell-conf');
  const [rpcPort, httpPort] = [await freePort(), await freePort()];
  const n = opts.datanodes ?? 1;
  const conf: Record<string, string> = {
    'dfs.permissions.enabled': 'false',
    'dfs.webhdfs.enabled': 'true',
    'dfs.datanode.hostname': 'localhost',
    'dfs.replication': String(Math.min(n, 3)),
    // A restarted namenode leaves safe mode as soon as the block reports are in.
    'dfs.namenode.safemode.extension': '0',
    'dfs.blockreport.initialDelay': '0',
    'dfs.heartbeat.interval': '1',
    ...opts.conf,
  };
  const args = [
    ...JVM_OPTS,
    `-Dlog4j.configuration=file:${log4jFile}`,
    '-cp',
    `${classes}:${avail.jars}/*`,
    'HmsMiniHdfs',
    join(baseDir, 'dfs'),
    String(rpcPort),
    String(httpPort),
    String(n),
    ...Object.entries(conf).map(([k, v]) => `${k}=${v}`),
  ];
  const proc = spawn('java', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const killOnExit = () => proc.kill('SIGKILL');
  process.once('exit', killOnExit);
  let stderr = '';
  proc.stderr!.on('data', (d) => {
    stderr = (stderr + d).slice(-8000);
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const replies: ((msg: Record<string, unknown>) => void)[] = [];
  let ready: (msg: Record<string, unknown>) => void = () => {};
  const readyMsg = new Promise<Record<string, unknown>>((resolve) => {
    ready = resolve;
  });
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    if (!line.startsWith('@@hms ')) return;
    const msg = JSON.parse(line.slice(6)) as Record<string, unknown>;
    if (msg.event === 'ready') ready(msg);
    else if ('cmd' in msg) replies.shift()?.(msg);
  });

  const logTail = async () => `${(await readFile(logFile, 'utf8').catch(() => '')).slice(-4000)}\n${stderr.slice(-2000)}`;
  const fail = async (what: string) => {
    proc.kill('SIGKILL');
    await exited;
    process.removeListener('exit', killOnExit);
    const error = new Error(`${what}\n${await logTail()}`);
    await rm(baseDir, { recursive: true, force: true });
    return error;
  };
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const started = await Promise.race([
    readyMsg,
    exited.then((code) => code),
    new Promise<'timeout'>((r) => setTimeout(r, timeoutMs, 'timeout').unref()),
  ]);
  if (started === 'timeout') throw await fail(`HDFS did not start in ${timeoutMs} ms`);
  if (typeof started !== 'object' || started === null) throw await fail(`the HDFS JVM exited with ${started} before it was ready`);

  const namenodeHttp = `http://127.0.0.1:${httpPort}`;
  const fsUri = `hdfs://127.0.0.1:${rpcPort}`;
  // FsShell insists on a core-site.xml on its classpath; it also names the cluster.
  await mkdir(shellConf);
  await writeFile(join(shellConf, 'log4j.properties'), log4j(join(baseDir, 'fsshell.log'), 'WARN'));
  await writeFile(
    join(shellConf, 'core-site.xml'),
    `<?xml version="1.0"?>\n<configuration><property><name>fs.defaultFS</name><value>${fsUri}</value></property></configuration>\n`,
  );
  try {
    await waitWritable(namenodeHttp, timeoutMs);
  } catch (err) {
    throw await fail((err as Error).message);
  }
  const startMs = Date.now() - t0;

  // Commands run one at a time: MiniDFSCluster's methods are synchronized anyway and replies come in order.
  let queue: Promise<unknown> = Promise.resolve();
  const command = (cmd: string): Promise<void> => {
    const next = queue.then(
      () =>
        new Promise<void>((resolve, reject) => {
          if (proc.exitCode !== null) return reject(new Error(`HDFS JVM is gone; cannot ${cmd}`));
          replies.push((msg) => (msg.ok ? resolve() : reject(new Error(`${cmd}: ${msg.error}`))));
          proc.stdin!.write(`${cmd}\n`);
        }),
    );
    queue = next.catch(() => undefined);
    return next;
  };

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      if (proc.exitCode === null) {
        proc.stdin!.end('shutdown\n');
        const t = setTimeout(() => proc.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(t);
      }
      process.removeListener('exit', killOnExit);
      await rm(baseDir, { recursive: true, force: true });
    })();
    return stopping;
  };

  return {
    namenodeHttp,
    fsUri,
    datanodes: started.datanodes as string[],
    startMs,
    baseDir,
    stopNamenode: () => command('stopNamenode'),
    restartNamenode: async () => {
      await command('restartNamenode');
      await waitWritable(namenodeHttp, timeoutMs);
    },
    stopDatanode: (i) => command(`stopDatanode ${i}`),
    startDatanode: (i) => command(`startDatanode ${i}`),
    hadoopFs: (fsArgs) => fsShell(avail.jars, shellConf, fsArgs),
    logTail,
    stop,
  };
}

/** Until a two-step WebHDFS CREATE (namenode, then datanode) succeeds: "up" is "accepts writes". */
async function waitWritable(namenodeHttp: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const url = `${namenodeHttp}/webhdfs/v1/tmp/.hms-probe?op=CREATE&overwrite=true&user.name=hms`;
      const nn = await fetch(url, { method: 'PUT', redirect: 'manual', signal: AbortSignal.timeout(5000) });
      await nn.body?.cancel();
      const location = nn.headers.get('location');
      if (nn.status === 307 && location) {
        const dn = await putBytes(location, Buffer.from('ok'));
        last = `datanode answered ${dn.status}: ${dn.body.slice(0, 300)}`;
        if (dn.status === 201) return;
      } else last = `namenode answered ${nn.status}`;
    } catch (err) {
      last = String((err as Error & { cause?: Error }).cause ?? err);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`HDFS did not accept a WebHDFS write within ${timeoutMs} ms (last: ${last})`);
}

/** node:http, not fetch: the datanode sends an unsolicited `100 Continue` that fetch rejects (see webhdfs.ts). */
function putBytes(url: string, data: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'PUT', signal: AbortSignal.timeout(10_000) }, (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

function fsShell(jars: string, confDir: string, args: string[]) {
  return new Promise<{ stdout: Buffer; stderr: string; code: number | null }>((resolve, reject) => {
    const p: ChildProcess = spawn(
      'java',
      [
        '-Xmx256m',
        '-XX:+UseSerialGC',
        '-XX:TieredStopAtLevel=1',
        `-Dlog4j.configuration=file:${join(confDir, 'log4j.properties')}`,
        '-cp',
        `${confDir}:${jars}/*`,
        'org.apache.hadoop.fs.FsShell',
        ...args,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const out: Buffer[] = [];
    let stderr = '';
    p.stdout!.on('data', (d: Buffer) => out.push(d));
    p.stderr!.on('data', (d) => {
      stderr += d;
    });
    p.on('error', reject);
    p.on('close', (code) => resolve({ stdout: Buffer.concat(out), stderr, code }));
  });
}
