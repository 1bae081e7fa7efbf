import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** Java classes this project ships as source (jobs/), compiled here against the cached jars, once. */

/**
 * `jobs/<engine>` (the engine's Java source, pom and scripts) from the source tree (src/ next to jobs/) or the
 * build output (dist/src/, two levels below jobs/); throws naming `file` when neither holds it.
 */
export function engineJobDir(engine: 'spark' | 'mapreduce', file: string): string {
  const candidates = [join(import.meta.dirname, '..', 'jobs', engine), join(import.meta.dirname, '..', '..', 'jobs', engine)];
  const found = candidates.find((d) => existsSync(join(d, file)));
  if (!found) throw new Error(`${engine} engine: jobs/${engine}/${file} is not next to the program (looked in ${candidates.join(', ')})`);
  return found;
}

export const run = promisify(execFile);

export const sha256 = (...parts: (string | Buffer)[]): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

/** Fills `dir` under a temporary name, then renames it into place: parallel builders (test workers) race safely. */
export async function buildOnce(dir: string, fill: (build: string) => Promise<void>): Promise<void> {
  const build = await mkdtemp(`${dir}.build-`);
  try {
    await fill(build);
    await rename(build, dir).catch(() => undefined); // another builder won the race: the same content
  } finally {
    await rm(build, { recursive: true, force: true });
  }
}

/** javac + jar: `source` compiled against `classpath` into `classes`, packed as `jar`. */
export async function compileJar(source: string, classpath: string, classes: string, jar: string): Promise<void> {
  await run('javac', ['-nowarn', '-encoding', 'UTF-8', '-cp', classpath, '-d', classes, source]);
  await run('jar', ['cf', jar, '-C', classes, '.']);
}
