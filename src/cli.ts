#!/usr/bin/env node
/**
 * The `supervisor` command. Flags are generated from the option definitions
 * in config.ts, so `--help`, the environment variables and the validation
 * always agree.
 */
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { cancelCommand } from './commands/cancel.js';
import { consoleCommand } from './commands/console.js';
import { cronAddCommand, cronListCommand, cronOptions, cronRemoveCommand, cronRunCommand } from './commands/cron.js';
import { deleteCommand } from './commands/delete.js';
import { pauseCommand, queueListCommand, queueSetCommand, resumeCommand } from './commands/queues.js';
import { CommandFailed, UsageError } from './commands/context.js';
import { enqueueCommand } from './commands/enqueue.js';
import { jobCommand } from './commands/job.js';
import { jobsCommand } from './commands/jobs.js';
import { migrateCommand } from './commands/migrate.js';
import { pruneCommand } from './commands/prune.js';
import { retryCommand } from './commands/retry.js';
import { runCommand } from './commands/run.js';
import { statusCommand } from './commands/status.js';
import {
  ConfigError,
  connectionOptions,
  consoleOptions,
  enqueueOptions,
  jobFilterOptions,
  jobOptions,
  jobsOptions,
  queueSetOptions,
  retentionOptions,
  retryOptions,
  runOptions,
  type OptionSpec,
} from './config.js';
import { DatabaseUnavailableError } from './db/connect.js';
import { MetricsPortError } from './metrics/server.js';
import { ConsolePortError } from './console/server.js';
import { TaskModuleError } from './worker/tasks.js';

type Specs = Record<string, OptionSpec<unknown>>;

/** Adds flags for option definitions. No yargs defaults: env vars and defaults are resolved in config.ts. */
function flags(specs: Specs, group: string) {
  return <T>(y: Argv<T>): Argv<T> => {
    for (const spec of Object.values(specs)) {
      const shown = spec.defaultText ?? (spec.default === undefined ? 'none' : String(spec.default));
      y.option(spec.flag, {
        type: spec.boolean ? 'boolean' : 'string',
        describe: `${spec.describe}\n${spec.env ? `[env ${spec.env}] ` : ''}[default: ${shown}]`,
        group,
      });
    }
    return y;
  };
}

/**
 * Yargs reads the flags before the command with no command's definitions
 * yet, so it would take `--pooler status` as `--pooler=status` and then
 * find no command. Flags that take no value are declared before any
 * command.
 */
function valuelessFlags<T>(y: Argv<T>, groups: Specs[]): Argv<T> {
  for (const spec of groups.flatMap((specs) => Object.values(specs))) {
    if (spec.boolean) y.boolean(spec.flag);
  }
  return y;
}

const connection = flags(connectionOptions, 'Database and logging:');
const run = flags(runOptions, 'Supervisor:');
const retention = flags(retentionOptions, 'Retention:');

/** Errors the user can fix get one line; anything else keeps its stack. */
function report(error: unknown): never {
  const known =
    error instanceof ConfigError ||
    error instanceof UsageError ||
    error instanceof CommandFailed ||
    error instanceof MetricsPortError ||
    error instanceof ConsolePortError ||
    error instanceof TaskModuleError ||
    error instanceof DatabaseUnavailableError;
  const message = known ? (error as Error).message : error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`supervisor: ${message}\n`);
  process.exit(error instanceof ConfigError || error instanceof UsageError ? 2 : 1);
}

/**
 * `--run-at -5s` would be read as more flags (yargs takes only negative
 * numbers as values); say what such a time means instead.
 */
function refuseNegativeRunAt(args: string[]): void {
  const at = args.indexOf('--run-at');
  if (at >= 0 && /^-\d/.test(args[at + 1] ?? '')) {
    process.stderr.write(`supervisor: --run-at ${args[at + 1]}: a time in the past means now: leave --run-at out, or give a delay such as 5s\n`);
    process.exit(2);
  }
}
refuseNegativeRunAt(hideBin(process.argv));

const cli = valuelessFlags(yargs(hideBin(process.argv)), [
  connectionOptions, runOptions, retentionOptions, enqueueOptions, jobsOptions, jobOptions, retryOptions, jobFilterOptions, queueSetOptions, cronOptions, consoleOptions,
])
  .scriptName('supervisor')
  .usage('$0 [command] [options]\n\nA durable job queue on PostgreSQL whose jobs run in worker threads.')
  .command(['run', '$0'], 'Run a supervisor: claim jobs and run them on worker threads (the default command)', (y) =>
    retention(run(connection(y))).example('$0 --threads 8 --tasks ./dist/tasks.js', 'run 8 threads'),
  runCommand)
  .command('migrate', 'Apply pending migrations, then exit', connection, migrateCommand)
  .command(
    'enqueue <task> [payload]',
    'Add jobs',
    (y) =>
      flags(enqueueOptions, 'Job:')(connection(y))
        .positional('task', { type: 'string', describe: 'Task name (an export of the task module)' })
        .positional('payload', { type: 'string', describe: 'JSON payload, default {}' })
        .example(`$0 enqueue hello '{"name":"world"}' --count 5`, 'add five hello jobs'),
    enqueueCommand,
  )
  .command('jobs', 'List jobs, newest first', (y) => flags(jobsOptions, 'Filter:')(connection(y)), jobsCommand)
  .command(
    'job <id>',
    'Show everything about one job: payload, status, attempts, timings, holder, the whole last error',
    (y) => flags(jobOptions, 'Output:')(connection(y)).positional('id', { type: 'string', describe: 'Job id' }),
    jobCommand,
  )
  .command(
    'retry [ids..]',
    'Re-queue failed (or cancelled) jobs with a fresh set of attempts',
    (y) =>
      flags(retryOptions, 'Retry:')(connection(y))
        .positional('ids', { type: 'string', array: true, describe: 'Job ids' })
        .example('$0 retry --failed', 're-queue every failed job'),
    retryCommand,
  )
  .command(
    'cancel [ids..]',
    'Cancel pending or running jobs: those given, or every one matching the filters',
    (y) =>
      flags(jobFilterOptions, 'Filter (instead of ids):')(connection(y))
        .positional('ids', { type: 'string', array: true, describe: 'Job ids' })
        .example('$0 cancel --queue reports --status pending', 'cancel every pending job of the reports queue'),
    cancelCommand,
  )
  .command(
    'delete [ids..]',
    'Delete jobs that are not running: those given, or every one matching the filters',
    (y) =>
      flags(jobFilterOptions, 'Filter (instead of ids):')(connection(y))
        .positional('ids', { type: 'string', array: true, describe: 'Job ids' })
        .example('$0 delete --status failed --task import', 'delete every failed import job'),
    deleteCommand,
  )
  .command(
    'pause <queue>',
    'Pause a queue: every supervisor stops claiming its jobs at once (running ones finish); jobs can still be added',
    (y) => connection(y).positional('queue', { type: 'string', describe: 'Queue name' }),
    pauseCommand,
  )
  .command('resume <queue>', 'Resume a paused queue', (y) => connection(y).positional('queue', { type: 'string', describe: 'Queue name' }), resumeCommand)
  .command('queue', "Set or list queues' limits, which hold across every supervisor", (y) =>
    y
      .command(
        'set <queue>',
        "Set a queue's concurrency or rate limit (0 removes it)",
        (q) =>
          flags(queueSetOptions, 'Limits:')(connection(q))
            .positional('queue', { type: 'string', describe: 'Queue name' })
            .example('$0 queue set reports --concurrency 2 --rate 100/1m', 'at most 2 reports at once and 100 a minute'),
        queueSetCommand,
      )
      .command('list', 'List queues: paused or not, limits, pending and running jobs', connection, queueListCommand)
      .demandCommand(1, 'name a queue command: set or list'),
  )
  .command('cron', 'Add, list, run or remove recurring jobs', (y) =>
    y
      .command(
        'add <name> <expression> <task> [payload]',
        'Add (or replace) a schedule: one job of <task> per tick of <expression>',
        (c) =>
          flags(cronOptions, 'Schedule:')(connection(c))
            .positional('name', { type: 'string', describe: 'Schedule name' })
            .positional('expression', { type: 'string', describe: "Cron expression: five fields, six with seconds first, or @hourly, @daily, …" })
            .positional('task', { type: 'string', describe: 'Task name' })
            .positional('payload', { type: 'string', describe: 'JSON payload, default {}' })
            .example(`$0 cron add nightly-report '0 3 * * *' report '{"kind":"daily"}' --timezone Europe/Paris`, 'a report at 3:00 Paris time'),
        cronAddCommand,
      )
      .command('list', 'List schedules with their next run', connection, cronListCommand)
      .command('run <name>', "Add one job of a schedule now (its ticks go on as planned)", (c) => connection(c).positional('name', { type: 'string' }), cronRunCommand)
      .command('remove <name>', 'Remove a schedule (jobs it added stay)', (c) => connection(c).positional('name', { type: 'string' }), cronRemoveCommand)
      .demandCommand(1, 'name a cron command: add, list, run or remove'),
  )
  .command(
    'console',
    'Serve the web console: queues, supervisors, schedules and jobs, with actions when allowed',
    (y) =>
      flags(consoleOptions, 'Console:')(connection(y))
        .example('$0 console', 'read-only, on http://127.0.0.1:9465/')
        .example('$0 console --console-allow-actions', 'also retry, cancel, delete, pause and run schedules'),
    consoleCommand,
  )
  .command('status', 'Show live supervisors, the maintenance leader and job counts by queue and status', connection, statusCommand)
  .command(
    'prune',
    'Delete finished jobs older than their retention period now, as the running supervisors do every minute',
    (y) => retention(connection(y)).example('$0 prune --keep-succeeded 1h', 'delete jobs that succeeded more than an hour ago'),
    pruneCommand,
  )
  .strict()
  .help()
  .alias('help', 'h')
  .version()
  .wrap(Math.min(120, process.stdout.columns || 100))
  .fail((message, error) => {
    if (error) report(error);
    process.stderr.write(`supervisor: ${message}\nRun 'supervisor --help' for usage.\n`);
    process.exit(2);
  });

cli.parseAsync().catch(report);
