/**
 * Every GraphQL document the dashboard sends. Their result and variable types are generated from these and
 * the schema (tui/generated/operations.ts, `npm run codegen`).
 */

const RESOURCE = 'mean min max peakAt';
const BATCH = 'id engine status mode startedAt finishedAt watermark records partitions error mapProgress reduceProgress';
const ALERT = 'id service rule severity state startedAt endedAt value message silenced';

export const SERVICES_SUBSCRIPTION = `subscription Services {
  services { service health reasons lastSeen cpu ramUsed diskUsed ramFreeGb diskFreeGb diskFullAt ramFullAt }
}`;
export const PIPELINE_SUBSCRIPTION = `subscription Pipeline {
  pipeline {
    received accepted rejected late kernelDrops rejectedBy { reason count } watermark
    lastBatch { ${BATCH} } backlogSegments storage batchEngine speedEngine messagesPerSecond recvBufferBytes startedAt
    unflushedBytes storageError quarantinedLines
  }
}`;
export const STATS_QUERY = `query Stats($from: DateTime!, $to: DateTime!, $service: String) {
  stats(from: $from, to: $to, service: $service) {
    service count batchCount realtimeCount cpu { ${RESOURCE} } ram { ${RESOURCE} } disk { ${RESOURCE} }
  }
}`;
export const SERIES_QUERY = `query Series($service: String!, $from: DateTime!, $to: DateTime!, $step: Step!) {
  series(service: $service, from: $from, to: $to, step: $step) {
    start count cpu { ${RESOURCE} } ram { ${RESOURCE} } disk { ${RESOURCE} }
  }
}`;
// Only the peaks the sparklines draw, for every service at once: about a quarter of the bytes of whole buckets.
export const HISTORY_QUERY = `query History($from: DateTime!, $to: DateTime!, $services: [String!]) {
  history(from: $from, to: $to, services: $services) { service buckets { start cpu { max } ram { max } } }
}`;
// Asked for when the rejections pane opens, not pushed: up to 100 datagrams of 200 bytes each, every second.
export const REJECTED_SAMPLE_QUERY = `query RejectedSample { pipeline { rejectedSample { at reason detail from excerpt } } }`;
export const ALERTS_QUERY = `query Alerts($active: Boolean) { alerts(active: $active) { ${ALERT} } }`;
export const ALERTS_SUBSCRIPTION = `subscription AlertChanges { alerts { ${ALERT} } }`;
export const RUN_BATCH_MUTATION = `mutation RunBatch($full: Boolean) { runBatch(full: $full) { ${BATCH} } }`;
