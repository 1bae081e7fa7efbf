/**
 * Frame time of the dashboard with a large fleet: the wall time from an event (a subscription push, a key) to
 * the frame Ink writes for it, React's scheduling included. Uses ink-testing-library's in-memory terminal.
 */
import { performance } from 'node:perf_hooks';
import { render } from 'ink-testing-library';
import { createElement } from 'react';
import { Dashboard } from '../../tui/Dashboard.js';
import { FakeClient } from './tui-fake-client.js';
import { clock, fleet, pipeline } from './tui-fixtures.js';

export interface Timing {
  median: number;
  p95: number;
  max: number;
}

export interface FrameTimes {
  services: number;
  push: Timing;
  key: Timing;
  /** Lines in the last frame: the screen height, whatever the fleet size. */
  frameLines: number;
  /** Service rows drawn in the last frame. */
  rowsDrawn: number;
}

const summarize = (xs: number[]): Timing => {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { median: at(0.5), p95: at(0.95), max: s[s.length - 1]! };
};

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function untilNewFrame(frames: string[], before: number, timeoutMs = 5000): Promise<void> {
  const start = performance.now();
  while (frames.length === before) {
    if (performance.now() - start > timeoutMs) throw new Error('no frame within 5s');
    await tick();
  }
}

export async function measureFrameTimes(services = 1000, samples = 40): Promise<FrameTimes> {
  const client = new FakeClient();
  const ui = render(
    createElement(Dashboard, { client, url: 'http://127.0.0.1:4000/graphql', onExit: () => {}, clock, size: { columns: 120, rows: 40 } }),
  );
  try {
    client.pushPipeline(pipeline());
    client.pushServices(fleet(services, 0));
    await untilNewFrame(ui.frames, 0);
    for (let i = 0; i < 5; i++) await tick();

    const push: number[] = [];
    for (let i = 1; i <= samples; i++) {
      const rows = fleet(services, i);
      const before = ui.frames.length;
      const t0 = performance.now();
      client.pushServices(rows);
      await untilNewFrame(ui.frames, before);
      push.push(performance.now() - t0);
    }
    const key: number[] = [];
    for (let i = 0; i < samples; i++) {
      const before = ui.frames.length;
      const t0 = performance.now();
      ui.stdin.write(i % 2 === 0 ? 'j' : 'k');
      await untilNewFrame(ui.frames, before);
      key.push(performance.now() - t0);
    }
    const last = ui.lastFrame() ?? '';
    return {
      services,
      push: summarize(push),
      key: summarize(key),
      frameLines: last.split('\n').length,
      rowsDrawn: last.split('\n').filter((l) => /svc-\d{4}/.test(l)).length,
    };
  } finally {
    ui.unmount();
    ui.cleanup();
  }
}

// `NODE_ENV=production node --import tsx test/helpers/tui-frame-time.ts [services]` measures the build that
// `hms tui` runs (tui/main.tsx selects React's production build).
if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await measureFrameTimes(Number(process.argv[2] ?? 1000), 60);
  process.stdout.write(`${JSON.stringify({ react: process.env['NODE_ENV'] ?? 'development', ...result }, null, 2)}\n`);
}
