import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { MasterFile } from '../storage/store.js';
import type { WebHdfs } from '../storage/webhdfs.js';

/** Where Spark reads and writes: the master dataset's files and a scratch area for job output. */

export interface SparkIo {
  /** The URI Spark reads a master file from. */
  input(file: MasterFile): string;
  /** The URI of job `name`'s output directory (it must not exist yet). */
  output(name: string): string;
  /** Local paths of the output's Parquet part files, downloaded below `localDir` when the output is remote. */
  fetch(name: string, localDir: string): Promise<string[]>;
  /** Removes job `name`'s output. */
  remove(name: string): Promise<void>;
  /** Removes every output (left by an earlier process). */
  reset(): Promise<void>;
}

const PART = /^part-.*\.parquet$/;

/** A local master dataset (LocalStore at `masterRoot`) and output in a local directory (`file://`). */
export function localSparkIo(masterRoot: string, outputRoot: string): SparkIo {
  return {
    input: (f) => pathToFileURL(join(masterRoot, f.partition, f.name)).href,
    output: (name) => pathToFileURL(join(outputRoot, name)).href,
    fetch: async (name) => {
      const dir = join(outputRoot, name);
      return (await readdir(dir)).filter((n) => PART.test(n)).map((n) => join(dir, n));
    },
    remove: (name) => rm(join(outputRoot, name), { recursive: true, force: true }),
    reset: () => rm(outputRoot, { recursive: true, force: true }),
  };
}

export interface HdfsSparkIoOptions {
  /** WebHDFS client, for fetching the output (DuckDB reads local files). */
  client: WebHdfs;
  /** `hdfs://namenode:8020`, the file system URI Spark uses. */
  fsUri: string;
  /** Absolute HDFS path of the master dataset root. */
  masterRoot: string;
  /** Absolute HDFS path under which each job writes its own fresh directory. */
  outputRoot: string;
}

/** Master dataset and job output on HDFS: Spark uses hdfs://, the daemon downloads the output over WebHDFS. */
export function hdfsSparkIo(o: HdfsSparkIoOptions): SparkIo {
  const fs = o.fsUri.replace(/\/+$/, '');
  const out = (name: string) => `${o.outputRoot}/${name}`;
  return {
    input: (f) => `${fs}${o.masterRoot}/${f.partition}/${f.name}`,
    output: (name) => `${fs}${out(name)}`,
    fetch: async (name, localDir) => {
      const parts = (await o.client.list(out(name))).filter((s) => s.type === 'FILE' && PART.test(s.pathSuffix));
      const dir = join(localDir, name);
      await mkdir(dir, { recursive: true });
      const paths: string[] = [];
      for (const p of parts) {
        const path = join(dir, p.pathSuffix);
        await writeFile(path, await o.client.readAll(`${out(name)}/${p.pathSuffix}`));
        paths.push(path);
      }
      return paths;
    },
    remove: async (name) => {
      await o.client.delete(out(name), { recursive: true });
    },
    reset: async () => {
      await o.client.delete(o.outputRoot, { recursive: true });
    },
  };
}
