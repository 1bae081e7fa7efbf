/**
 * Shipping throughput to HDFS: segment-like JSON lines through `HdfsStore.put`, one segment after the other as
 * the shipper does, then the same files staged back through the local cache (what a batch run pays to read).
 * Run alone with `node --import tsx bench/hdfs.ts [MB]` (starts a one-datanode HDFS from the cached jars), or
 * call `benchHdfsShipping` against any cluster. Prints numbers, asserts nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { HdfsStore } from '../src/storage/hdfs-store.js';
import { segmentName } from '../src/core/master-record.js';
import { splitByPartition } from '../src/storage/store.js';

export interface HdfsBenchResult {
  segmentBytes: number;
  bytes: number;
  messages: number;
  files: number;
  putSeconds: number;
  putMBps: number;
  putMsgPerS: number;
  stageSeconds: number;
  stageMBps: number;
}

const HOUR_US = 3_600_000_000;

/** One segment of `bytes` bytes of encodeLine-shaped lines, its event times inside one hour. */
function segment(id: number, bytes: number): { data: Buffer; messages: number } {
  const lines: string[] = [];
  let size = 0;
  const start = Date.UTC(2025, 0, 1) * 1000 + id * HOUR_US;
  for (let i = 0; size < bytes; i++) {
    const ts = start + Math.floor((i * 997) % HOUR_US);
    const line = `{"service":"svc-${i % 50}","ts":${ts},"cpu":${(i * 7919) % 10000 / 100},"ram_total":32,"ram_free":${(i % 3200) / 100},"disk_total":512,"disk_free":${(i % 51200) / 100},"recv":${ts + 1234}}\n`;
    lines.push(line);
    size += line.length;
  }
  return { data: Buffer.from(lines.join('')), messages: lines.length };
}

export async function benchHdfsShipping(opts: {
  urls: string[];
  user?: string;
  root?: string;
  totalBytes: number;
  segmentBytes: number;
}): Promise<HdfsBenchResult> {
  const cacheDir = await mkdtemp(join(tmpdir(), 'hms-bench-cache-'));
  const root = opts.root ?? `/hms-bench-${Date.now()}`;
  const store = new HdfsStore({ urls: opts.urls, user: opts.user, root, cacheDir, cacheMaxBytes: 4 * opts.totalBytes });
  try {
    const segments = Array.from({ length: Math.ceil(opts.totalBytes / opts.segmentBytes) }, (_, i) => segment(i, opts.segmentBytes));
    let bytes = 0;
    let messages = 0;
    const t0 = performance.now();
    for (const [i, seg] of segments.entries()) {
      for (const [partition, lines] of splitByPartition(seg.data).parts) {
        await store.put(partition, segmentName(i + 1, 'jsonl'), Buffer.concat(lines));
      }
      bytes += seg.data.length;
      messages += seg.messages;
    }
    const putSeconds = (performance.now() - t0) / 1000;
    const files = await store.list();
    const t1 = performance.now();
    const staged = await store.stage(files);
    const stageSeconds = (performance.now() - t1) / 1000;
    await staged.release();
    return {
      segmentBytes: opts.segmentBytes,
      bytes,
      messages,
      files: files.length,
      putSeconds,
      putMBps: bytes / 1e6 / putSeconds,
      putMsgPerS: messages / putSeconds,
      stageSeconds,
      stageMBps: bytes / 1e6 / stageSeconds,
    };
  } finally {
    await store.release();
    await rm(cacheDir, { recursive: true, force: true });
  }
}

export function formatHdfsBench(r: HdfsBenchResult): string {
  return (
    `segments of ${(r.segmentBytes / 2 ** 20).toFixed(0)} MiB: put ${(r.bytes / 1e6).toFixed(1)} MB / ${r.messages} messages in ${r.files} files ` +
    `in ${r.putSeconds.toFixed(2)} s = ${r.putMBps.toFixed(1)} MB/s, ${Math.round(r.putMsgPerS)} msg/s; ` +
    `staged back in ${r.stageSeconds.toFixed(2)} s = ${r.stageMBps.toFixed(1)} MB/s`
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { startHdfs } = await import('../test/helpers/hadoop-cluster.js');
  const mb = Number(process.argv[2] ?? 128);
  const hdfs = await startHdfs({ datanodes: 1 });
  console.log(`HDFS up in ${hdfs.startMs} ms (1 namenode, 1 datanode, one JVM)`);
  try {
    for (const segMiB of [64, 8, 1]) {
      const r = await benchHdfsShipping({ urls: [hdfs.namenodeHttp], user: 'hms', totalBytes: mb * 1e6, segmentBytes: segMiB * 2 ** 20 });
      console.log(formatHdfsBench(r));
    }
  } finally {
    await hdfs.stop();
  }
}
