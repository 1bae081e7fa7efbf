/** The README's GraphQL examples, run as written (bash and curl) against the real daemon, answer what they say. */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { ALL_TIME, gql, killedAfterwards, message, sendUdp, waitFor } from '../helpers/daemon.js';

const start = killedAfterwards(test);

test("the README's curl examples compute their window from now and answer for a message just sent", async (t) => {
  const readme = await readFile(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## GraphQL'));
  const script = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  if (!script) return t.fail('README: no sh block under "## GraphQL"');

  const d = await start(['--batch-schedule', 'off']);
  // Ten minutes old: older than W will be (--allowed-lateness 1m), so the example batch run absorbs it.
  await sendUdp(d.udpPort, [message('orders', Date.now() / 1000 - 600, 37.5)]);
  // Visible once the speed layer has ticked (every second), not as soon as it is accepted.
  const STATS = 'query($from: DateTime!, $to: DateTime!) { stats(from: $from, to: $to) { count } }';
  await waitFor('visible', async () => (await gql<{ stats: { count: number }[] }>(d.url, STATS, ALL_TIME)).stats.length === 1);

  // Each curl goes to this daemon, ends within 5 s (the SSE one would stream forever), and marks where its output ends.
  const prelude = `curl() { command curl --max-time 5 "\${@/localhost:4000/127.0.0.1:${d.httpPort}}"; echo; echo '<<<END>>>'; }\n`;
  const { stdout } = await promisify(execFile)('bash', ['-c', prelude + script], { timeout: 60_000 });
  const [stats, series, services, runBatch, compact, retention, forget, sse] = stdout.split('<<<END>>>\n').map((s) => s.trim());
  const json = (text: string) => JSON.parse(text) as { data: Record<string, unknown>; errors?: unknown };

  t.like(json(stats).data, { stats: [{ service: 'orders', count: 1, realtimeCount: 1, cpu: { mean: 37.5, max: 37.5 } }] });
  t.is((json(series).data.series as { count: number }[]).reduce((n, b) => n + b.count, 0), 1);
  t.like(json(services).data, { services: [{ service: 'orders', cpu: 37.5 }], pipeline: { accepted: 1 } });
  t.like(json(runBatch).data, { runBatch: { status: 'SUCCEEDED', records: 1 } });
  // Ten minutes old, the message is in a closed hour only if an hour began since: one partition compacted, or none.
  const compacted = json(compact).data.compact as { partitions: number; records: number };
  t.is(compacted.records, compacted.partitions);
  t.like(json(retention).data, { applyRetention: { partitions: [], minuteRows: 0 } });
  t.deepEqual(json(forget).data, { forgetService: false });
  t.regex(sse, /event: next\ndata: \{"data":\{"pipeline":\{"accepted":1,/);
});
