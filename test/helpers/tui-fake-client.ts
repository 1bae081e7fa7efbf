/** An in-memory DashboardClient: the test pushes subscription data and answers queries from fixtures. */
import type {
  AlertView,
  BatchRunView,
  BucketView,
  ConnectionState,
  DashboardClient,
  PipelineView,
  RejectedView,
  ServiceHistory,
  ServiceRow,
  ServiceStatsView,
  Step,
} from '../../tui/types.js';

export interface QueryCall {
  kind: 'stats' | 'series';
  service: string | undefined;
  from: number;
  to: number;
  step?: Step;
}

export interface HistoryCall {
  from: number;
  to: number;
  /** Undefined asks for every service. */
  services: readonly string[] | undefined;
}

export class FakeClient implements DashboardClient {
  state: ConnectionState = { status: 'connected', since: 0 };
  statsFixture: ServiceStatsView[] = [];
  seriesFixture: BucketView[] = [];
  batchResult: BatchRunView | Error = new Error('no batch fixture');
  historyFixture: ServiceHistory[] = [];
  /** Answered by `alerts`, filtered by `active` as the daemon does (newest first is the caller's fixture order). */
  alertsFixture: AlertView[] = [];
  /** Answered by `rejectedSample`. */
  rejectedFixture: RejectedView[] = [];
  /** How many times `rejectedSample` was asked. */
  rejectedCalls = 0;
  readonly queries: QueryCall[] = [];
  readonly batchCalls: boolean[] = [];
  readonly historyCalls: HistoryCall[] = [];
  /** The `active` argument of each `alerts` query. */
  readonly alertCalls: (boolean | undefined)[] = [];
  private serviceSinks = new Set<(rows: ServiceRow[]) => void>();
  private pipelineSinks = new Set<(p: PipelineView) => void>();
  private alertSinks = new Set<(a: AlertView) => void>();
  private connectionSinks = new Set<(s: ConnectionState) => void>();

  pushServices(rows: ServiceRow[]): void {
    for (const sink of this.serviceSinks) sink(rows);
  }

  pushPipeline(p: PipelineView): void {
    for (const sink of this.pipelineSinks) sink(p);
  }

  pushAlert(alert: AlertView): void {
    for (const sink of this.alertSinks) sink(alert);
  }

  setConnection(state: ConnectionState): void {
    this.state = state;
    for (const sink of this.connectionSinks) sink(state);
  }

  get subscribers(): number {
    return this.serviceSinks.size + this.pipelineSinks.size + this.alertSinks.size;
  }

  connection(): ConnectionState {
    return this.state;
  }

  onConnection(listener: (s: ConnectionState) => void): () => void {
    this.connectionSinks.add(listener);
    return () => this.connectionSinks.delete(listener);
  }

  subscribeServices(onData: (rows: ServiceRow[]) => void): () => void {
    this.serviceSinks.add(onData);
    return () => this.serviceSinks.delete(onData);
  }

  subscribePipeline(onData: (p: PipelineView) => void): () => void {
    this.pipelineSinks.add(onData);
    return () => this.pipelineSinks.delete(onData);
  }

  async stats(from: number, to: number, service?: string): Promise<ServiceStatsView[]> {
    this.queries.push({ kind: 'stats', service, from, to });
    return this.statsFixture.filter((s) => service === undefined || s.service === service);
  }

  async series(service: string, from: number, to: number, step: Step): Promise<BucketView[]> {
    this.queries.push({ kind: 'series', service, from, to, step });
    return this.seriesFixture;
  }

  async history(from: number, to: number, services?: readonly string[]): Promise<ServiceHistory[]> {
    this.historyCalls.push({ from, to, services });
    return this.historyFixture.filter((h) => !services || services.includes(h.service));
  }

  async alerts(active?: boolean): Promise<AlertView[]> {
    this.alertCalls.push(active);
    return this.alertsFixture.filter((a) => active === undefined || (a.state === 'FIRING') === active);
  }

  subscribeAlerts(onData: (a: AlertView) => void): () => void {
    this.alertSinks.add(onData);
    return () => this.alertSinks.delete(onData);
  }

  async runBatch(full: boolean): Promise<BatchRunView> {
    this.batchCalls.push(full);
    if (this.batchResult instanceof Error) throw this.batchResult;
    return this.batchResult;
  }

  async rejectedSample(): Promise<RejectedView[]> {
    this.rejectedCalls++;
    return this.rejectedFixture;
  }

  close(): void {
    this.serviceSinks.clear();
    this.pipelineSinks.clear();
    this.alertSinks.clear();
  }
}
