/**
 * The timeout watchdog. A job past its timeout has its signal aborted by
 * its own thread; if it is still running a grace period later (a busy loop
 * never sees its signal), the watchdog terminates its thread. Only that job
 * fails; the thread's other jobs run again without losing an attempt.
 */
import { JobState } from '../worker/progress.js';
import type { WorkerPool } from '../worker/pool.js';
import type { Holdings } from './holdings.js';
import type { Service } from './service.js';

/** How long a timed-out job has to return after its signal was aborted. */
export const ABORT_GRACE_MS = 1000;
/** How often the watchdog looks. */
const CHECK_MS = 100;

export class TimeoutWatchdog implements Service {
  readonly name = 'timeout watchdog';
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: Pick<WorkerPool, 'terminate'>,
    private readonly holdings: Holdings,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => this.check(Date.now()), CHECK_MS);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private check(now: number): void {
    for (const { job, batch, index } of this.holdings.values()) {
      if (job.timeoutMs === 0 || batch.progress.state(index) !== JobState.Running) continue;
      const ranMs = now - batch.progress.startedAt(index);
      if (ranMs < job.timeoutMs + ABORT_GRACE_MS) continue;
      const error = `JobTimeoutError: job timed out after ${job.timeoutMs / 1000}s and did not stop within ${ABORT_GRACE_MS / 1000}s of its abort signal, so its thread was terminated`;
      // Logged once, by the pool, with the thread's other jobs.
      this.pool.terminate(batch.progress.threadId, { cause: 'timeout', culprit: { batch, index }, error });
    }
  }
}
