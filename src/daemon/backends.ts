import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Config, ConfigError, listOf } from '../config/settings.js';
import type { Logger } from '../log.js';
import { HdfsStore } from '../storage/hdfs-store.js';
import { LocalStore } from '../storage/local-store.js';
import type { MasterStore } from '../storage/store.js';
import { WebHdfs } from '../storage/webhdfs.js';
import { DuckDBBatchEngine } from '../batch/duckdb-engine.js';
import type { BatchEngine } from '../batch/engine.js';
import { MapReduceBatchEngine } from '../batch/mapreduce-engine.js';
import { prepareSparkRuntime, SparkDriver } from '../speed/spark-driver.js';
import { DuckDBSpeedLayer } from '../speed/duckdb-speed.js';
import { SparkSpeedLayer } from '../speed/spark-speed.js';
import type { SpeedDeps, SpeedLayer } from '../speed/speed-layer.js';

/**
 * The one place where configuration picks implementations: the master dataset store (local | hdfs), the
 * batch engine (duckdb | mapreduce) and the speed engine (duckdb | spark). Everything else sees the ports.
 */
export interface Backends {
  store: MasterStore;
  createBatchEngine(): BatchEngine;
  createSpeedLayer(deps: SpeedDeps): Promise<SpeedLayer>;
}

export function chooseBackends(config: Config, log: Logger): Backends {
  const hdfs = config.storage === 'hdfs';
  // One WebHDFS client for the store and the engines, so retries and namenode failover are shared.
  const client = hdfs
    ? new WebHdfs({
        urls: listOf(config.hdfsUrl).filter(Boolean),
        user: config.hdfsUser || undefined,
        onRetry: (e) => log.warn({ op: e.op, path: e.path, attempt: e.attempt, excluded: e.excluded, err: e.error.message }, 'WebHDFS retry'),
      })
    : undefined;
  const store: MasterStore = client
    ? new HdfsStore({
        urls: [],
        client,
        root: config.hdfsRoot,
        fsUri: config.hdfsFsUri || undefined,
        cacheDir: join(config.dataDir, 'hdfs-cache'),
        cacheMaxBytes: config.hdfsCacheMax,
      })
    : new LocalStore(join(config.dataDir, 'master'), join(config.dataDir, 'quarantine'), join(config.dataDir, 'tmp'));

  return {
    store,
    createBatchEngine() {
      if (config.batchEngine !== 'mapreduce') return new DuckDBBatchEngine(store);
      const submit = config.mapreduceSubmit.trim() === 'local' ? 'local' : config.mapreduceSubmit.trim().split(/\s+/);
      const jarsDir = config.mapreduceJars;
      if (submit === 'local' && !existsSync(join(jarsDir, '.complete'))) {
        throw new ConfigError(
          `--batch-engine mapreduce with --mapreduce-submit local: the Hadoop Streaming jars are not in ${jarsDir} (--mapreduce-jars); run jobs/mapreduce/fetch-jars.sh (needs Maven)`,
        );
      }
      return new MapReduceBatchEngine({
        submit,
        jarsDir,
        store,
        reduces: config.mapreduceReduces,
        log,
      });
    },
    async createSpeedLayer(deps) {
      if (config.speedEngine !== 'spark') return DuckDBSpeedLayer.create(deps);
      const sparkLog = log.child({ module: 'spark' });
      const driver = new SparkDriver({
        runtime: await prepareSparkRuntime({ jars: config.sparkJars }),
        master: config.sparkMaster,
        logFile: join(config.dataDir, 'spark-driver.log'),
        log: sparkLog,
      });
      return SparkSpeedLayer.create({ ...deps, driver, log: sparkLog });
    },
  };
}
