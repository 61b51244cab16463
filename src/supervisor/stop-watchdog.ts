/**
 * The stop watchdog. A job past its timeout has its signal aborted by its
 * own thread, and a cancelled job by the main thread; if it is still
 * running a grace period later (a busy loop never sees its signal), the
 * watchdog terminates its thread. Only that job fails; the thread's other
 * jobs run again without losing an attempt.
 */
import { JobState } from '../worker/progress.js';
import type { WorkerPool } from '../worker/pool.js';
import type { Holdings } from './holdings.js';
import type { Service } from './service.js';

/** How long a timed-out or cancelled job has to return after its signal was aborted. */
export const ABORT_GRACE_MS = 1000;
/** How often the watchdog looks. */
const CHECK_MS = 100;

export class StopWatchdog implements Service {
  readonly name = 'stop watchdog';
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
    for (const { job, batch, index, cancelledAt } of this.holdings.values()) {
      if (batch.progress.state(index) !== JobState.Running) continue;
      const error = this.overdue(now, job.timeoutMs, batch.progress.startedAt(index), cancelledAt);
      // Logged once, by the pool, with the thread's other jobs.
      if (error) this.pool.terminate(batch.progress.threadId, { cause: 'stopped', culprit: { batch, index }, error });
    }
  }

  /** Why a running job must be stopped now, if it must. */
  private overdue(now: number, timeoutMs: number, startedAt: number, cancelledAt: number | undefined): string | undefined {
    const grace = `did not stop within ${ABORT_GRACE_MS / 1000}s of its abort signal, so its thread was terminated`;
    if (cancelledAt !== undefined && now - cancelledAt >= ABORT_GRACE_MS) return `JobCancelledError: job was cancelled and ${grace}`;
    if (timeoutMs > 0 && now - startedAt >= timeoutMs + ABORT_GRACE_MS) return `JobTimeoutError: job timed out after ${timeoutMs / 1000}s and ${grace}`;
    return undefined;
  }
}
