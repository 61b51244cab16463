/**
 * The piscina pool that runs every job off the main thread. Jobs travel in
 * batches (one piscina task carries several jobs) because per-task messaging
 * costs more main-thread CPU than a no-op job itself; see
 * shared/notes/piscina-dispatch.md for the measurements.
 */
import { Piscina } from 'piscina';
import type { Logger } from '../log.js';
import type { JobEnvelope, Outcome, ThreadData } from './protocol.js';

export interface PoolOptions extends ThreadData {
  threads: number;
}

/** Worker threads running batches of jobs. */
export class WorkerPool {
  private readonly piscina: Piscina;
  private closing: Promise<void> | undefined;

  constructor(readonly options: PoolOptions, private readonly log: Logger) {
    const { threads, ...workerData } = options;
    this.piscina = new Piscina({
      filename: new URL('./thread.js', import.meta.url).href,
      minThreads: threads,
      maxThreads: threads,
      // Each batch holds at least one job and the supervisor never has more
      // than threads × concurrency jobs out, so this never queues a batch a
      // thread could have started.
      concurrentTasksPerWorker: options.concurrency,
      idleTimeout: Number.POSITIVE_INFINITY,
      // 'async' keeps an idle thread's event loop turning, so timers a
      // handler left behind fire now and not during some later job.
      atomics: 'async',
      workerData: workerData satisfies ThreadData,
    });
    // An error a thread raises outside any task (a stray timer's throw) would
    // otherwise exit the whole process.
    this.piscina.on('error', (error: unknown) => this.log.error({ err: error }, 'worker thread error outside a job'));
  }

  /** Loads the task module in a thread and returns its task names; rejects with the load error. */
  async describeTasks(): Promise<string[]> {
    return (await this.piscina.run(null, { name: 'describeTasks' })) as string[];
  }

  /** Runs a batch; resolves with one outcome per job, or rejects if the thread died. */
  async runBatch(jobs: JobEnvelope[]): Promise<Outcome[]> {
    return (await this.piscina.run(jobs)) as Outcome[];
  }

  /** Threads currently alive. */
  get threadCount(): number {
    return this.piscina.threads.length;
  }

  /** Stops every thread; tasks still running are rejected. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= this.piscina.destroy();
    return this.closing;
  }
}
