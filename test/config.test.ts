import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { totalmem } from 'node:os';
import { ConfigError, connectionOptions, defaultThreadMemoryMb, parseDuration, parseRate, resolveOptions, runOptions } from '../src/config.js';
import { cronOf, dueTicks } from '../src/queue/cron.js';
import { taskPolicy } from '../src/worker/tasks.js';
import { describeUrl } from '../src/db/connect.js';
import { retryDelayMs } from '../src/supervisor/backoff.js';

const specs = { ...connectionOptions, ...runOptions };

describe('options', () => {
  it('takes a flag over its env var over its default', () => {
    const env = { SUPERVISOR_THREADS: '3', SUPERVISOR_CONCURRENCY: '5' };
    const config = resolveOptions(specs, { threads: '7' }, env);
    assert.equal(config.threads, 7);
    assert.equal(config.concurrency, 5);
    assert.equal(config.schema, 'supervisor');
    assert.equal(config.lease, 30_000);
  });

  it('rejects bad thread counts, naming the flag or the env var', () => {
    assert.throws(() => resolveOptions(specs, { threads: '0' }, {}), /--threads must be a whole number from 1/);
    assert.throws(() => resolveOptions(specs, { threads: 'abc' }, {}), /--threads .* \(got 'abc'\)/);
    assert.throws(() => resolveOptions(specs, {}, { SUPERVISOR_THREADS: '2.5' }), /SUPERVISOR_THREADS must be/);
  });

  it('parses durations', () => {
    assert.equal(parseDuration('250ms', 'x'), 250);
    assert.equal(parseDuration('30s', 'x'), 30_000);
    assert.equal(parseDuration('1.5m', 'x'), 90_000);
    assert.equal(parseDuration(1500, 'x'), 1500);
    assert.throws(() => parseDuration('soon', '--lease'), /--lease must be a duration/);
  });

  it('rejects malformed database URLs', () => {
    assert.throws(() => resolveOptions(connectionOptions, { databaseUrl: 'not a url' }, {}), ConfigError);
    assert.throws(
      () => resolveOptions(connectionOptions, {}, { DATABASE_URL: 'mysql://localhost/db' }),
      /DATABASE_URL must start with postgres:\/\//,
    );
    const ok = resolveOptions(connectionOptions, { databaseUrl: 'postgres://u:p@db:6543/app' }, {});
    assert.equal(ok.databaseUrl, 'postgres://u:p@db:6543/app');
  });

  it('accepts the Unix-socket forms that pg accepts, and names the socket folder in messages', () => {
    const forms = {
      'postgresql://app@/jobs?host=/var/run/postgresql': '/var/run/postgresql:5432/jobs',
      'postgres:///jobs?host=/tmp': '/tmp:5432/jobs',
      'postgres://app@%2Fvar%2Frun%2Fpostgresql:5433/jobs': '/var/run/postgresql:5433/jobs',
      'postgres://app:secret@db.internal/jobs': 'db.internal:5432/jobs',
    };
    for (const [url, described] of Object.entries(forms)) {
      assert.equal(resolveOptions(connectionOptions, {}, { DATABASE_URL: url }).databaseUrl, url);
      assert.equal(describeUrl(url), described);
    }
  });

  it('rejects schema names that are not plain identifiers', () => {
    assert.throws(() => resolveOptions(connectionOptions, { schema: 'a"; drop table x; --' }, {}), /--schema must be/);
  });

  it('splits queues', () => {
    assert.deepEqual(resolveOptions(specs, { queues: 'a, b,,c' }, {}).queues, ['a', 'b', 'c']);
    assert.deepEqual(resolveOptions(specs, {}, {}).queues, []);
  });
});

describe('the default heap limit of a thread', () => {
  it('shares half the memory among the threads, between 128 MB and 1 GB', () => {
    const half = totalmem() / 2 / 1_048_576;
    for (const threads of [1, 2, 8, 64, 1024]) {
      const mb = defaultThreadMemoryMb(threads);
      assert.ok(mb >= 128 && mb <= 1024, `${threads} threads: ${mb} MB`);
      assert.ok(mb === 128 || mb * threads <= half, `${threads} threads: ${mb} MB each fit in half the memory`);
    }
    assert.equal(defaultThreadMemoryMb(100_000), 128);
    assert.ok(defaultThreadMemoryMb(1) >= defaultThreadMemoryMb(64));
  });

  it('refuses durations that a timer cannot wait', () => {
    assert.throws(() => resolveOptions(specs, { jobTimeout: '1000h' }, {}), /--job-timeout must be at most 2147483647ms, about 24.8 days/);
  });
});

describe('retry backoff', () => {
  it('doubles per attempt within ±25% jitter and is capped at one hour', () => {
    assert.equal(retryDelayMs(1, () => 0.5), 5_000);
    assert.equal(retryDelayMs(2, () => 0.5), 10_000);
    assert.equal(retryDelayMs(3, () => 0.5), 20_000);
    assert.equal(retryDelayMs(1, () => 0), 3_750);
    assert.equal(retryDelayMs(1, () => 0.999999), 6_250);
    assert.equal(retryDelayMs(40, () => 0.5), 3_600_000);
  });
});

describe('queue rates', () => {
  it('reads jobs per period with a unit, 0 or none for no limit, and refuses the rest, saying how to write it', () => {
    assert.deepEqual(parseRate('100/1m', '--rate'), { limit: 100, periodMs: 60_000 });
    assert.deepEqual(parseRate('5 / 1s', '--rate'), { limit: 5, periodMs: 1000 });
    assert.equal(parseRate('0', '--rate'), null);
    assert.equal(parseRate('none', '--rate'), null);
    assert.throws(() => parseRate('5/1', '--rate'), /--rate: give the period a unit, such as 5\/1s or 5\/1m \(got '5\/1'\)/);
    assert.throws(() => parseRate('100', '--rate'), /--rate must be jobs per period, such as 100\/1m/);
    assert.throws(() => parseRate('0/1s', '--rate'), /--rate must be jobs per period/);
  });
});

describe('task definitions', () => {
  it('turns durations into ms and refuses unknown fields and impossible values, naming the task and field', () => {
    assert.deepEqual(taskPolicy({ queue: 'mail', maxAttempts: 5, timeout: '30s', backoff: { type: 'fixed', delay: '5s' } }, 'send'), {
      queue: 'mail', maxAttempts: 5, timeoutMs: 30_000, backoff: { type: 'fixed', delayMs: 5000 },
    });
    assert.deepEqual(taskPolicy({ backoff: { type: 'exponential' } }, 'send').backoff, { type: 'exponential', baseMs: 5000, maxMs: 3_600_000 });
    assert.throws(() => taskPolicy({ maxAttemps: 5 } as never, 'send'), /send: unknown field maxAttemps; a task definition takes handler, queue/);
    assert.throws(() => taskPolicy({ maxAttempts: 0 }, 'send'), /send: maxAttempts must be a whole number of at least 1 \(got 0\)/);
    assert.throws(() => taskPolicy({ timeout: 'soon' }, 'send'), /send: timeout must be a duration in ms or such as '30s' \(got "soon"\)/);
    assert.throws(() => taskPolicy({ backoff: { type: 'exponential', base: '1m', max: '10s' } }, 'send'), /send: backoff.max must be at least backoff.base \(60000 ms\)/);
    assert.throws(() => taskPolicy({ backoff: { type: 'linear' } as never }, 'send'), /send: backoff must be \{ type: 'exponential', base, max \} or \{ type: 'fixed', delay \}/);
  });
});

describe('cron ticks', () => {
  const at = (iso: string) => new Date(iso);
  const iso = (ticks: Date[]) => ticks.map((tick) => tick.toISOString());
  it('adds every tick reached late within a minute, and of ticks missed for longer only the newest (or backfill of them)', () => {
    const everySecond = cronOf('* * * * * *');
    // A busy scheduler, 1.5 s late: both ticks, none skipped.
    assert.deepEqual(iso(dueTicks(everySecond, at('2026-12-02T10:00:00Z'), at('2026-12-02T10:00:02.500Z'), 1)),
      ['2026-12-02T10:00:01.000Z', '2026-12-02T10:00:02.000Z']);
    // Down for an hour: the last minute's ticks, none older.
    const back = dueTicks(everySecond, at('2026-12-02T09:00:00Z'), at('2026-12-02T10:00:00.200Z'), 1);
    assert.equal(back.length, 60);
    assert.equal(back[0]!.toISOString(), '2026-12-02T09:59:01.000Z');
    const hourly = cronOf('@hourly');
    assert.deepEqual(iso(dueTicks(hourly, at('2026-12-02T05:30:00Z'), at('2026-12-02T10:30:00Z'), 1)), ['2026-12-02T10:00:00.000Z']);
    assert.deepEqual(iso(dueTicks(hourly, at('2026-12-02T05:30:00Z'), at('2026-12-02T10:30:00Z'), 3)),
      ['2026-12-02T08:00:00.000Z', '2026-12-02T09:00:00.000Z', '2026-12-02T10:00:00.000Z']);
    assert.deepEqual(dueTicks(hourly, at('2026-12-02T10:00:00Z'), at('2026-12-02T10:30:00Z'), 1), [], 'nothing new');
    // Read in its time zone: 03:00 in Paris is 02:00 UTC in winter.
    assert.deepEqual(iso(dueTicks(cronOf('0 3 * * *', 'Europe/Paris'), at('2026-12-01T12:00:00Z'), at('2026-12-02T12:00:00Z'), 1)), ['2026-12-02T02:00:00.000Z']);
  });
});
