/**
 * The user's task module: an ES module exporting handlers by name, or a
 * directory with one module per task (the file name is the task name, the
 * default export its handler). Loaded inside worker threads only.
 */
import { spawnSync } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, parseDuration } from '../config.js';
import type { Logger } from '../log.js';
import type { Snooze } from './job-context.js';

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
  /**
   * Asks to run the job again after `delay` (ms, or a string such as
   * `'5m'`) without counting a failed attempt: `return ctx.snooze('30s')`
   * (or throw it). For polling external state.
   */
  snooze(delay: number | string): Snooze;
  /**
   * Reports how far the job got: a number (`ctx.progress(0.4)`) or a small
   * JSON value (`{ done: 40, of: 100 }`, at most 4 KB). The latest report is
   * stored with the job within about a second, and shown by `getJob` and
   * `supervisor job`. Throws on a value that cannot be stored.
   */
  progress(value: unknown): void;
}

/**
 * A task handler: receives the job's payload (any JSON value) and its
 * context. Returning (or resolving) succeeds the job; a throw or a rejected
 * promise fails the attempt.
 *
 * ```ts
 * export const sendEmail: TaskHandler<{ to: string }> = async (payload, ctx) => { ... };
 * ```
 */
export type TaskHandler<Payload = any, Result = unknown> = (payload: Payload, ctx: TaskContext) => Result | Promise<Result>;

/**
 * How long to wait before retrying a failed attempt: `exponential` waits
 * `base` × 2^(attempt − 1), at most `max`, with ±25% jitter (the default:
 * 5 s up to 1 h); `fixed` waits `delay` every time.
 */
export type Backoff =
  | { type: 'exponential'; base?: number | string; max?: number | string }
  | { type: 'fixed'; delay: number | string };

/**
 * Defaults a task declares for its jobs; a job's own options win. Durations
 * in ms or as strings such as `'30s'`.
 */
export interface TaskDefaults {
  queue?: string;
  priority?: number;
  maxAttempts?: number;
  timeout?: number | string;
  backoff?: Backoff;
}

/**
 * A task with its defaults, exported in place of a bare handler:
 *
 * ```ts
 * export const sendEmail: TaskDefinition<{ to: string }> = {
 *   queue: 'mail', maxAttempts: 5, backoff: { type: 'fixed', delay: '5s' },
 *   async handler(payload, ctx) { ... },
 * };
 * ```
 */
export interface TaskDefinition<Payload = any, Result = unknown> extends TaskDefaults {
  handler: TaskHandler<Payload, Result>;
}

/** A task's defaults as the supervisor uses them: validated, durations in ms. */
export interface TaskPolicy {
  queue?: string;
  priority?: number;
  maxAttempts?: number;
  timeoutMs?: number;
  backoff?: { type: 'exponential'; baseMs: number; maxMs: number } | { type: 'fixed'; delayMs: number };
}

export interface LoadedTask {
  handler: TaskHandler;
  policy: TaskPolicy;
}

export type TaskTable = Map<string, LoadedTask>;

/** A `--tasks` path that cannot be used; the message says why and how to fix it. */
export class TaskModuleError extends Error {
  override name = 'TaskModuleError';
}

/** Files of a task directory that are tasks (TypeScript too, where Node can run it). */
function isTaskFile(file: string): boolean {
  const ext = extname(file);
  return !/^[._]/.test(file) && !file.endsWith('.d.ts') && (['.js', '.mjs', '.cjs'].includes(ext) || (TYPESCRIPT.has(ext) && canRunTypeScript()));
}

/** Resolves `--tasks` to an absolute path, failing clearly when it does not exist. */
export async function resolveTasksPath(path: string | undefined): Promise<string> {
  if (!path) {
    throw new ConfigError('no task module given: pass --tasks ./path/to/tasks.js (or set SUPERVISOR_TASKS)');
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
    const task = name === 'default' ? undefined : asTask(value, name, file);
    if (task) tasks.set(name, task);
  }
  // `export default { sendEmail, resize }` is accepted too.
  const fallback = module.default;
  if (fallback && typeof fallback === 'object' && !isDefinition(fallback)) {
    for (const [name, value] of Object.entries(fallback)) {
      const task = tasks.has(name) ? undefined : asTask(value, name, file);
      if (task) tasks.set(name, task);
    }
  }
  return tasks;
}

function isDefinition(value: unknown): value is TaskDefinition {
  return typeof value === 'object' && value !== null && 'handler' in value;
}

/** An export as a task: a handler, or a definition with defaults; anything else is not a task. */
function asTask(value: unknown, name: string, file: string): LoadedTask | undefined {
  if (typeof value === 'function') return { handler: value as TaskHandler, policy: {} };
  if (!isDefinition(value)) return undefined;
  if (typeof value.handler !== 'function') throw new TaskModuleError(`${file}: task '${name}': handler must be a function`);
  return { handler: value.handler, policy: taskPolicy(value, `${file}: task '${name}'`) };
}

/** Validates a task's defaults; the error names the task and the field. */
export function taskPolicy(defaults: TaskDefaults, where: string): TaskPolicy {
  const fail = (field: string, must: string, got: unknown): never => {
    throw new TaskModuleError(`${where}: ${field} must be ${must} (got ${JSON.stringify(got)})`);
  };
  const policy: TaskPolicy = {};
  const known = ['handler', 'queue', 'priority', 'maxAttempts', 'timeout', 'backoff'];
  const unknown = Object.keys(defaults).filter((key) => !known.includes(key));
  if (unknown.length > 0) throw new TaskModuleError(`${where}: unknown field ${unknown.join(', ')}; a task definition takes ${known.join(', ')}`);
  const { queue, priority, maxAttempts, timeout, backoff } = defaults;
  const int = (value: number, min: number) => Number.isInteger(value) && value >= min && value <= 2_147_483_647;
  const ms = (field: string, value: number | string): number => {
    let parsed: number;
    try {
      parsed = typeof value === 'number' ? value : parseDuration(value, field);
    } catch {
      return fail(field, "a duration in ms or such as '30s'", value);
    }
    return int(parsed, 1) ? parsed : fail(field, 'a duration from 1 ms to about 24 days', value);
  };
  if (queue !== undefined) policy.queue = typeof queue === 'string' && queue.trim() !== '' ? queue : fail('queue', 'a queue name', queue);
  if (priority !== undefined) policy.priority = int(priority, -2_147_483_648) ? priority : fail('priority', 'a whole number', priority);
  if (maxAttempts !== undefined) policy.maxAttempts = int(maxAttempts, 1) ? maxAttempts : fail('maxAttempts', 'a whole number of at least 1', maxAttempts);
  if (timeout !== undefined) policy.timeoutMs = ms('timeout', timeout);
  if (backoff !== undefined) {
    if (backoff?.type === 'fixed') policy.backoff = { type: 'fixed', delayMs: ms('backoff.delay', backoff.delay) };
    else if (backoff?.type === 'exponential') {
      const baseMs = ms('backoff.base', backoff.base ?? 5000);
      const maxMs = ms('backoff.max', backoff.max ?? 3_600_000);
      if (baseMs > maxMs) fail('backoff.max', `at least backoff.base (${baseMs} ms)`, backoff.max);
      policy.backoff = { type: 'exponential', baseMs, maxMs };
    } else fail('backoff', "{ type: 'exponential', base, max } or { type: 'fixed', delay }", backoff);
  }
  return policy;
}

async function loadDirectory(dir: string): Promise<TaskTable> {
  const tasks: TaskTable = new Map();
  const files = (await readdir(dir)).filter(isTaskFile).sort();
  for (const file of files) {
    const name = basename(file, extname(file));
    const module = await importModule(join(dir, file));
    const task = asTask(module.default, name, join(dir, file)) ?? asTask(module[name], name, join(dir, file));
    if (!task) {
      throw new TaskModuleError(`${join(dir, file)}: the default export must be the handler of task '${name}' (or a definition with a handler)`);
    }
    tasks.set(name, task);
  }
  return tasks;
}

async function importModule(file: string): Promise<Record<string, unknown>> {
  if (TYPESCRIPT.has(extname(file)) && !canRunTypeScript()) {
    throw new TaskModuleError(
      `cannot load task module ${file}: it is TypeScript, which Node ${process.version} cannot run as is. ` +
        'Compile it (npx tsc) and pass the compiled JavaScript (.js or .mjs) to --tasks, or use Node 22.18 or newer, which strips the types itself',
    );
  }
  try {
    return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    throw new TaskModuleError(`cannot load task module ${file}: ${explainLoadError(error, file)}`);
  }
}

/** TypeScript files, which Node can import only where it strips types. */
const TYPESCRIPT = new Set(['.ts', '.mts', '.cts']);

function canRunTypeScript(): boolean {
  return Boolean((process.features as { typescript?: unknown }).typescript);
}

/**
 * Why a module did not load, as a person can act on it: a syntax error as
 * `node --check` shows it (file, line, the code and a caret), ES module
 * syntax in a CommonJS package with the fix, otherwise the error and the
 * stack frames in the user's own code.
 */
function explainLoadError(error: unknown, file: string): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === 'SyntaxError') {
    const where = syntaxErrorLocation(file);
    const esmInCommonJs = /Unexpected token 'export'|Cannot use import statement outside a module/.test(error.message) && extname(file) === '.js';
    const hint = esmInCommonJs
      ? '\nThe file uses ES module syntax (export/import), but the nearest package.json makes .js files CommonJS: rename it to .mjs, or add "type": "module" to that package.json'
      : '';
    return `${where ?? `SyntaxError: ${error.message}`}${hint}`;
  }
  const ownFrames = (error.stack ?? '').split('\n').filter((line) => !/\(node:|at node:|node:internal/.test(line));
  return ownFrames.join('\n') || `${error.name}: ${error.message}`;
}

/** `node --check`'s report of a syntax error: file:line, the line of code, a caret, the message. */
function syntaxErrorLocation(file: string): string | undefined {
  const checked = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8', timeout: 10_000 });
  const lines = (checked.stderr ?? '')
    .split('\n')
    .filter((line) => !/^\(node:\d+\) Warning|^\(Use `node --trace-warnings|^\s+at |^Node\.js v/.test(line));
  const text = lines.join('\n').trim();
  return text.includes('SyntaxError') ? text : undefined;
}
