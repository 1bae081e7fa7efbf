/** An in-memory DashboardClient: the test pushes subscription data and answers queries from fixtures. */
import type {
  BatchRunView,
  BucketView,
  ConnectionState,
  DashboardClient,
  PipelineView,
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

export class FakeClient implements DashboardClient {
  state: ConnectionState = { status: 'connected', since: 0 };
  statsFixture: ServiceStatsView[] = [];
  seriesFixture: BucketView[] = [];
  batchResult: BatchRunView | Error = new Error('no batch fixture');
  readonly queries: QueryCall[] = [];
  readonly batchCalls: boolean[] = [];
  private serviceSinks = new Set<(rows: ServiceRow[]) => void>();
  private pipelineSinks = new Set<(p: PipelineView) => void>();
  private connectionSinks = new Set<(s: ConnectionState) => void>();

  pushServices(rows: ServiceRow[]): void {
    for (const sink of this.serviceSinks) sink(rows);
  }

  pushPipeline(p: PipelineView): void {
    for (const sink of this.pipelineSinks) sink(p);
  }

  setConnection(state: ConnectionState): void {
    this.state = state;
    for (const sink of this.connectionSinks) sink(state);
  }

  get subscribers(): number {
    return this.serviceSinks.size + this.pipelineSinks.size;
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

  async runBatch(full: boolean): Promise<BatchRunView> {
    this.batchCalls.push(full);
    if (this.batchResult instanceof Error) throw this.batchResult;
    return this.batchResult;
  }

  close(): void {
    this.serviceSinks.clear();
    this.pipelineSinks.clear();
  }
}
