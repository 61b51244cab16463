/**
 * The user's task module: an ES module exporting handlers by name, or a
 * directory with one module per task (the file name is the task name, the
 * default export its handler). Loaded inside worker threads only.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from '../log.js';

/** What a handler receives beside its payload. */
export interface TaskContext {
  /** The job's id (a bigint, as a string). Stable across attempts: use it to make handlers idempotent. */
  jobId: string;
  task: string;
  queue: string;
  /** 1 on the first run, 2 on the first retry, and so on. */
  attempt: number;
  maxAttempts: number;
  /** Aborted when the job must stop (timeout, shutdown); stop cooperatively when it fires. */
  signal: AbortSignal;
  /** A logger whose lines carry the job id, task and attempt. */
  logger: Logger;
}

/** A task handler. A returned promise that rejects, or a throw, fails the job. */
export type TaskHandler = (payload: any, ctx: TaskContext) => unknown;

export type TaskTable = Map<string, TaskHandler>;

/** A `--tasks` path that cannot be used; the message says why and how to fix it. */
export class TaskModuleError extends Error {
  override name = 'TaskModuleError';
}

const MODULE_EXTENSIONS = new Set(['.js', '.mjs', '.cjs']);

/** Resolves `--tasks` to an absolute path, failing clearly when it does not exist. */
export async function resolveTasksPath(path: string | undefined): Promise<string> {
  if (!path) {
    throw new TaskModuleError('no task module given: pass --tasks ./path/to/tasks.js (or set SUPERVISOR_TASKS)');
  }
  const absolute = resolve(path);
  try {
    await stat(absolute);
  } catch {
    throw new TaskModuleError(`--tasks ${path}: no such file or directory (looked for ${absolute})`);
  }
  return absolute;
}

/** Imports the task module (file or directory) and returns its handlers by task name. */
export async function loadTasks(absolutePath: string): Promise<TaskTable> {
  const isDirectory = (await stat(absolutePath)).isDirectory();
  const tasks = isDirectory ? await loadDirectory(absolutePath) : await loadFile(absolutePath);
  if (tasks.size === 0) {
    throw new TaskModuleError(
      `${absolutePath} defines no task: ${
        isDirectory
          ? 'add files such as sendEmail.js whose default export is the handler'
          : 'export handlers by name, e.g. export async function sendEmail(payload, ctx) {}'
      }`,
    );
  }
  return tasks;
}

async function loadFile(file: string): Promise<TaskTable> {
  const module = await importModule(file);
  const tasks: TaskTable = new Map();
  for (const [name, value] of Object.entries(module)) {
    if (typeof value === 'function' && name !== 'default') tasks.set(name, value as TaskHandler);
  }
  // `export default { sendEmail, resize }` is accepted too.
  const fallback = module.default;
  if (fallback && typeof fallback === 'object') {
    for (const [name, value] of Object.entries(fallback)) {
      if (typeof value === 'function' && !tasks.has(name)) tasks.set(name, value as TaskHandler);
    }
  }
  return tasks;
}

async function loadDirectory(dir: string): Promise<TaskTable> {
  const tasks: TaskTable = new Map();
  const files = (await readdir(dir)).filter((f) => MODULE_EXTENSIONS.has(extname(f)) && !/^[._]/.test(f)).sort();
  for (const file of files) {
    const name = basename(file, extname(file));
    const module = await importModule(join(dir, file));
    const handler = typeof module.default === 'function' ? module.default : module[name];
    if (typeof handler !== 'function') {
      throw new TaskModuleError(`${join(dir, file)}: the default export must be the handler of task '${name}'`);
    }
    tasks.set(name, handler as TaskHandler);
  }
  return tasks;
}

async function importModule(file: string): Promise<Record<string, unknown>> {
  try {
    return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    const reason = error instanceof Error ? (error.stack ?? error.message) : String(error);
    throw new TaskModuleError(`cannot load task module ${file}: ${reason}`);
  }
}
