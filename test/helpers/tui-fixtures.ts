/** Deterministic fleets and history for the dashboard's component tests. */
import { mulberry32 } from '../../mock/random.js';
import type {
  AlertView,
  BatchRunView,
  BucketView,
  Health,
  PipelineView,
  ResourceStat,
  ServiceHistory,
  ServiceRow,
  ServiceStatsView,
} from '../../tui/types.js';

/** 2026-11-27T10:00:00Z: every fixture time is relative to this fixed "now". */
export const NOW = Date.UTC(2026, 10, 27, 10, 0, 0);
export const clock = (): number => NOW;

export function row(service: string, health: Health, over: Partial<ServiceRow> = {}): ServiceRow {
  return {
    service,
    health,
    reasons: health === 'OK' ? [] : [`${health.toLowerCase()} reason`],
    lastSeen: NOW - 4000,
    cpu: 10,
    ramUsed: 20,
    diskUsed: 30,
    ramFreeGb: 8,
    diskFreeGb: 100,
    diskFullAt: null,
    ramFullAt: null,
    ...over,
  };
}

/** A FIRING alert that started `agoMs` before NOW; pass `state: 'RESOLVED'` and `endedAt` for a resolved one. */
export function alert(id: string, service: string, severity: Health, over: Partial<AlertView> = {}): AlertView {
  return {
    id,
    service,
    rule: 'cpu',
    severity,
    state: 'FIRING',
    startedAt: NOW - 300_000,
    endedAt: null,
    value: 97.25,
    message: `cpu 97.3% >= ${severity === 'CRIT' ? 95 : 85}% for 5m`,
    silenced: false,
    ...over,
  };
}

/**
 * Minute peaks of the 15 minutes before NOW for `service`: CPU climbs 7 points a minute, 0 to 98, so the
 * sparkline rises left to right; RAM stays at 50.
 */
export function risingHistory(service: string): ServiceHistory {
  return {
    service,
    minutes: Array.from({ length: 15 }, (_, m) => ({ start: NOW - 900_000 + m * 60_000, cpu: m * 7, ram: 50 })),
  };
}

const HEALTHS: Health[] = ['OK', 'OK', 'OK', 'OK', 'OK', 'OK', 'WARN', 'WARN', 'CRIT', 'SILENT'];

/** `n` services named svc-0000..; `tick` shifts values and lastSeen as a new push would. */
export function fleet(n: number, tick = 0, seed = 42): ServiceRow[] {
  // The mock fleet's PRNG: a large fleet is the same on every run.
  const rnd = mulberry32(seed + tick * 7919);
  const rows: ServiceRow[] = [];
  for (let i = 0; i < n; i++) {
    const health = HEALTHS[Math.floor(rnd() * HEALTHS.length)]!;
    rows.push(
      row(`svc-${String(i).padStart(4, '0')}`, health, {
        cpu: Math.round(rnd() * 1000) / 10,
        ramUsed: Math.round(rnd() * 1000) / 10,
        diskUsed: Math.round(rnd() * 1000) / 10,
        diskFreeGb: Math.round(rnd() * 5000) / 10,
        lastSeen: NOW + tick * 1000 - Math.floor(rnd() * 5000),
      }),
    );
  }
  return rows;
}

export function pipeline(over: Partial<PipelineView> = {}): PipelineView {
  return {
    received: 1_250_000,
    accepted: 1_234_567,
    rejected: 15_433,
    late: 3,
    kernelDrops: 0,
    rejectedBy: [{ reason: 'schema', count: 15_433 }],
    watermark: NOW - 192_000,
    lastBatch: {
      id: 'b-17',
      engine: 'duckdb',
      status: 'SUCCEEDED',
      mode: 'INCREMENTAL',
      startedAt: NOW - 130_000,
      finishedAt: NOW - 125_000,
      watermark: NOW - 192_000,
      records: 1_200_000,
      partitions: 3,
      error: null,
      mapProgress: null,
      reduceProgress: null,
    },
    backlogSegments: 2,
    storage: 'local',
    batchEngine: 'duckdb',
    speedEngine: 'duckdb',
    messagesPerSecond: 1234.5,
    recvBufferBytes: 4_194_304,
    startedAt: NOW - 3_600_000,
    unflushedBytes: 0,
    storageError: null,
    quarantinedLines: 0,
    ...over,
  };
}

const res = (mean: number, min: number, max: number, peakAt: number): ResourceStat => ({ mean, min, max, peakAt });

/** Stats for "orders" over the last hour; peaks at 09:12:34, 09:40:05 and 09:59:59 UTC. */
export const ORDERS_STATS: ServiceStatsView = {
  service: 'orders',
  count: 3600,
  batchCount: 3000,
  realtimeCount: 600,
  cpu: res(42.125, 3, 97.5, Date.UTC(2026, 10, 27, 9, 12, 34)),
  ram: res(61.04, 55.5, 70.25, Date.UTC(2026, 10, 27, 9, 40, 5)),
  disk: res(58.96, 58.1, 59.9, Date.UTC(2026, 10, 27, 9, 59, 59)),
};

/** One bucket per minute of the last hour; CPU climbs from 0 to 59 % so the chart rises left to right. */
export function ordersSeries(): BucketView[] {
  const out: BucketView[] = [];
  for (let m = 0; m < 60; m++) {
    const start = NOW - 3_600_000 + m * 60_000;
    out.push({
      start,
      count: 60,
      cpu: res(m, m, m, start),
      ram: res(60, 60, 60, start),
      disk: res(59, 59, 59, start),
    });
  }
  return out;
}

const HUGE = 987_654_321_012;

/** Every counter at its widest (a count takes at most five columns) and the longest reasons: the 80-column worst case. */
export function widestPipeline(): PipelineView {
  return pipeline({
    messagesPerSecond: 123_456.7,
    received: HUGE,
    accepted: HUGE,
    rejected: HUGE,
    rejectedBy: [
      { reason: 'storage_unavailable', count: HUGE },
      { reason: 'schema', count: 1 },
    ],
    kernelDrops: HUGE,
    late: HUGE,
    backlogSegments: 12_345,
    quarantinedLines: HUGE,
  });
}

/** A finished MapReduce batch as the daemon reports one: a UUID id, an hour long, large counts. */
export function longBatch(): BatchRunView {
  return {
    ...pipeline().lastBatch!,
    id: '3f2a9c1d-5b7e-4c1a-9e2f-0123456789ab',
    engine: 'mapreduce',
    records: 123_456_789,
    partitions: 4096,
    startedAt: NOW - 3_725_000,
    finishedAt: NOW,
  };
}
