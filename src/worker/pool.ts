/**
 * The piscina pool that runs every job off the main thread. Jobs travel in
 * batches (one piscina task carries several jobs) because per-task messaging
 * costs more main-thread CPU than a no-op job itself (the README's
 * Performance section has the measurements).
 *
 * A thread that dies (process.exit(), out of memory, or terminated by us for
 * a timeout or at the end of a shutdown) takes its batches with it; the pool
 * then settles each of their jobs from the shared progress, after the thread
 * has really exited, so nothing it did is missed.
 */
import { once } from 'node:events';
import type { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { Logger } from '../log.js';
import type { Batch, JobResult, ThreadDeath } from './batch.js';
import { JobState } from './progress.js';
import { describeError } from './errors.js';
import { TaskModuleError, type TaskPolicy } from './tasks.js';
import type { JobEnvelope, Outcome, ThreadData } from './protocol.js';

export interface PoolOptions extends ThreadData {
  threads: number;
  /** Heap limit of each thread in MB (`resourceLimits.maxOldGenerationSizeMb`); 0 for Node's default. */
  threadMemoryMb: number;
  /** The URL the supervisor connects with, if given: kept out of the threads' environment. */
  databaseUrl: string;
}

/** Variables that carry the supervisor's own database credentials. */
const CONNECTION_VARIABLES = ['DATABASE_URL', 'PGPASSWORD'];

/**
 * The environment of the worker threads: the process's, less the
 * supervisor's own connection settings (DATABASE_URL, PGPASSWORD, and any
 * variable holding the URL in use), which task code has no business reading.
 */
export function threadEnvironment(env: NodeJS.ProcessEnv, databaseUrl: string): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(env).filter(([name, value]) => !CONNECTION_VARIABLES.includes(name) && (databaseUrl === '' || value !== databaseUrl)),
  );
}

/** Worker threads running batches of jobs. */
export class WorkerPool {
  /** Batches on a thread and not yet settled, to tell which jobs a thread's death touches. */
  private readonly active = new Set<Batch>();
  private readonly piscina: Piscina;
  /** Why we terminated a thread, by thread id, until its batches are settled. */
  private readonly deaths = new Map<number, ThreadDeath>();
  private closing: Promise<void> | undefined;

  constructor(
    readonly options: PoolOptions,
    private readonly log: Logger,
  ) {
    // Only what a thread needs: the options object may carry more (the
    // supervisor passes its whole config).
    const { threads, threadMemoryMb, tasksPath, concurrency, logLevel, logFormat, progressChannel } = options;
    const workerData: ThreadData = { tasksPath, concurrency, logLevel, logFormat, progressChannel };
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
      // Jobs run at a lower priority than the main thread and the database:
      // when jobs fill every core, claims, heartbeats and metrics still get
      // the CPU at once.
      niceIncrement: 10,
      // We keep our own run times (supervisor_job_duration_seconds).
      recordTiming: false,
      workerData,
      env: threadEnvironment(process.env, options.databaseUrl),
      ...(threadMemoryMb > 0 ? { resourceLimits: { maxOldGenerationSizeMb: threadMemoryMb } } : {}),
    });
    // An error a thread raises outside any task (a stray timer's throw) would
    // otherwise exit the whole process.
    this.piscina.on('error', (error: unknown) => this.log.error({ err: error }, 'worker thread error outside a job'));
  }

  /** Loads the task module in a thread and returns its task names; rejects with the load error. */
  async describeTasks(): Promise<Map<string, TaskPolicy>> {
    try {
      return new Map((await this.piscina.run(null, { name: 'describeTasks' })) as [string, TaskPolicy][]);
    } catch (error) {
      // The thread's TaskModuleError arrives as a plain Error: its message is what the user needs.
      throw new TaskModuleError((error as Error).message);
    }
  }

  /** Runs a batch; resolves with the result of every job not settled early, whatever happens to the thread. */
  async run<J extends JobEnvelope>(batch: Batch<J>): Promise<Map<number, JobResult>> {
    this.active.add(batch);
    try {
      const outcomes = (await this.piscina.run(batch.task)) as Outcome[];
      return batch.settle(outcomes);
    } catch (error) {
      const threadId = batch.progress.threadId;
      if (threadId === 0) return this.neverStarted(batch, error);
      await this.exited(threadId);
      let death = this.deaths.get(threadId);
      if (!death) {
        const crash = this.crash(error, threadId);
        this.logDeath(threadId, crash);
        death = this.remember(threadId, crash);
      }
      return batch.settleAfterDeath(death);
    } finally {
      this.active.delete(batch);
    }
  }

  /**
   * The batch was handed to a thread that ended before it picked the batch
   * up (a job beside it had just ended the thread): every job runs again
   * without losing an attempt. The death is logged by the batch that
   * caused it, so this is no error line of its own.
   */
  private neverStarted(batch: Batch, error: unknown): Map<number, JobResult> {
    const cause = describeError(error);
    this.log.debug({ jobs: batch.jobs.length, error: cause }, 'a thread ended before it started a batch: its jobs run again');
    return batch.settleAfterDeath({ cause: 'crash', culpritKnown: false, error: cause });
  }

  /** Terminates the thread with id `threadId`, recording why for its batches (and logging it, once). */
  terminate(threadId: number, death: ThreadDeath): void {
    const worker = this.worker(threadId);
    if (!worker || this.deaths.has(threadId)) return;
    this.remember(threadId, death);
    if (death.cause !== 'shutdown') this.logDeath(threadId, death);
    void worker.terminate();
  }

  /**
   * One error line per thread death, naming the job to blame (or, when none
   * can be told apart, every job that was running there) and how many
   * others on the thread run again without losing an attempt.
   */
  private logDeath(threadId: number, death: Exclude<ThreadDeath, { cause: 'shutdown' }>): void {
    const blamed: { jobId: string; task: string }[] = [];
    let others = 0;
    for (const batch of this.active) {
      if (batch.progress.threadId !== threadId) continue;
      batch.jobs.forEach((job, index) => {
        const state = batch.progress.state(index);
        if (state !== JobState.Running && state !== JobState.Queued) return;
        const isCulprit = death.cause === 'stopped'
          ? death.culprit.batch === batch && death.culprit.index === index
          : state === JobState.Running && (!death.culpritKnown || batch.progress.culprit === index);
        if (isCulprit) blamed.push({ jobId: job.id, task: job.task });
        else others++;
      });
    }
    const who = blamed.length === 0 ? 'no job was running' : blamed.map((job) => `job ${job.jobId} (${job.task})`).join(', ');
    this.log.error(
      { threadId, cause: death.cause, blamed, rerun: others, error: death.error },
      `worker thread ${threadId} ended: ${death.error}. Failed: ${who}; ${others} other job(s) on it run again without losing an attempt`,
    );
  }

  /** Keeps why a thread died while its batches settle (all of them see the same death). */
  private remember(threadId: number, death: ThreadDeath): ThreadDeath {
    this.deaths.set(threadId, death);
    setTimeout(() => this.deaths.delete(threadId), 10_000).unref();
    return death;
  }

  /** Terminates every thread busy with a batch (the end of a shutdown). */
  terminateBusy(): void {
    for (const batch of this.active) this.terminate(batch.progress.threadId, { cause: 'shutdown' });
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

  private worker(threadId: number): Worker | undefined {
    return threadId === 0 ? undefined : this.piscina.threads.find((thread) => thread.threadId === threadId);
  }

  /** Waits until the thread has exited, so it cannot start anything after we read its progress. */
  private async exited(threadId: number): Promise<void> {
    const worker = this.worker(threadId);
    if (!worker) return;
    await Promise.race([once(worker, 'exit'), new Promise((resolve) => setTimeout(resolve, 5000))]);
  }

  private crash(error: unknown, threadId: number): Extract<ThreadDeath, { cause: 'crash' }> {
    const culpritKnown = [...this.active].some((b) => b.progress.threadId === threadId && b.progress.culprit >= 0);
    const code = (error as { code?: string }).code;
    if (code === 'ERR_WORKER_OUT_OF_MEMORY') {
      return {
        cause: 'crash',
        culpritKnown,
        error: `the job ran out of memory: its thread exceeded the heap limit (--thread-memory-mb ${this.options.threadMemoryMb || "0, Node's default"}) and was stopped`,
      };
    }
    const exit = /worker exited with code: (\d+)/.exec(String((error as Error).message));
    if (exit) {
      const error = culpritKnown
        ? `the handler called process.exit(${exit[1]}), which ended its worker thread`
        : `the job's thread exited with code ${exit[1]} while the job ran`;
      return { cause: 'crash', culpritKnown, error };
    }
    return { cause: 'crash', culpritKnown, error: `the job's thread died: ${describeError(error)}` };
  }
}
