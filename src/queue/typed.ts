/**
 * Types that tie a Queue to a task module, so that task names and payloads
 * are checked where jobs are added:
 *
 * ```ts
 * import type * as tasks from './tasks.js';
 * const queue = new Queue<typeof tasks>();
 * await queue.add('sendEmail', { to: 'a@example.com' }); // checked against sendEmail's payload
 * ```
 */
import type { JobSpec } from './queue.js';

/** Any task module: what an untyped Queue accepts. */
export type AnyTasks = Record<string, any>;

/** The payload a task's handler takes: from a bare handler or from a definition's `handler`. */
export type TaskPayload<Task> = Task extends { handler: (payload: infer P, ...rest: any[]) => any }
  ? P
  : Task extends (payload: infer P, ...rest: any[]) => any
    ? P
    : never;

/** The exports of a task module that are tasks (handlers or definitions), by name. */
export type TaskName<Tasks> = Extract<
  { [K in keyof Tasks]: Tasks[K] extends ((...args: any[]) => any) | { handler: (...args: any[]) => any } ? K : never }[keyof Tasks],
  string
>;

/** One job for {@link Queue.addMany}, its payload checked against its task's. */
export type TaskJobSpec<Tasks> = {
  [K in TaskName<Tasks>]: Omit<JobSpec, 'task' | 'payload'> & { task: K; payload?: TaskPayload<Tasks[K]> };
}[TaskName<Tasks>];
