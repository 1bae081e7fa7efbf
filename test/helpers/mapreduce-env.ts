/**
 * What the MapReduce tests need besides the code under test: the compiled task scripts (the tests run from
 * TypeScript sources, the job ships JavaScript) and the Hadoop Streaming jars (jobs/mapreduce/fetch-jars.sh,
 * cached outside the repository).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '../../src/config/settings.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
export const TASK_SOURCES = join(ROOT, 'jobs', 'mapreduce', 'task');
const FETCH_JARS = join(ROOT, 'jobs', 'mapreduce', 'fetch-jars.sh');
const POM = join(ROOT, 'jobs', 'mapreduce', 'pom.xml');

/** Where the daemon finds the Hadoop Streaming jars: its own setting (--mapreduce-jars / HMS_MAPREDUCE_JARS). */
export const mapreduceJarCache = (): string => loadConfig({ flags: {}, env: process.env }).mapreduceJars;

let compiled: Promise<string> | undefined;

/**
 * Compiles jobs/mapreduce/task/*.mts with the project's tsc into a temp dir named by the sources' hash
 * (shared by parallel test workers, renamed into place atomically), exactly what `npm run build` ships.
 */
export function compiledTaskDir(): Promise<string> {
  compiled ??= (async () => {
    const names = (await readdir(TASK_SOURCES)).filter((n) => n.endsWith('.mts')).sort();
    const hash = createHash('sha256');
    for (const n of names) hash.update(n).update(await readFile(join(TASK_SOURCES, n)));
    const dir = join(tmpdir(), `hms-mr-task-${hash.digest('hex').slice(0, 16)}`);
    if (existsSync(join(dir, 'reducer.mjs'))) return dir;
    const build = await mkdtemp(join(tmpdir(), 'hms-mr-task-build-'));
    const tsc = join(ROOT, 'node_modules', '.bin', 'tsc');
    const opts = ['--ignoreConfig', '--outDir', build, '--rootDir', TASK_SOURCES, '--module', 'nodenext', '--target', 'es2023', '--strict', '--types', 'node', '--skipLibCheck'];
    await run(tsc, [...opts, ...names.map((n) => join(TASK_SOURCES, n))], { cwd: ROOT });
    await rename(build, dir).catch(async () => rm(build, { recursive: true, force: true })); // another worker won: same output
    return dir;
  })();
  return compiled;
}

export type MapReduceAvailability = { ok: true; jars: string } | { ok: false; why: string };

let availability: Promise<MapReduceAvailability> | undefined;

/** Java and the Hadoop Streaming jars (fetched with Maven when missing); the answer says why not. */
export function mapreduceAvailable(): Promise<MapReduceAvailability> {
  availability ??= (async (): Promise<MapReduceAvailability> => {
    try {
      await run('java', ['-version']);
    } catch {
      return { ok: false, why: 'java not found on PATH (a JDK 17 is needed)' };
    }
    const jars = mapreduceJarCache();
    const want = createHash('sha256').update(await readFile(POM)).digest('hex');
    const complete = async () => (await readFile(join(jars, '.complete'), 'utf8').catch(() => '')).trim() === want;
    if (await complete()) return { ok: true, jars };
    try {
      await run('mvn', ['-v']);
    } catch {
      return { ok: false, why: `the Hadoop Streaming jars are not in ${jars} and mvn is not on PATH to fetch them` };
    }
    try {
      await run('bash', [FETCH_JARS], { maxBuffer: 16 << 20 });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      return { ok: false, why: `jobs/mapreduce/fetch-jars.sh failed: ${(e.stderr || e.message).slice(-2000)}` };
    }
    return (await complete()) ? { ok: true, jars } : { ok: false, why: `jobs/mapreduce/fetch-jars.sh ran but ${jars}/.complete does not match the pom` };
  })();
  return availability;
}
