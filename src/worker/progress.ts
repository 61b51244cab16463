/**
 * Per-batch progress in shared memory, written by the thread that runs the
 * batch and read (and for a queued job, taken back) by the main thread.
 * It lets the main thread know, without any message, which job a thread is
 * on and since when (for timeouts), and which jobs of a dead thread had
 * finished, were running, or never started.
 *
 * A queued job is claimed by exactly one side with compare-and-swap: the
 * thread moves it QUEUED → RUNNING to start it, the main thread QUEUED →
 * RELEASED to take it back (shutdown, lost lease). Whoever wins decides.
 */

export const enum JobState {
  Queued = 0,
  Running = 1,
  Succeeded = 2,
  Failed = 3,
  /** Taken back by the main thread before it started; the thread skips it. */
  Released = 4,
}

/** Why the main thread asks a running job to stop (its AbortSignal's reason). */
export const enum AbortReason {
  None = 0,
  Timeout = 1,
  LeaseLost = 2,
  Shutdown = 3,
  Cancelled = 4,
}

/** Int32 slots before the per-job ones: the id of the thread running the batch; 1 + the job that called process.exit(). */
const HEADER = 2;

export class BatchProgress {
  /** [threadId, culprit + 1, state × n, abort × n] */
  private readonly ints: Int32Array;
  /** [start time × n, finish time × n] (epoch ms) */
  private readonly times: Float64Array;

  constructor(
    readonly buffer: SharedArrayBuffer,
    readonly size: number,
  ) {
    this.times = new Float64Array(buffer, 0, 2 * size);
    this.ints = new Int32Array(buffer, size * 16, HEADER + 2 * size);
  }

  /** Shared memory for a batch of `size` jobs, every job queued. */
  static create(size: number): BatchProgress {
    return new BatchProgress(new SharedArrayBuffer(size * 16 + (HEADER + 2 * size) * 4), size);
  }

  /** The thread running the batch, or 0 before it picked the batch up. */
  get threadId(): number {
    return Atomics.load(this.ints, 0);
  }

  set threadId(id: number) {
    Atomics.store(this.ints, 0, id);
  }

  /** Thread: job `index` is ending the thread (it called process.exit()). */
  markCulprit(index: number): void {
    Atomics.store(this.ints, 1, index + 1);
  }

  /** The job that ended the thread, or -1 when none is known. */
  get culprit(): number {
    return Atomics.load(this.ints, 1) - 1;
  }

  state(index: number): JobState {
    return Atomics.load(this.ints, HEADER + index) as JobState;
  }

  /** Thread: starts job `index` unless the main thread took it back. */
  tryStart(index: number, now: number): boolean {
    this.times[index] = now;
    return Atomics.compareExchange(this.ints, HEADER + index, JobState.Queued, JobState.Running) === JobState.Queued;
  }

  /** Thread: records how job `index` ended. */
  finish(index: number, succeeded: boolean, now: number): void {
    this.times[this.size + index] = now;
    Atomics.store(this.ints, HEADER + index, succeeded ? JobState.Succeeded : JobState.Failed);
  }

  /** Main: takes back job `index` if it has not started; true when it did. */
  tryRelease(index: number): boolean {
    return Atomics.compareExchange(this.ints, HEADER + index, JobState.Queued, JobState.Released) === JobState.Queued;
  }

  /** When job `index` started (epoch ms); meaningful once it is running. */
  startedAt(index: number): number {
    return this.times[index]!;
  }

  /** How long job `index` ran (ms): to its finish, or to `now` if it is still running or was cut short. */
  ranFor(index: number, now: number): number {
    const finished = this.times[this.size + index]!;
    return (finished > 0 ? finished : now) - this.times[index]!;
  }

  /** Main: asks the thread to abort job `index`'s signal. */
  requestAbort(index: number, reason: AbortReason): void {
    Atomics.store(this.ints, HEADER + this.size + index, reason);
  }

  abortRequested(index: number): AbortReason {
    return Atomics.load(this.ints, HEADER + this.size + index) as AbortReason;
  }
}
