import { DuckDBBatchEngine } from '../batch/duckdb-engine.js';
import { type Config, decodeSettings } from '../config/settings.js';
import type { CompatMode } from '../core/message.js';
import { chooseBackends } from '../daemon/backends.js';
import { openPipeline, pipelineSettings } from '../daemon/pipeline.js';
import type { DecodeOptions } from '../ingest/decode.js';
import { createLogger } from '../log.js';
import { DuckDBSpeedLayer } from '../speed/duckdb-speed.js';
import { prepareDataDir } from '../storage/data-dir.js';
import type { ImportTarget } from './import-command.js';
import { takeMessages } from './messages.js';

/** Messages between speed ticks and shipments: what waits in memory stays a few thousand minute rows. */
const TICK_EVERY = 200_000;

/**
 * `hms import --data-dir`: the daemon's own pipeline, opened on its data dir (the DuckDB file's lock refuses it
 * while a daemon holds the dir), with the store the daemon's settings choose. Records go through the sink a
 * datagram goes through; the speed layer folds them into the realtime views, whose saved progress then covers
 * them, so the daemon's next start reads none of it again.
 */
export async function openLocalImport(config: Config, compat: ReadonlySet<CompatMode>): Promise<ImportTarget> {
  // The screen belongs to the progress bar: only errors are logged.
  const log = createLogger('error', config.logFormat);
  const dataDir = await prepareDataDir(config.dataDir);
  const { store } = chooseBackends(config, log);
  const p = await openPipeline({
    dataDir,
    store,
    batchEngine: new DuckDBBatchEngine(store),
    speedEngine: (deps) => DuckDBSpeedLayer.create(deps),
    ...pipelineSettings(config),
    log,
  }).catch(async (err) => {
    await store.release();
    throw err;
  });
  const sink = p.sink();
  const opts: DecodeOptions = { ...decodeSettings(config), compat };
  let sinceTick = 0;
  return {
    async send(texts) {
      const r = takeMessages(texts, opts, sink, Date.now() * 1000);
      sinceTick += r.accepted;
      // Refused because the disk lags behind: it is written before the refused ones come again.
      if (r.rejected.some((x) => x.reason === 'storage_unavailable')) await p.segments.flush().catch(() => undefined);
      if (sinceTick >= TICK_EVERY) {
        sinceTick = 0;
        await p.speed.tick();
        const shipped = await p.shipper.ship();
        if (shipped.error) throw shipped.error;
      }
      return r;
    },
    async close() {
      try {
        await p.sealAndShip();
        await p.speed.tick();
      } finally {
        await p.close({ reclaim: true });
      }
    },
  };
}
