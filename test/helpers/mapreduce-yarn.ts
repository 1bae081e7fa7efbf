/**
 * A real Hadoop cluster with YARN for the MapReduce tests: HDFS (MiniDFSCluster) and YARN with the MapReduce
 * framework (MiniMRYarnCluster: ResourceManager, NodeManager, JobHistoryServer), both started by Hadoop's
 * own `MiniHadoopClusterManager` from the jars that test/hadoop/fetch-jars.sh caches for the HDFS harness.
 * Jobs are submitted as on an edge node: `java -cp <conf dir>:<jars> HadoopStreaming ...` (what
 * `hadoop jar hadoop-streaming.jar` runs), with the cluster's configuration files in <conf dir>.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './hadoop-cluster.js';

export interface YarnCluster {
  fsUri: string;
  /** WebHDFS base URL. */
  namenodeHttp: string;
  /** Directory with core-site.xml, hdfs-site.xml, yarn-site.xml, mapred-site.xml (the client's HADOOP_CONF_DIR). */
  confDir: string;
  /** log4j configuration for clients: progress and errors on stderr, as `hadoop jar` prints them. */
  clientLog4j: string;
  startMs: number;
  logTail(): Promise<string>;
  stop(): Promise<void>;
}

// MiniYARNCluster on JDK 17 reflects into java.base.
const OPENS = ['java.lang', 'java.util', 'java.lang.reflect', 'java.net', 'java.io', 'sun.nio.ch'].flatMap((p) => ['--add-opens', `java.base/${p}=ALL-UNNAMED`]);

const LOG4J = (target: string) => `log4j.rootLogger=WARN,E
log4j.appender.E=${target === 'console' ? 'org.apache.log4j.ConsoleAppender' : 'org.apache.log4j.FileAppender'}
${target === 'console' ? 'log4j.appender.E.target=System.err' : `log4j.appender.E.File=${target}`}
log4j.appender.E.layout=org.apache.log4j.PatternLayout
log4j.appender.E.layout.ConversionPattern=%d{ISO8601} %p %c{2}: %m%n
log4j.logger.org.apache.hadoop.mapreduce.Job=INFO
log4j.logger.org.apache.hadoop.util.NativeCodeLoader=ERROR
`;

/** Starts HDFS + YARN on free ports with everything in a temp dir; resolves when a WebHDFS MKDIRS succeeds. */
export async function startYarn(hadoopJars: string, timeoutMs = 120_000): Promise<YarnCluster> {
  const t0 = Date.now();
  const dir = await mkdtemp(join(tmpdir(), 'hms-yarn-'));
  const confDir = join(dir, 'etc');
  await mkdir(confDir);
  const clusterLog4j = join(dir, 'log4j-cluster.properties');
  const clientLog4j = join(dir, 'log4j-client.properties');
  const logFile = join(dir, 'cluster.log');
  await writeFile(clusterLog4j, LOG4J(logFile));
  await writeFile(clientLog4j, LOG4J('console'));
  const [nn, nnHttp, rmPort, jhs, ...more] = await Promise.all(Array.from({ length: 10 }, () => freePort()));
  const conf: Record<string, string> = {
    'hdfs.minidfs.basedir': join(dir, 'dfs'),
    'dfs.permissions.enabled': 'false',
    'dfs.replication': '1',
    // The defaults are fixed ports (8030, 8088, 19888...): free ones so a second cluster or a service on the
    // machine does not collide.
    'yarn.resourcemanager.scheduler.address': `localhost:${more[0]}`,
    'yarn.resourcemanager.resource-tracker.address': `localhost:${more[1]}`,
    'yarn.resourcemanager.admin.address': `localhost:${more[2]}`,
    'yarn.resourcemanager.webapp.address': `localhost:${more[3]}`,
    'mapreduce.jobhistory.admin.address': `localhost:${more[4]}`,
    'mapreduce.jobhistory.webapp.address': `localhost:${more[5]}`,
    // A small test machine: no virtual-memory kills, no "disk full" at 90 %.
    'yarn.nodemanager.vmem-check-enabled': 'false',
    'yarn.nodemanager.disk-health-checker.max-disk-utilization-per-disk-percentage': '99.9',
  };
  const written = join(dir, 'cluster-conf.xml');
  const details = join(dir, 'details.json');
  const args = [
    '-Xmx1g',
    ...OPENS,
    `-Dlog4j.configuration=file:${clusterLog4j}`,
    '-cp',
    `${hadoopJars}/*`,
    'org.apache.hadoop.mapreduce.MiniHadoopClusterManager',
    '-format',
    '-nnport',
    String(nn),
    '-nnhttpport',
    String(nnHttp),
    '-rmport',
    String(rmPort),
    '-jhsport',
    String(jhs),
    '-writeConfig',
    written,
    '-writeDetails',
    details,
    ...Object.entries(conf).flatMap(([k, v]) => ['-D', `${k}=${v}`]),
  ];
  // Own process group and working dir: MiniYARNCluster keeps its dirs under ./target, and the task
  // processes it starts go with it on stop.
  const proc: ChildProcess = spawn('java', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  const killGroup = () => {
    try {
      process.kill(-proc.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  };
  process.once('exit', killGroup);
  let stderr = '';
  proc.stderr!.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
  const logTail = async () => `${(await readFile(logFile, 'utf8').catch(() => '')).slice(-4000)}\n${stderr}`;
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM'); // its shutdown hook stops the clusters
      const t = setTimeout(killGroup, 20_000);
      await exited;
      clearTimeout(t);
    }
    killGroup();
    await killContainers(dir);
    process.removeListener('exit', killGroup);
    await rm(dir, { recursive: true, force: true });
  };

  const namenodeHttp = `http://127.0.0.1:${nnHttp}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`the YARN cluster exited with ${proc.exitCode}:\n${await logTail()}`);
    if (existsSync(details) && existsSync(written)) {
      const ok = await fetch(`${namenodeHttp}/webhdfs/v1/tmp?op=MKDIRS&user.name=hms`, { method: 'PUT' }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the YARN cluster did not start in ${timeoutMs} ms:\n${await logTail()}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  // The written file is the whole effective configuration; as *-site.xml files it wins over every
  // *-default.xml a client loads (yarn-default.xml is loaded after core-site.xml, hence all four names).
  // The manager writes mapreduce.framework.name=local into it; clients of this cluster submit to YARN.
  const text = (await readFile(written, 'utf8')).replace(/(<name>mapreduce\.framework\.name<\/name><value>)local(<\/value>)/, '$1yarn$2');
  for (const name of ['core-site.xml', 'hdfs-site.xml', 'yarn-site.xml', 'mapred-site.xml']) await writeFile(join(confDir, name), text);
  return { fsUri: `hdfs://localhost:${nn}`, namenodeHttp, confDir, clientLog4j, startMs: Date.now() - t0, logTail, stop };
}

/**
 * The NodeManager starts containers in sessions of their own (setsid), out of the cluster's process group,
 * and an application master may linger after its job. Every process whose command line names the
 * cluster's (unique) temp dir is one of them.
 */
async function killContainers(dir: string): Promise<void> {
  for (const pid of (await readdir('/proc')).filter((d) => /^\d+$/.test(d))) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (!cmdline.includes(dir)) continue;
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

/** The hadoop-streaming jar in a jar directory. */
export async function streamingJar(jars: string): Promise<string> {
  const name = (await readdir(jars)).find((n) => /^hadoop-streaming-[\d.]+\.jar$/.test(n));
  if (!name) throw new Error(`no hadoop-streaming jar in ${jars}`);
  return join(jars, name);
}
