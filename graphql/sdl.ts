/**
 * The GraphQL surface: the contract of design.md ("names are a contract") and the fields added since. This
 * is the one source of it: the resolver types (graphql/generated/types.ts, the core's shapes with times as
 * epoch microseconds) and the dashboard's operation types (tui/generated/operations.ts) are generated from
 * it by `npm run codegen`, and a test fails when they are stale.
 */
export const typeDefs = /* GraphQL */ `
  "ISO-8601 UTC"
  scalar DateTime
  enum Health { OK WARN CRIT SILENT }
  enum Step { MINUTE HOUR DAY }
  enum AlertState { FIRING RESOLVED }

  type Query {
    services: [ServiceHealth!]!
    "Window [from, to); unaligned bounds widen to whole minutes."
    stats(from: DateTime!, to: DateTime!, service: String): [ServiceStats!]!
    series(service: String!, from: DateTime!, to: DateTime!, step: Step!): [Bucket!]!
    "Minute buckets of every service (or the named ones) over at most 6 hours, in one answer: sparklines."
    history(from: DateTime!, to: DateTime!, services: [String!]): [ServiceSeries!]!
    pipeline: Pipeline!
    "Newest first (at most 1000). active: true gives FIRING alerts only, false RESOLVED only."
    alerts(active: Boolean, service: String): [Alert!]!
    "Silences in force now."
    silences: [Silence!]!
  }
  type Mutation {
    "Incremental unless full is true."
    runBatch(full: Boolean): BatchRun!
    "Suppresses notifications for matching alerts until the given time. service may be a glob (payments-*); no rule means every rule."
    silence(service: String!, rule: String, until: DateTime!, reason: String): Silence!
    "Ends a silence now; false when no silence in force has that id."
    unsilence(id: String!): Boolean!
    "Compacts the master dataset now, as --compact-schedule does: each closed hour's files become one Parquet file."
    compact: CompactionRun!
    "Applies retention now, as --retention-schedule does: partitions and view rows past their tier's retention go."
    applyRetention: RetentionRun!
    "Takes a service out of services and the dashboard now, as --forget-after does (its history stays); false when there is none by that name."
    forgetService(service: String!): Boolean!
    "Bulk load (hms import --url): each message in the wire format, decoded and validated exactly like a datagram (compat: seed, course), then written like one. At most 10,000 a call."
    importMessages(messages: [String!]!, compat: [String!]): ImportResult!
  }
  type ImportResult {
    accepted: Float!
    "The messages refused, by their index in the call."
    rejected: [ImportRejection!]!
  }
  type ImportRejection { index: Int!  reason: String!  detail: String! }
  type Subscription {
    services: [ServiceHealth!]!
    pipeline: Pipeline!
    "Every alert state change (FIRING, RESOLVED), as it happens."
    alerts: Alert!
  }

  type ServiceSeries {
    service: String!
    buckets: [Bucket!]!
  }
  type ServiceHealth {
    service: String!
    health: Health!
    "Why health is not OK; empty when OK."
    reasons: [String!]!
    lastSeen: DateTime!
    cpu: Float!
    ramUsed: Float!
    diskUsed: Float!
    ramFreeGb: Float!
    diskFreeGb: Float!
    "When disk used reaches 100% at the recent least-squares trend; null without a trustworthy upward trend."
    diskFullAt: DateTime
    "As diskFullAt, for RAM."
    ramFullAt: DateTime
  }
  type Alert {
    id: String!
    service: String!
    "cpu | ram | disk | diskFree | silent | diskFull | ramFull"
    rule: String!
    severity: Health!
    state: AlertState!
    "When the condition began (silent: the last message before the silence)."
    startedAt: DateTime!
    endedAt: DateTime
    "At firing: percent (cpu, ram, disk), GB (diskFree), seconds without a message (silent), hours until full (diskFull, ramFull)."
    value: Float
    message: String!
    "Covered by a silence in force now: no notifications are sent for it."
    silenced: Boolean!
  }
  type Silence {
    id: String!
    "A service name or glob."
    service: String!
    "Null: every rule."
    rule: String
    until: DateTime!
    reason: String
  }
  "ram and disk are used-percent."
  type Resource { mean: Float!  min: Float!  max: Float!  peakAt: DateTime! }
  type ServiceStats {
    service: String!
    count: Float!
    batchCount: Float!
    realtimeCount: Float!
    cpu: Resource!
    ram: Resource!
    disk: Resource!
    "The window this answer is exact for: the one asked (to whole minutes), or wider where retention kept only hour or day views of its start or end; never earlier than the oldest data kept."
    coveredFrom: DateTime!
    coveredTo: DateTime!
    "MINUTE: minute views answered the edges of the window; HOUR or DAY: part of it is past --retention-minute (or --retention-hour) and the views of that step answered it, over coveredFrom-coveredTo."
    resolution: Step!
  }
  type Bucket {
    start: DateTime!
    "The span the bucket covers from start: the step asked, or coarser where retention kept only coarser views."
    resolution: Step!
    count: Float!
    cpu: Resource!
    ram: Resource!
    disk: Resource!
  }
  type Pipeline {
    received: Float!
    accepted: Float!
    rejected: Float!
    late: Float!
    "Messages taken through importMessages (hms import --url); not datagrams, so in none of received, accepted or rejected."
    imported: Float!
    kernelDrops: Float
    rejectedBy: [ReasonCount!]!
    "off | optional | required (--auth-mode)."
    authMode: String!
    "Accepted datagrams that carried a valid signature; accepted - acceptedSigned came unsigned."
    acceptedSigned: Float!
    "Messages accepted through each compatibility mode."
    compat: [ReasonCount!]!
    "A bounded sample of the latest rejected datagrams."
    rejectedSample: [RejectedDatagram!]!
    "UDP receive buffer granted by the kernel, bytes."
    recvBufferBytes: Float!
    "When the kernel granted less receive buffer than --recv-buffer asks: the sysctl to set. Null when it granted it all."
    recvBufferAdvice: String
    "The processes reading the UDP port (--ingest-workers): the daemon itself first, then its ingest workers."
    ingestWorkers: [IngestWorker!]!
    "Ingest workers started again after they died (see the daemon log)."
    ingestWorkerRestarts: Float!
    watermark: DateTime
    lastBatch: BatchRun
    backlogSegments: Float!
    storage: String!
    batchEngine: String!
    speedEngine: String!
    "Accepted messages per second over the last few seconds."
    messagesPerSecond: Float!
    startedAt: DateTime!
    "Scheduled jobs (ship, batch, speed, health): runs, failures, skipped overlapping ticks, the last error."
    jobs: [JobStatus!]!
    "Messages accepted but not yet fsynced to the write-ahead segment."
    unflushed: Float!
    "Accepted text waiting in memory (write-ahead segment or speed layer), bytes; at --max-unflushed new datagrams are rejected as storage_unavailable."
    unflushedBytes: Float!
    "While the write-ahead segments cannot be written (a full disk): the system error, e.g. ENOSPC: no space left on device. Null when writes work."
    storageError: String
    "When the current storage error began."
    storageErrorSince: DateTime
    "Unreadable lines moved from the daemon's own files to the quarantine, over the life of the data directory."
    quarantinedLines: Float!
    "Where each tier of data begins (retention removed what is older)."
    tiers: Tiers!
    "The last compaction since the daemon started (scheduled or asked for)."
    lastCompaction: CompactionRun
    "The last retention run since the daemon started (scheduled or asked for)."
    lastRetention: RetentionRun
  }
  "The oldest data each tier holds; null: nothing removed yet, it holds everything it was given."
  type Tiers {
    "The master dataset (--retention-raw, --retention-size)."
    rawFrom: DateTime
    "Minute views (--retention-minute); older windows are answered from hour views."
    minuteFrom: DateTime
    "Hour views (--retention-hour); older windows are answered from day views."
    hourFrom: DateTime
    "Day views (--retention-day); nothing older is answered."
    dayFrom: DateTime
  }
  type CompactionRun {
    startedAt: DateTime!
    finishedAt: DateTime!
    "Hour partitions compacted by this run."
    partitions: Float!
    "Files merged, and the bytes they took."
    filesBefore: Float!
    bytesBefore: Float!
    "Bytes of the Parquet files written."
    bytesAfter: Float!
    records: Float!
    "Files an interrupted earlier run had merged already, removed now."
    leftovers: Float!
  }
  type RetentionRun {
    startedAt: DateTime!
    finishedAt: DateTime!
    "Partitions removed from the master dataset, oldest first (date=YYYY-MM-DD/hour=HH)."
    partitions: [String!]!
    files: Float!
    bytes: Float!
    "View rows removed, per step."
    minuteRows: Float!
    hourRows: Float!
    dayRows: Float!
    tiers: Tiers!
  }
  type IngestWorker {
    "0 for the daemon itself, 1 to N-1 for its ingest workers."
    worker: Int!
    "The process now in this place (a restarted worker has a new one)."
    pid: Int!
    "Datagrams read by this place since the daemon started, across restarts; they add up to received."
    received: Float!
    startedAt: DateTime!
  }
  type JobStatus {
    name: String!
    schedule: String!
    runs: Float!
    failures: Float!
    skipped: Float!
    lastStartedAt: DateTime
    lastDurationMs: Float
    "The last run's failure as CODE: sentence (detail in the daemon log); null after a success."
    lastError: String
    "MASTER_RECORD_INVALID | STORE_UNAVAILABLE | DISK_FULL | ENGINE_FAILED | INTERRUPTED | JOB_FAILED"
    lastErrorCode: String
  }
  type ReasonCount { reason: String!  count: Float! }
  type RejectedDatagram { at: DateTime!  reason: String!  detail: String!  from: String!  excerpt: String! }
  type BatchRun {
    id: String!
    engine: String!
    "RUNNING | SUCCEEDED | FAILED"
    status: String!
    "INCREMENTAL | FULL"
    mode: String!
    startedAt: DateTime!
    finishedAt: DateTime
    watermark: DateTime
    records: Float
    partitions: Float
    "Why the run failed, as CODE: sentence (detail in the daemon log)."
    error: String
    "MASTER_RECORD_INVALID | STORE_UNAVAILABLE | DISK_FULL | ENGINE_FAILED | INTERRUPTED"
    errorCode: String
    "While a MapReduce job runs: map and reduce progress, percent."
    mapProgress: Float
    reduceProgress: Float
  }
`;
