/**
 * The package as users install it: `npm pack` of this tree, `npm install -g` of the tarball into a fresh prefix,
 * and the installed `hms` run from there (a daemon answering over UDP and GraphQL, every command's --help), with
 * the scale-out engines' job files where the installed code itself looks for them, and the systemd units' paths.
 *
 * The tarball is packed from dist/ as it is (`--ignore-scripts`): `npm test` builds before ava runs, and a build
 * here would rewrite dist/ under the test files running beside this one.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { encodeLine } from '../../src/core/master-record.js';
import { ALL_TIME, gql, killedAfterwards, message, sendUdp, waitFor } from '../helpers/daemon.js';

const run = promisify(execFile);
const start = killedAfterwards(test);
const ROOT = join(import.meta.dirname, '..', '..');
/** npm resolves the dependencies from the registry, through the local cache; a loaded machine may take minutes. */
const NPM_WITHIN_MS = 8 * 60_000;

interface Installed {
  /** `<prefix>/bin/hms`, the command npm links. */
  hms: string;
  /** The installed package directory, `<prefix>/lib/node_modules/hms`. */
  pkg: string;
  dir: string;
  version: string;
}

async function packAndInstall(): Promise<Installed> {
  if (!existsSync(join(ROOT, 'dist', 'src', 'cli.js'))) throw new Error('dist/src/cli.js is missing: run npm run build first');
  const dir = await mkdtemp(join(tmpdir(), 'hms-package-'));
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, timeout: NPM_WITHIN_MS, maxBuffer: 16 << 20 });
  const [{ filename }] = JSON.parse(packed.stdout) as { filename: string }[];
  const prefix = join(dir, 'prefix');
  // From the temp dir, so that nothing of this project (its node_modules, its lockfile) takes part.
  await run('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', join(dir, filename)], {
    cwd: dir,
    timeout: NPM_WITHIN_MS,
    maxBuffer: 16 << 20,
  });
  const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  return { hms: join(prefix, 'bin', 'hms'), pkg: join(prefix, 'lib', 'node_modules', 'hms'), dir, version };
}

const installed = packAndInstall();
// A failed install fails each test with its reason, once it is awaited there.
installed.catch(() => undefined);
// The prefix holds a whole dependency tree (DuckDB's binary alone is tens of MB): it goes after the daemons.
test.after.always(async () => {
  const { dir } = await installed.catch(() => ({ dir: undefined }));
  if (dir) await rm(dir, { recursive: true, force: true });
});

const hms = async (...args: string[]) => run((await installed).hms, args, { timeout: 120_000 });

test('the installed hms prints its version, and --help of every command with exit 0', async (t) => {
  const { version } = await installed;
  t.is((await hms('--version')).stdout.trim(), `hms ${version}`);
  for (const command of ['daemon', 'mock', 'tui', 'demo', 'agent']) {
    const { stdout } = await hms(command, '--help'); // a non-zero exit rejects
    t.regex(stdout, new RegExp(`^hms ${command}: `), command);
  }
});

test('the installed daemon takes a datagram over UDP and answers for it over GraphQL', async (t) => {
  const { hms: bin } = await installed;
  const d = await start(['--batch-schedule', 'off'], undefined, [bin]);
  t.is(
    await waitFor('/ready', async () => {
      const res = await fetch(`http://127.0.0.1:${d.httpPort}/ready`).catch(() => undefined);
      return res?.status === 200 && res.status;
    }),
    200,
  );
  await sendUdp(d.udpPort, [message('installed-1', Date.now() / 1000, 42)]);
  const STATS = 'query($from: DateTime!, $to: DateTime!) { stats(from: $from, to: $to) { service count cpu { max } } }';
  const stats = await waitFor('the message in stats', async () => {
    const s = (await gql<{ stats: { service: string; count: number; cpu: { max: number } }[] }>(d.url, STATS, ALL_TIME)).stats;
    return s.length > 0 && s;
  });
  t.deepEqual(stats, [{ service: 'installed-1', count: 1, cpu: { max: 42 } }]);
  t.is(await d.stop(), 0, 'SIGTERM: a clean exit');
});

/** Where the installed engines look for their job files, asked of the installed modules themselves. */
async function jobDirs(pkg: string): Promise<{ spark: string; mapreduce: string; mapreduceJob: string }> {
  const url = (p: string) => pathToFileURL(join(pkg, 'dist', 'src', p)).href;
  const ask = `const [{ sparkJobDir }, { DEFAULT_TASK_DIR, mapreduceJobDir }] = await Promise.all([import(${JSON.stringify(url('speed/spark-driver.js'))}), import(${JSON.stringify(url('batch/mapreduce-engine.js'))})]);
process.stdout.write(JSON.stringify({ spark: sparkJobDir(), mapreduce: DEFAULT_TASK_DIR, mapreduceJob: mapreduceJobDir() }));`;
  return JSON.parse((await run(process.execPath, ['--input-type=module', '-e', ask], { cwd: tmpdir() })).stdout);
}

const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

test("the scale-out engines find their job files in the installed package, and its scripts run from there", async (t) => {
  const { pkg, dir } = await installed;
  const { spark, mapreduce, mapreduceJob } = await jobDirs(pkg);
  t.true(spark.startsWith(pkg + sep), spark);
  t.true(mapreduce.startsWith(pkg + sep), mapreduce);
  t.is(mapreduceJob, join(pkg, 'jobs', 'mapreduce'));
  t.true(existsSync(join(mapreduceJob, 'HmsMasterInputFormat.java')), 'the input format for compacted partitions');
  for (const f of ['HmsSparkDriver.java', 'pom.xml', 'log4j2.properties', 'fetch-jars.sh']) t.true(existsSync(join(spark, f)), `spark: ${f}`);
  for (const f of ['mapper.mjs', 'combiner.mjs', 'reducer.mjs']) t.true(existsSync(join(mapreduce, f)), `mapreduce: ${f}`);

  // The mapper, as a Streaming task runs it from the shipped directory, reads a master line.
  const ts = Date.UTC(2026, 0, 1, 10, 0, 30) * 1000;
  const line = encodeLine({ service: 'orders', ts, cpu: 50, ramTotal: 16, ramFree: 8, diskTotal: 100, diskFree: 25 }, ts);
  const mapped = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const p = execFile(process.execPath, [join(mapreduce, 'mapper.mjs')], { env: { ...process.env, HMS_WATERMARK: String(ts + 60_000_000) } }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    p.on('error', reject);
    p.stdin!.on('error', () => {}); // a mapper that fails early closes its stdin: its exit code says why
    p.stdin!.end(line);
  });
  t.is(mapped.code, 0, mapped.stderr);
  t.true(mapped.stdout.startsWith(`"orders"\t${ts - 30_000_000}\t1\t`), mapped.stdout); // its (service, minute) key, 1 message

  // Each fetch-jars.sh finds the shared script and its pom where it is installed: given a cache already
  // complete for that pom, it names the cache and downloads nothing.
  for (const [engine, env] of [
    [spark, 'HMS_SPARK_JARS'],
    [join(pkg, 'jobs', 'mapreduce'), 'HMS_MAPREDUCE_JARS'],
  ]) {
    const cache = join(dir, `jars-${env}`);
    await mkdir(cache, { recursive: true });
    await writeFile(join(cache, '.complete'), `${await sha256(join(engine, 'pom.xml'))}\n`);
    const { stdout } = await run('bash', [join(engine, 'fetch-jars.sh')], { env: { ...process.env, [env]: cache }, timeout: 120_000 });
    t.is(stdout.trim().split('\n').at(-1), cache, engine);
  }
});

test('the systemd units in the installed deploy/ name files the package installs (npm prefix /usr)', async (t) => {
  const { pkg } = await installed;
  const units = (await readdir(join(pkg, 'deploy'))).filter((f) => f.endsWith('.service'));
  t.true(units.length >= 2, `units: ${units.join(', ')}`);
  for (const unit of units) {
    const text = await readFile(join(pkg, 'deploy', unit), 'utf8');
    const paths = [...text.matchAll(/\/usr\/lib\/node_modules\/hms\/(\S+)/g)].map((m) => m[1]);
    t.true(paths.length > 0, `${unit} starts the installed package`);
    for (const p of paths) t.true(existsSync(join(pkg, p)), `${unit}: ${p}`);
  }
});
