/**
 * pg-supervisor: a durable job queue on PostgreSQL whose jobs run in worker threads.
 *
 * - {@link Queue} adds and manages jobs from an application.
 * - {@link startSupervisor} runs a supervisor inside an application (the
 *   `supervisor` command does the same from the shell).
 * - {@link TaskHandler}, {@link TaskDefinition} and {@link TaskContext} type a task module.
 */
export {
  Queue,
  type AddedJob,
  type JobDetails,
  type JobFilter,
  type JobOptions,
  type JobRow,
  type JobSpec,
  type JobStatus,
  type QueueOptions,
  type QueueSettings,
  type QueueState,
  type RateLimit,
  type Schedule,
  type ScheduleOptions,
} from './queue/queue.js';
export { JobFailedError, WaitTimeoutError } from './queue/errors.js';
export type { TaskJobSpec, TaskPayload } from './queue/typed.js';
export {
  startSupervisor,
  Supervisor,
  type JobEndEvent,
  type JobEvent,
  type SupervisorEvents,
  type SupervisorOptions,
  type SupervisorStats,
} from './supervisor/supervisor.js';
export type { Backoff, TaskContext, TaskDefaults, TaskDefinition, TaskHandler } from './worker/tasks.js';
export type { Snooze } from './worker/job-context.js';
export { ConfigError } from './config.js';
