/**
 * Every option of pg-supervisor, defined once: its CLI flag, its environment
 * variable, its default and its validation. The CLI builds its flags from
 * these definitions and `startSupervisor()` validates programmatic options
 * with the same parsers, so the two can never disagree.
 */
import { availableParallelism, totalmem } from 'node:os';
import { resolve as resolvePath } from 'node:path';

/** A bad option value. The message names the flag, the env var and the fix. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Parser<T> = (raw: unknown, where: string) => T;

/** One option: flag, env var, default, description and parser. */
export interface OptionSpec<T> {
  /** The CLI flag without dashes, e.g. `threads`. */
  flag: string;
  /** The environment variable that sets it when the flag is absent. */
  env: string;
  describe: string;
  /** The value used when neither the flag nor the env var is given. */
  default: T;
  /** How the default reads in `--help` and the README. */
  defaultText?: string;
  parse: Parser<T>;
  /** `boolean` options take no value on the command line (`--no-migrate`). */
  boolean?: true;
}

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `500ms`, `30s`, `5m`, `1h`, `14d` or a bare number of milliseconds. */
export function parseDuration(raw: unknown, where: string): number {
  const text = String(raw).trim();
  const match = DURATION.exec(text);
  if (!match) {
    throw new ConfigError(`${where} must be a duration such as 500ms, 30s, 5m, 1h or 14d (got '${text}')`);
  }
  return Math.round(Number(match[1]) * UNIT_MS[match[2] ?? 'ms']!);
}

function integer(min: number, max: number): Parser<number> {
  return (raw, where) => {
    const text = String(raw).trim();
    const value = Number(text);
    if (text === '' || !Number.isInteger(value) || value < min || value > max) {
      throw new ConfigError(`${where} must be a whole number from ${min} to ${max} (got '${text}')`);
    }
    return value;
  };
}

/** The longest duration a timer can wait (Node fires longer ones at once) and an int column can hold: about 24.8 days. */
export const MAX_DURATION_MS = 2_147_483_647;

function durationAtLeast(minMs: number): Parser<number> {
  return (raw, where) => {
    const ms = parseDuration(raw, where);
    if (ms < minMs) throw new ConfigError(`${where} must be at least ${minMs}ms (got '${String(raw)}')`);
    if (ms > MAX_DURATION_MS) throw new ConfigError(`${where} must be at most ${MAX_DURATION_MS}ms, about 24.8 days (got '${String(raw)}')`);
    return ms;
  };
}

/** How long to keep finished jobs: any duration up to a thousand years, or 0 for forever. */
function keepPeriod(raw: unknown, where: string): number {
  if (!DURATION.test(String(raw).trim())) {
    throw new ConfigError(`${where} must be a duration such as 12h, 7d or 30d, or 0 to keep these jobs forever (got '${String(raw)}')`);
  }
  const ms = parseDuration(raw, where);
  if (ms > 1000 * 365 * 86_400_000) throw new ConfigError(`${where} must be at most 1000 years; give 0 to keep these jobs forever (got '${String(raw)}')`);
  return ms;
}

function oneOf<T extends string>(...choices: T[]): Parser<T> {
  return (raw, where) => {
    const text = String(raw).trim() as T;
    if (!choices.includes(text)) {
      throw new ConfigError(`${where} must be one of ${choices.join(', ')} (got '${text}')`);
    }
    return text;
  };
}

function bool(raw: unknown, where: string): boolean {
  if (typeof raw === 'boolean') return raw;
  const text = String(raw).trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(text)) return true;
  if (['0', 'false', 'no', 'off'].includes(text)) return false;
  throw new ConfigError(`${where} must be true or false (got '${String(raw)}')`);
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

function schemaName(raw: unknown, where: string): string {
  const text = String(raw).trim();
  if (!IDENTIFIER.test(text)) {
    throw new ConfigError(
      `${where} must be a lower-case SQL identifier (letters, digits, underscores; got '${text}')`,
    );
  }
  return text;
}

/**
 * Parses a PostgreSQL URL. pg and libpq also accept a user name followed by
 * an empty host (`postgres://app@/db?host=/var/run/postgresql`, the usual
 * way to name a Unix socket), which WHATWG URL rejects; that host is read as
 * `localhost`, which is also what pg uses when no `host` parameter is given.
 */
export function parseDatabaseUrl(text: string): URL {
  return new URL(text.replace(/^(postgres(?:ql)?:\/\/[^/?#@]*@)(?=[/?#]|$)/i, '$1localhost'));
}

/** Validates a PostgreSQL URL, so a typo fails here and not deep inside `pg`. */
export function databaseUrl(raw: unknown, where: string): string | undefined {
  if (raw === undefined || raw === null || String(raw).trim() === '') return undefined;
  const text = String(raw).trim();
  let url: URL;
  try {
    url = parseDatabaseUrl(text);
  } catch {
    throw new ConfigError(
      `${where} is not a valid URL (expected postgres://user:password@host:5432/database)`,
    );
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError(
      `${where} must start with postgres:// or postgresql:// (got '${url.protocol}//')`,
    );
  }
  if (url.port !== '' && !/^\d+$/.test(url.port)) {
    throw new ConfigError(`${where} has an invalid port '${url.port}'`);
  }
  return text;
}

function queueList(raw: unknown, where: string): string[] {
  const names = String(raw)
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  if (names.some((name) => name.length > 200)) {
    throw new ConfigError(`${where} has a queue name longer than 200 characters`);
  }
  return names;
}

function optionalText(raw: unknown): string | undefined {
  const text = raw === undefined ? '' : String(raw).trim();
  return text === '' ? undefined : text;
}

/** A parser that leaves an unset value (empty text) undefined. */
function optional<T>(parse: Parser<T>): Parser<T | undefined> {
  return (raw, where) => (optionalText(raw) === undefined ? undefined : parse(raw, where));
}

function requiredText(what: string): Parser<string> {
  return (raw, where) => {
    const text = String(raw).trim();
    if (text === '') throw new ConfigError(`${where} must not be empty (${what})`);
    return text;
  };
}

/** Options shared by every command that talks to the database. */
export const connectionOptions = {
  databaseUrl: {
    flag: 'database-url',
    env: 'DATABASE_URL',
    describe:
      'PostgreSQL URL (a Unix socket: postgres://user@/database?host=/var/run/postgresql). When unset, an embedded PostgreSQL is started (or reused) with its data in --data-dir',
    default: undefined,
    defaultText: 'embedded PostgreSQL',
    parse: databaseUrl,
  } satisfies OptionSpec<string | undefined>,
  pooler: {
    flag: 'pooler',
    env: 'SUPERVISOR_POOLER',
    describe:
      'The database URL goes through a pooler in transaction mode (PgBouncer, RDS Proxy, Supavisor): statements are sent unprepared and with no session settings, and a supervisor LISTENs on --listen-url or else polls',
    default: false,
    parse: bool,
    boolean: true,
  } satisfies OptionSpec<boolean>,
  dataDir: {
    flag: 'data-dir',
    env: 'SUPERVISOR_DATA_DIR',
    describe: 'Folder of the embedded PostgreSQL (used when no database URL is given)',
    default: undefined,
    defaultText: '.supervisor/ in the project root (the nearest folder with a package.json)',
    parse: (raw: unknown) => {
      const text = optionalText(raw);
      return text === undefined ? undefined : resolvePath(text);
    },
  } satisfies OptionSpec<string | undefined>,
  connectTimeout: {
    flag: 'connect-timeout',
    env: 'SUPERVISOR_CONNECT_TIMEOUT',
    describe: 'Give up on a database connection that has not answered within this time',
    default: 10_000,
    defaultText: '10s',
    parse: durationAtLeast(100),
  } satisfies OptionSpec<number>,
  schema: {
    flag: 'schema',
    env: 'SUPERVISOR_SCHEMA',
    describe: 'Database schema that holds the jobs and supervisors tables',
    default: 'supervisor',
    parse: schemaName,
  } satisfies OptionSpec<string>,
  logLevel: {
    flag: 'log-level',
    env: 'SUPERVISOR_LOG_LEVEL',
    describe: 'Least severe log level written: trace, debug, info, warn, error, fatal or silent',
    default: 'info' as LogLevel,
    parse: oneOf<LogLevel>('trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'),
  } satisfies OptionSpec<LogLevel>,
  logFormat: {
    flag: 'log-format',
    env: 'SUPERVISOR_LOG_FORMAT',
    describe: 'json: one JSON object per line; pretty: coloured lines for a terminal',
    // Pretty for a person at a terminal, JSON for a log collector.
    default: (process.stdout.isTTY ? 'pretty' : 'json') as LogFormat,
    defaultText: 'pretty on a terminal, json otherwise',
    parse: oneOf<LogFormat>('json', 'pretty'),
  } satisfies OptionSpec<LogFormat>,
};

/** Options of `supervisor run`, the long-running supervisor. */
export const runOptions = {
  tasks: {
    flag: 'tasks',
    env: 'SUPERVISOR_TASKS',
    describe: 'Task module: an ES module exporting handlers by name, or a directory with one file per task',
    default: undefined,
    defaultText: 'required',
    parse: (raw: unknown) => optionalText(raw),
  } satisfies OptionSpec<string | undefined>,
  threads: {
    flag: 'threads',
    env: 'SUPERVISOR_THREADS',
    describe: 'Worker threads that run jobs',
    default: availableParallelism(),
    defaultText: 'the number of CPU cores',
    parse: integer(1, 1024),
  } satisfies OptionSpec<number>,
  concurrency: {
    flag: 'concurrency',
    env: 'SUPERVISOR_CONCURRENCY',
    describe: 'Jobs one thread runs at once (raise it for async, I/O-bound handlers)',
    default: 1,
    parse: integer(1, 10_000),
  } satisfies OptionSpec<number>,
  queues: {
    flag: 'queues',
    env: 'SUPERVISOR_QUEUES',
    describe: 'Comma-separated queues to serve',
    default: [] as string[],
    defaultText: 'every queue',
    parse: queueList,
  } satisfies OptionSpec<string[]>,
  pollInterval: {
    flag: 'poll-interval',
    env: 'SUPERVISOR_POLL_INTERVAL',
    describe: 'How often to look for due jobs when no notification arrives (scheduled jobs, lost notifications)',
    // 2 s, not DESIGN.md's 1 s: LISTEN/NOTIFY carries new jobs, and with the
    // heartbeat and recovery an idle supervisor then stays under one query a second.
    default: 2000,
    defaultText: '2s',
    parse: durationAtLeast(10),
  } satisfies OptionSpec<number>,
  listenUrl: {
    flag: 'listen-url',
    env: 'SUPERVISOR_LISTEN_URL',
    describe:
      'A PostgreSQL URL straight to the server, for LISTEN, when the database URL goes through a pooler (--pooler); without it such a supervisor polls every --poll-interval',
    default: undefined,
    defaultText: 'the database URL, or none with --pooler',
    parse: databaseUrl,
  } satisfies OptionSpec<string | undefined>,
  lease: {
    flag: 'lease',
    env: 'SUPERVISOR_LEASE',
    describe: 'How long a claimed job stays reserved for this supervisor without a heartbeat',
    default: 30_000,
    defaultText: '30s',
    parse: durationAtLeast(300),
  } satisfies OptionSpec<number>,
  shutdownTimeout: {
    flag: 'shutdown-timeout',
    env: 'SUPERVISOR_SHUTDOWN_TIMEOUT',
    describe: 'On SIGTERM or SIGINT, how long running jobs may finish before they are aborted and re-queued',
    default: 30_000,
    defaultText: '30s',
    parse: durationAtLeast(0),
  } satisfies OptionSpec<number>,
  jobTimeout: {
    flag: 'job-timeout',
    env: 'SUPERVISOR_JOB_TIMEOUT',
    describe:
      "Abort a job that runs longer (its signal first, then its thread after a 1 s grace); a job's own timeout wins. 0 for none",
    default: 0,
    defaultText: 'none',
    parse: durationAtLeast(0),
  } satisfies OptionSpec<number>,
  threadMemoryMb: {
    flag: 'thread-memory-mb',
    env: 'SUPERVISOR_THREAD_MEMORY_MB',
    describe:
      "Heap limit of each worker thread in MB; a job that exceeds it fails and its thread is replaced. 0 for Node's default (about 4 GB)",
    default: undefined,
    defaultText: 'half the memory divided by --threads, from 128 to 1024',
    parse: integer(0, 1_000_000),
  } satisfies OptionSpec<number | undefined>,
  metricsPort: {
    flag: 'metrics-port',
    env: 'SUPERVISOR_METRICS_PORT',
    describe: 'Port of the HTTP endpoint serving /metrics, /healthz and /readyz; 0 disables it',
    default: 9464,
    parse: integer(0, 65_535),
  } satisfies OptionSpec<number>,
  metricsHost: {
    flag: 'metrics-host',
    env: 'SUPERVISOR_METRICS_HOST',
    describe: 'Address the metrics endpoint listens on',
    default: '0.0.0.0',
    parse: requiredText('an address such as 0.0.0.0 or 127.0.0.1'),
  } satisfies OptionSpec<string>,
  consolePort: {
    flag: 'console-port',
    env: 'SUPERVISOR_CONSOLE_PORT',
    describe: 'Also serve the web console on this port (see supervisor console); 0 or unset: no console',
    default: 0,
    defaultText: 'none',
    parse: integer(0, 65_535),
  } satisfies OptionSpec<number>,
  consoleHost: {
    flag: 'console-host',
    env: 'SUPERVISOR_CONSOLE_HOST',
    describe: 'Address the web console listens on; another than 127.0.0.1 needs --console-token',
    default: '127.0.0.1',
    parse: requiredText('an address such as 127.0.0.1'),
  } satisfies OptionSpec<string>,
  consoleToken: {
    flag: 'console-token',
    env: 'SUPERVISOR_CONSOLE_TOKEN',
    describe: 'Token the web console asks for (a bearer header, or the login form); needed to listen beyond 127.0.0.1',
    default: undefined,
    defaultText: 'none',
    parse: (raw: unknown) => optionalText(raw),
  } satisfies OptionSpec<string | undefined>,
  consoleAllowActions: {
    flag: 'console-allow-actions',
    env: 'SUPERVISOR_CONSOLE_ALLOW_ACTIONS',
    describe: 'Let the web console retry, cancel and delete jobs, pause queues and run schedules (read-only without it)',
    default: false,
    parse: bool,
    boolean: true,
  } satisfies OptionSpec<boolean>,
  migrate: {
    flag: 'migrate',
    env: 'SUPERVISOR_MIGRATE',
    describe: 'Apply pending migrations at start (--no-migrate to skip)',
    default: true,
    parse: bool,
    boolean: true,
  } satisfies OptionSpec<boolean>,
};

/**
 * How long finished jobs are kept, by outcome (of `supervisor run`, which
 * deletes them on its maintenance leader, and of `supervisor prune`).
 */
export const retentionOptions = {
  keepSucceeded: {
    flag: 'keep-succeeded',
    env: 'SUPERVISOR_KEEP_SUCCEEDED',
    describe: 'Delete jobs that succeeded this long after they finished, such as 12h or 7d; 0 keeps them forever',
    default: 86_400_000,
    defaultText: '1d',
    parse: keepPeriod,
  } satisfies OptionSpec<number>,
  keepFailed: {
    flag: 'keep-failed',
    env: 'SUPERVISOR_KEEP_FAILED',
    describe: 'Delete jobs that failed for good this long after they finished; 0 keeps them forever',
    default: 14 * 86_400_000,
    defaultText: '14d',
    parse: keepPeriod,
  } satisfies OptionSpec<number>,
  keepCancelled: {
    flag: 'keep-cancelled',
    env: 'SUPERVISOR_KEEP_CANCELLED',
    describe: 'Delete cancelled jobs this long after they were cancelled; 0 keeps them forever',
    default: 7 * 86_400_000,
    defaultText: '7d',
    parse: keepPeriod,
  } satisfies OptionSpec<number>,
};

/**
 * The heap limit of a worker thread when --thread-memory-mb is not given:
 * half of the machine's memory (or of the container's limit) shared by the
 * threads, at least 128 MB and at most 1 GB. Node's own limit is about
 * 4 GB, which a runaway job takes many seconds (and the machine's memory)
 * to reach.
 */
export function defaultThreadMemoryMb(threads: number): number {
  const limit = process.constrainedMemory?.() ?? 0;
  const bytes = limit > 0 ? Math.min(limit, totalmem()) : totalmem();
  return Math.max(128, Math.min(1024, Math.floor(bytes / 2 / 1_048_576 / threads)));
}

/** Defaults of a job's columns (also the column defaults in migrations/001_jobs.sql). */
export const JOB_DEFAULTS = { queue: 'default', priority: 0, maxAttempts: 3 } as const;

/** The statuses of a job (the check constraint of jobs.job_status). */
export const JOB_STATUSES = ['pending', 'running', 'success', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** A time: an ISO 8601 timestamp, or a delay from now such as 30s or 2h. */
function runAt(raw: unknown, where: string): Date | undefined {
  const text = optionalText(raw);
  if (text === undefined) return undefined;
  if (/^-\d/.test(text)) throw new ConfigError(`${where} ${text}: a time in the past means now: leave it out, or give a delay such as 5s`);
  if (DURATION.test(text)) return new Date(Date.now() + parseDuration(text, where));
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) {
    throw new ConfigError(`${where} must be an ISO 8601 time (2030-01-31T09:00:00Z) or a delay such as 30s or 2h (got '${text}')`);
  }
  return date;
}

/** A queue's rate limit: at most `limit` jobs started in any `periodMs`. */
export interface RateLimit {
  limit: number;
  periodMs: number;
}

/** A rate such as `100/1m` (100 jobs a minute) or `5/1s`; `0` or `none` for no limit (null). */
export function parseRate(raw: unknown, where: string): RateLimit | null {
  const text = String(raw).trim();
  if (text === '0' || text === 'none') return null;
  const match = /^(\d+)\s*\/\s*(.+)$/.exec(text);
  const limit = match ? Number(match[1]) : NaN;
  if (!match || !Number.isSafeInteger(limit) || limit < 1 || limit > 2_147_483_647) {
    throw new ConfigError(`${where} must be jobs per period, such as 100/1m or 5/1s, or 0 for no limit (got '${text}')`);
  }
  const period = match[2]!.trim();
  if (!/[a-z]$/.test(period)) throw new ConfigError(`${where}: give the period a unit, such as ${limit}/1s or ${limit}/1m (got '${text}')`);
  const periodMs = parseDuration(period, `${where}'s period`);
  if (periodMs < 1 || periodMs > 2_147_483_647) throw new ConfigError(`${where}'s period must be from 1ms to about 24 days (got '${match[2]}')`);
  return { limit, periodMs };
}

/** Options of `supervisor queue set`. */
export const queueSetOptions = {
  concurrency: {
    flag: 'concurrency',
    env: 'SUPERVISOR_QUEUE_CONCURRENCY',
    describe: "At most this many of the queue's jobs run at once, across every supervisor; 0 for no limit",
    default: undefined,
    defaultText: 'unchanged',
    parse: optional((raw: unknown, where: string) => integer(0, 2_147_483_647)(raw, where) || null),
  } satisfies OptionSpec<number | null | undefined>,
  rate: {
    flag: 'rate',
    env: 'SUPERVISOR_QUEUE_RATE',
    describe: "At most this many of the queue's jobs start per period, across every supervisor (100/1m, 5/1s); 0 for no limit",
    default: undefined,
    defaultText: 'unchanged',
    parse: optional(parseRate),
  } satisfies OptionSpec<RateLimit | null | undefined>,
};

/** Options of `supervisor cron add`. */
export const cronAddOptions = {
  timezone: {
    flag: 'timezone',
    env: 'SUPERVISOR_TIMEZONE',
    describe: 'IANA time zone the expression is read in, such as Europe/Paris',
    default: undefined,
    defaultText: 'UTC',
    parse: (raw: unknown) => optionalText(raw),
  } satisfies OptionSpec<string | undefined>,
  backfill: {
    flag: 'backfill',
    env: 'SUPERVISOR_BACKFILL',
    describe: 'When ticks were missed for more than a minute (no supervisor up), add at most this many of the newest; older ones are skipped',
    default: 1,
    parse: integer(1, 1000),
  } satisfies OptionSpec<number>,
};

/** Options of `supervisor enqueue`. */
export const enqueueOptions = {
  queue: {
    flag: 'queue',
    env: 'SUPERVISOR_QUEUE',
    describe: 'Queue to add the job to',
    default: undefined,
    defaultText: `the task's, else ${JOB_DEFAULTS.queue}`,
    parse: optional(requiredText('a queue name')),
  } satisfies OptionSpec<string | undefined>,
  runAt: {
    flag: 'run-at',
    env: 'SUPERVISOR_RUN_AT',
    describe: 'Do not run before this time: an ISO 8601 timestamp, or a delay such as 30s or 2h',
    default: undefined,
    defaultText: 'now',
    parse: runAt,
  } satisfies OptionSpec<Date | undefined>,
  priority: {
    flag: 'priority',
    env: 'SUPERVISOR_PRIORITY',
    describe: 'Lower runs first',
    default: undefined,
    defaultText: `the task's, else ${JOB_DEFAULTS.priority}`,
    parse: optional(integer(-2_147_483_648, 2_147_483_647)),
  } satisfies OptionSpec<number | undefined>,
  maxAttempts: {
    flag: 'max-attempts',
    env: 'SUPERVISOR_MAX_ATTEMPTS',
    describe: 'Attempts before the job ends failed',
    default: undefined,
    defaultText: `the task's, else ${JOB_DEFAULTS.maxAttempts}`,
    parse: optional(integer(1, 1_000_000)),
  } satisfies OptionSpec<number | undefined>,
  concurrencyKey: {
    flag: 'concurrency-key',
    env: 'SUPERVISOR_CONCURRENCY_KEY',
    describe: 'Never run the job beside --concurrency-limit running jobs with this key, across every supervisor',
    default: undefined,
    defaultText: 'none',
    parse: (raw: unknown) => optionalText(raw),
  } satisfies OptionSpec<string | undefined>,
  concurrencyLimit: {
    flag: 'concurrency-limit',
    env: 'SUPERVISOR_CONCURRENCY_LIMIT',
    describe: 'With --concurrency-key: running jobs allowed at once with that key',
    default: undefined,
    defaultText: '1',
    parse: optional(integer(1, 2_147_483_647)),
  } satisfies OptionSpec<number | undefined>,
  jobKey: {
    flag: 'job-key',
    env: 'SUPERVISOR_JOB_KEY',
    describe: 'De-duplication key: no job is added when one with this key exists',
    default: undefined,
    defaultText: 'none',
    parse: (raw: unknown) => optionalText(raw),
  } satisfies OptionSpec<string | undefined>,
  timeout: {
    flag: 'timeout',
    env: 'SUPERVISOR_TIMEOUT',
    describe: "Abort the job if it runs longer than this, such as 30s or 5m (overrides the supervisor's --job-timeout)",
    default: undefined,
    defaultText: "the supervisor's --job-timeout",
    parse: (raw: unknown, where: string) => (optionalText(raw) === undefined ? undefined : durationAtLeast(1)(raw, where)),
  } satisfies OptionSpec<number | undefined>,
  count: {
    flag: 'count',
    env: 'SUPERVISOR_COUNT',
    describe: 'Add this many identical jobs',
    default: 1,
    parse: integer(1, 10_000_000),
  } satisfies OptionSpec<number>,
};

function status(raw: unknown, where: string): JobStatus | undefined {
  const text = optionalText(raw);
  return text === undefined ? undefined : oneOf<JobStatus>(...JOB_STATUSES)(text, where);
}

/** Options of `supervisor jobs`. */
export const jobsOptions = {
  status: {
    flag: 'status',
    env: 'SUPERVISOR_STATUS',
    describe: `Only jobs in this status: ${JOB_STATUSES.join(', ')}`,
    default: undefined,
    defaultText: 'any',
    parse: status,
  } satisfies OptionSpec<JobStatus | undefined>,
  task: {
    flag: 'task',
    env: 'SUPERVISOR_TASK',
    describe: 'Only jobs of this task',
    default: undefined,
    defaultText: 'any',
    parse: (raw: unknown) => optionalText(raw),
  } satisfies OptionSpec<string | undefined>,
  queue: {
    flag: 'queue',
    env: 'SUPERVISOR_QUEUE',
    describe: 'Only jobs in this queue',
    default: undefined,
    defaultText: 'any',
    parse: (raw: unknown) => optionalText(raw),
  } satisfies OptionSpec<string | undefined>,
  search: {
    flag: 'search',
    env: 'SUPERVISOR_SEARCH',
    describe: 'Only jobs with this text in their payload (as JSON) or last error, in any case',
    default: undefined,
    defaultText: 'any',
    parse: (raw: unknown) => optionalText(raw),
  } satisfies OptionSpec<string | undefined>,
  before: {
    flag: 'before',
    env: 'SUPERVISOR_BEFORE',
    describe: 'Only jobs with a smaller id: the next page starts before the last id shown',
    default: undefined,
    defaultText: 'none',
    parse: (raw: unknown) => {
      const text = optionalText(raw);
      if (text !== undefined && !/^\d{1,19}$/.test(text)) throw new ConfigError(`--before takes a job id (got '${text}')`);
      return text;
    },
  } satisfies OptionSpec<string | undefined>,
  limit: {
    flag: 'limit',
    env: 'SUPERVISOR_LIMIT',
    describe: 'Most jobs to list (newest first)',
    default: 20,
    parse: integer(1, 100_000),
  } satisfies OptionSpec<number>,
  json: {
    flag: 'json',
    env: 'SUPERVISOR_JSON',
    describe: 'Print one JSON object per job instead of a table',
    default: false,
    parse: bool,
    boolean: true,
  } satisfies OptionSpec<boolean>,
};

/** Options of `supervisor console`: its own address, and the access options `supervisor run --console-port` shares. */
export const consoleOptions = {
  host: { ...runOptions.consoleHost, flag: 'host' },
  port: { ...runOptions.consolePort, flag: 'port', describe: 'Port the web console listens on', default: 9465, defaultText: undefined },
  consoleToken: runOptions.consoleToken,
  consoleAllowActions: runOptions.consoleAllowActions,
};

/** Options of `supervisor job <id>`. */
export const jobOptions = {
  json: { ...jobsOptions.json, describe: 'Print the job as one JSON object' },
};

/** Options of `supervisor retry`. */
export const retryOptions = {
  failed: {
    flag: 'failed',
    env: 'SUPERVISOR_RETRY_FAILED',
    describe: 'Re-queue every failed job (of --task, when given)',
    default: false,
    parse: bool,
    boolean: true,
  } satisfies OptionSpec<boolean>,
  task: { ...jobsOptions.task, describe: 'With --failed: only failed jobs of this task' },
  queue: { ...jobsOptions.queue, describe: 'With --failed: only failed jobs in this queue' },
  search: { ...jobsOptions.search, describe: 'With --failed: only failed jobs with this text in their payload or last error' },
};

/**
 * The filter of `supervisor cancel` and `supervisor delete`, which act on
 * every matching job when given no ids. Flags only (no environment
 * variable): a SUPERVISOR_QUEUE set for `enqueue` must never choose what
 * is cancelled or deleted.
 */
export const jobFilterOptions = {
  status: { ...jobsOptions.status, env: '' },
  queue: { ...jobsOptions.queue, env: '' },
  task: { ...jobsOptions.task, env: '' },
  search: { ...jobsOptions.search, env: '' },
};

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
export type LogFormat = 'json' | 'pretty';

type Specs = Record<string, OptionSpec<unknown>>;
type Values<S extends Specs> = { [K in keyof S]: S[K] extends OptionSpec<infer T> ? T : never };

export type ConnectionConfig = Values<typeof connectionOptions>;
export type RetentionConfig = Values<typeof retentionOptions>;
export type RunConfig = ConnectionConfig & Values<typeof runOptions> & RetentionConfig;

/**
 * Resolves each option from, in order: `given` (a CLI flag or a programmatic
 * option), its environment variable, its default. Throws ConfigError naming
 * where a bad value came from.
 */
export function resolveOptions<S extends Specs>(
  specs: S,
  given: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): Values<S> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(specs)) {
    const fromArgs = given[key];
    const fromEnv = spec.env === '' ? undefined : env[spec.env]; // '' for a flag with no variable
    if (fromArgs !== undefined) {
      out[key] = spec.parse(fromArgs, `--${spec.flag}`);
    } else if (fromEnv !== undefined && fromEnv !== '') {
      out[key] = spec.parse(fromEnv, `${spec.env}`);
    } else {
      out[key] = spec.default;
    }
  }
  return out as Values<S>;
}
