/**
 * A job's options checked and turned into the values of its row: every
 * check `Queue.add`, `addMany` and `schedule` make before writing anything,
 * each failure a ConfigError naming the job and the field.
 */
import { ConfigError, JOB_STATUSES, type JobStatus } from '../config.js';
import type { JobFilter } from '../db/sql/job-filter.js';
import { NUL_ESCAPE } from '../json.js';
import type { AddedJob, JobSpec } from './queue.js';

/** How an error names the job: by its place in a batch, or not at all for a single job (index -1). */
function label(index: number): string {
  return index < 0 ? '' : `job ${index}: `;
}

/** Validates the spec of job number `index` (-1 for a single job) and returns the values of its row, in the insert's column order. */
export function toRow(spec: JobSpec, index: number): unknown[] {
  return [
    checkTask(spec.task, index),
    given(spec.queue, (value) => checkText(value, 'queue', index, MAX_NAME_BYTES)),
    payloadText(spec.payload, index),
    given(spec.priority, (value) => checkInteger(value, 'priority', index)),
    checkDate(spec.runAt, index),
    given(spec.maxAttempts, (value) => checkInteger(value, 'maxAttempts', index, 1)),
    given(spec.jobKey, (value) => checkText(value, 'jobKey', index, MAX_JOB_KEY_BYTES)),
    given(spec.timeout, (value) => checkInteger(value, 'timeout', index, 1)),
    given(spec.concurrencyKey, (value) => checkText(value, 'concurrencyKey', index, MAX_JOB_KEY_BYTES)),
    given(spec.concurrencyLimit, (value) => {
      if (spec.concurrencyKey === undefined) throw new ConfigError(`${label(index)}concurrencyLimit needs a concurrencyKey`);
      return checkInteger(value, 'concurrencyLimit', index, 1);
    }),
  ];
}

/** A job option's value checked, or null when it was not given (its default is then the task's, or the table's). */
function given<T>(value: T | undefined | null, check: (value: T) => T): T | null {
  return value === undefined || value === null ? null : check(value);
}

/** Longest task and queue name, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 1000;
/** Longest jobKey, in UTF-8 bytes: its unique index refuses entries much over 2,700 bytes. */
export const MAX_JOB_KEY_BYTES = 1000;

/** A text column: a string PostgreSQL can store (no NUL character), at most `maxBytes` long. */
export function checkText(value: unknown, what: string, index: number, maxBytes: number): string {
  if (typeof value !== 'string') throw new ConfigError(`${label(index)}${what} must be a string (got ${typeof value})`);
  if (value.includes('\0')) throw new ConfigError(`${label(index)}${what} contains a NUL character (\\u0000), which PostgreSQL text cannot hold`);
  const bytes = Buffer.byteLength(value);
  if (bytes > maxBytes) throw new ConfigError(`${label(index)}${what} is ${bytes} bytes long; the limit is ${maxBytes} bytes`);
  return value;
}

/** Validates specs and turns them into one array per column of the insert. */
export function toColumns(specs: readonly JobSpec[]): unknown[][] {
  const columns: unknown[][] = Array.from({ length: 10 }, () => []);
  specs.forEach((spec, index) => toRow(spec, specs.length > 1 ? index : -1).forEach((value, column) => columns[column]!.push(value)));
  return columns;
}

export function collect(
  rows: { job_id: string; job_key: string | null }[],
  specs: readonly JobSpec[],
  start: number,
  end: number,
  results: AddedJob[],
  missing: Map<string, number[]>,
): void {
  // Without a key every row was inserted, in order. With keys, match rows by
  // key; specs whose key was skipped are looked up afterwards.
  const byKey = new Map(rows.filter((r) => r.job_key !== null).map((r) => [r.job_key!, r.job_id]));
  const unkeyed = rows.filter((r) => r.job_key === null);
  let next = 0;
  for (let index = start; index < end; index++) {
    const key = specs[index]!.jobKey;
    if (key === undefined || key === null) {
      results[index] = { id: unkeyed[next++]!.job_id, created: true };
    } else if (byKey.has(key)) {
      results[index] = { id: byKey.get(key)!, created: true };
      byKey.delete(key); // a key repeated within one call is created once
    } else {
      missing.set(key, [...(missing.get(key) ?? []), index]);
    }
  }
}

function checkTask(task: unknown, index: number): string {
  if (typeof task !== 'string' || task.trim() === '') {
    throw new ConfigError(`${label(index)}task must be a non-empty string (got ${JSON.stringify(task)})`);
  }
  return checkText(task, 'task', index, MAX_NAME_BYTES);
}


function payloadText(payload: unknown, index: number): string {
  const text = JSON.stringify(payload ?? {});
  if (text === undefined) throw new ConfigError(`${label(index)}payload must be JSON-serialisable`);
  if (NUL_ESCAPE.test(text)) {
    throw new ConfigError(`${label(index)}payload contains a NUL character (\\u0000), which PostgreSQL's jsonb cannot hold; remove it or encode the data (base64)`);
  }
  return text;
}

export function checkInteger(value: number, what: string, index: number, min = -2_147_483_648): number {
  if (!Number.isInteger(value) || value < min || value > 2_147_483_647) {
    throw new ConfigError(`${label(index)}${what} must be a whole number from ${min} to 2147483647 (got ${value})`);
  }
  return value;
}

function checkDate(value: Date | undefined, index: number): Date | null {
  if (value === undefined) return null;
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new ConfigError(`${label(index)}runAt must be a valid Date`);
  }
  return value;
}

/** A filter checked: a known status, names PostgreSQL can hold, no field it does not know. */
export function checkFilter(filter: JobFilter): JobFilter {
  const unknown = Object.keys(filter).filter((key) => !['status', 'queue', 'task', 'search'].includes(key) && (filter as Record<string, unknown>)[key] !== undefined);
  if (unknown.length > 0) throw new ConfigError(`a job filter takes status, queue, task and search; got ${unknown.join(', ')}`);
  if (filter.status !== undefined && !JOB_STATUSES.includes(filter.status as JobStatus)) {
    throw new ConfigError(`status must be one of ${JOB_STATUSES.join(', ')} (got ${JSON.stringify(filter.status)})`);
  }
  for (const field of ['queue', 'task', 'search'] as const) {
    if (filter[field] !== undefined) checkText(filter[field], field, -1, MAX_NAME_BYTES);
  }
  return filter;
}

/** Whether an operation's target is a list of job ids (rather than a filter). */
export function isIds(target: readonly string[] | JobFilter): target is readonly string[] {
  return Array.isArray(target);
}
