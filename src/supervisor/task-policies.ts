/**
 * What a task module declares for its tasks (see TaskDefinition), as the
 * supervisor applies it: a job's own timeout wins over its task's, which
 * wins over `--job-timeout`; a task's backoff replaces the default one.
 * Queue, priority and attempts are applied where jobs are added (the
 * task_defaults table), since producers never load the task module.
 */
import type { TaskPolicy } from '../worker/tasks.js';
import { retryDelayMs } from './backoff.js';

export class TaskPolicies {
  constructor(
    private readonly policies: ReadonlyMap<string, TaskPolicy>,
    /** `--job-timeout`: for jobs whose task declares none (0: no limit). */
    private readonly jobTimeoutMs: number,
  ) {}

  /** The tasks of the module, in its order. */
  get names(): string[] {
    return [...this.policies.keys()];
  }

  /** The timeout of a job of `task` whose own is `own` (null for none). */
  timeoutMs(task: string, own: number | null): number {
    return own ?? this.policies.get(task)?.timeoutMs ?? this.jobTimeoutMs;
  }

  /** How long to wait before retrying a job of `task` after attempt `attempt` failed. */
  retryDelayMs(task: string, attempt: number): number {
    const backoff = this.policies.get(task)?.backoff;
    if (backoff?.type === 'fixed') return backoff.delayMs;
    return retryDelayMs(attempt, Math.random, backoff?.baseMs, backoff?.maxMs);
  }

  /** The task_defaults rows of every task (nulls where the task declares nothing): tasks, queues, priorities, attempts. */
  defaultsColumns(): [string[], (string | null)[], (number | null)[], (number | null)[]] {
    const entries = [...this.policies];
    return [
      entries.map(([name]) => name),
      entries.map(([, policy]) => policy.queue ?? null),
      entries.map(([, policy]) => policy.priority ?? null),
      entries.map(([, policy]) => policy.maxAttempts ?? null),
    ];
  }
}
