/**
 * pg-supervisor/testing: helpers for an application's own tests.
 *
 * - {@link runDueJobs} runs the jobs that are due against the test database
 *   with a real supervisor, and returns their outcomes.
 * - {@link runTask} calls one handler with a realistic `ctx`, on the
 *   caller's thread, for unit tests with stubs.
 */
export { runDueJobs, type JobOutcome, type RunDueJobsOptions } from './run-due-jobs.js';
export { runTask, type RunTaskOptions, type TaskRun } from './run-task.js';
