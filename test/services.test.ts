/**
 * Each background service of a supervisor on its own: started alone
 * against the test database (and, for the watchdog, a real thread pool),
 * doing its one job, and stopped.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BroadcastChannel } from 'node:worker_threads';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { flowStatements } from '../src/db/sql/flow.js';
import { maintenanceStatements } from '../src/db/sql/maintenance.js';
import { controlChannel } from '../src/db/sql/statement.js';
import { supervisorStatements } from '../src/db/sql/supervisor.js';
import { silentLogger } from '../src/log.js';
import { MetricsServer } from '../src/metrics/server.js';
import { ConsoleApi } from '../src/console/api.js';
import { ConsoleServer } from '../src/console/server.js';
import { Queue } from '../src/index.js';
import { fromClaimRow, type ClaimedJob } from '../src/supervisor/claimed-job.js';
import { CronScheduler } from '../src/supervisor/cron-scheduler.js';
import { Gates } from '../src/supervisor/gates.js';
import { DatabaseHealth } from '../src/supervisor/health.js';
import { Heartbeat } from '../src/supervisor/heartbeat.js';
import { Holdings } from '../src/supervisor/holdings.js';
import { Leadership } from '../src/supervisor/leadership.js';
import { ProgressWriter } from '../src/supervisor/progress-writer.js';
import { Recovery, type RecoveredJob } from '../src/supervisor/recovery.js';
import { Retention } from '../src/supervisor/retention.js';
import { Services, type Service } from '../src/supervisor/service.js';
import { StopWatchdog } from '../src/supervisor/stop-watchdog.js';
import { Vacuum, type BorrowConnection } from '../src/supervisor/vacuum.js';
import { Wakeup } from '../src/supervisor/wakeup.js';
import { Batch } from '../src/worker/batch.js';
import { WorkerPool } from '../src/worker/pool.js';
import { fixtures } from './helpers/cli.js';
import { testDb, waitFor, type TestDb } from './helpers/db.js';
import { freePort } from './helpers/ports.js';

let db: TestDb;
let pool: pg.Pool;
const log = silentLogger();
const health = () => new DatabaseHealth(log);

before(async () => {
  db = await testDb('services');
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
});
after(async () => {
  await pool.end();
  await db.drop();
});

/** Adds a supervisors row, which the leader row and offers refer to. */
async function supervisorRow(id: string): Promise<void> {
  await db.query(`insert into supervisors (supervisor_id, host, pid, threads, concurrency) values ($1, 'test', 1, 1, 1)`, [id]);
}

/** A job held in memory as if claimed, for the services that read the holdings. */
function heldJob(id: string, attempt: number, timeoutMs = 0): ClaimedJob {
  return fromClaimRow({ id, task: 'hang', queue: 'default', payload: '{}', attempt, max_attempts: 3, timeout_ms: timeoutMs, lag_s: 0 }, (_task, own) => own ?? 0);
}

describe('Services', () => {
  it('starts services in their order and stops them in reverse, stopping the rest when one fails to stop', async () => {
    const events: string[] = [];
    const service = (name: string, failStop = false): Service => ({
      name,
      start: () => void events.push(`start ${name}`),
      stop: () => {
        events.push(`stop ${name}`);
        if (failStop) throw new Error('stuck');
      },
    });
    const services = new Services(log);
    await services.start(service('a'), service('b', true));
    await services.start(service('c'));
    await services.stop();
    await services.stop(); // nothing left to stop
    assert.deepEqual(events, ['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a']);
  });
});

describe('Heartbeat', () => {
  it('registers the supervisor, renews its row and the leases it holds, and stops beating when stopped', async () => {
    const sql = supervisorStatements(db.schema, []);
    const holdings = new Holdings();
    const [{ job_id: id }] = await db.query(
      `insert into jobs (task, job_status, attempts, locked_by, locked_until) values ('hang', 'running', 1, 'beating', now() + interval '1 second') returning job_id`,
    );
    holdings.add(new Batch([heldJob(String(id), 1)]));
    const heartbeat = new Heartbeat({
      pool, sql, supervisorId: 'beating', leaseMs: 3000, threads: 1, concurrency: 1, queues: [], tasks: ['hang'],
      holdings, health: health(), log,
    });
    await heartbeat.start();
    const [registered] = await db.query(`select heartbeat_at from supervisors where supervisor_id = 'beating'`);
    assert.ok(registered, 'the supervisor row exists once started');
    await waitFor('a lease renewed to about now + 3 s', async () => {
      const [row] = await db.query(`select locked_until - now() > interval '2 seconds' as renewed from jobs where job_id = $1`, [id]);
      return row.renewed;
    });
    await heartbeat.stop();
    const [stopped] = await db.query(`select heartbeat_at from supervisors where supervisor_id = 'beating'`);
    await sleep(1200); // more than a beat (lease/3)
    const [later] = await db.query(`select heartbeat_at from supervisors where supervisor_id = 'beating'`);
    assert.deepEqual(later.heartbeat_at, stopped.heartbeat_at);
  });
});

describe('Leadership', () => {
  it('one of two leads; the leader resigns when stopped and the other takes over at its next try', async () => {
    await supervisorRow('lead-a');
    await supervisorRow('lead-b');
    const sql = maintenanceStatements(db.schema);
    const changes: string[] = [];
    const make = (id: string) =>
      new Leadership({ pool, sql, supervisorId: id, leaseMs: 600, health: health(), log, onChange: (leads) => void changes.push(`${id} ${leads}`) });
    const [a, b] = [make('lead-a'), make('lead-b')];
    await a.start();
    await b.start();
    assert.equal(a.leads, true, 'the first to start leads at once');
    assert.equal(b.leads, false);
    await sleep(800); // more than a term: the leader renews it
    assert.deepEqual([a.leads, b.leads], [true, false]);
    await a.stop();
    assert.equal(a.leads, false);
    await waitFor('b leads', () => b.leads, 2000);
    await b.stop();
    assert.deepEqual(await db.query('select * from leader'), []);
    assert.deepEqual(changes, ['lead-a true', 'lead-a false', 'lead-b true', 'lead-b false']);
  });
});

describe('Recovery', () => {
  it('returns expired leases to pending while this supervisor leads, and nothing before', async () => {
    const sql = supervisorStatements(db.schema, []);
    const [{ job_id: id }] = await db.query(
      `insert into jobs (task, job_status, attempts, locked_by, locked_until) values ('x', 'running', 1, 'dead', now() - interval '1 second') returning job_id`,
    );
    let leads = false;
    const recovered: RecoveredJob[] = [];
    const recovery = new Recovery({
      pool, statement: sql.recoverExpired, schema: db.schema, leaseMs: 300, log, health: health(),
      leads: () => leads, onRecovered: (jobs) => recovered.push(...jobs),
    });
    recovery.start();
    try {
      await sleep(400); // several runs as a follower
      assert.equal((await db.job(String(id))).job_status, 'running');
      leads = true;
      // The callback, not the row: the row changes a moment before the statement's reply arrives.
      await waitFor('the job recovered', () => recovered.length > 0);
      assert.deepEqual(recovered.map((job) => [job.job_id, job.lost_by]), [[String(id), ['dead']]]);
      assert.equal((await db.job(String(id))).job_status, 'pending');
    } finally {
      await recovery.stop();
    }
  });
});

describe('Retention', () => {
  it('deletes finished jobs past their period while this supervisor leads, and counts them', async () => {
    await db.query('truncate jobs');
    await db.query(`insert into jobs (task, job_status, finished_at) select 'x', 'success', now() - interval '2 hours' from generate_series(1, 5)`);
    await db.query(`insert into jobs (task, job_status, finished_at) values ('x', 'success', now()), ('x', 'failed', now() - interval '2 hours')`);
    let leads = false;
    const deleted: [string, number][] = [];
    const retention = new Retention({
      pool, sql: maintenanceStatements(db.schema), keep: { keepSucceeded: 3_600_000, keepFailed: 0, keepCancelled: 0 },
      leads: () => leads, health: health(), log, onDeleted: (status, count) => void deleted.push([status, count]),
    });
    retention.start();
    try {
      retention.runSoon();
      await sleep(200);
      assert.equal((await db.query('select 1 from jobs')).length, 7, 'a follower deletes nothing');
      leads = true;
      retention.runSoon();
      await waitFor('the old successes deleted', () => deleted.length > 0);
      assert.deepEqual(deleted, [['success', 5]]);
      assert.equal((await db.query('select 1 from jobs')).length, 2);
    } finally {
      await retention.stop();
    }
  });
});

describe('Vacuum', () => {
  it('vacuums the jobs table once it holds 10,000 dead rows that no vacuum cleared, only while leading, on a borrowed connection', async () => {
    await db.query('truncate jobs');
    await db.query(`insert into jobs (task) select 'x' from generate_series(1, 12000)`);
    await db.query('delete from jobs');
    const vacuums = async () =>
      (await db.query<{ n: number }>(`select vacuum_count::int as n from pg_stat_user_tables where relid = 'jobs'::regclass`))[0]!.n;
    const before = await vacuums();
    const lender = new pg.Client({ connectionString: db.url, application_name: 'vacuum-lender' });
    await lender.connect();
    let leads = false;
    let canLend = false;
    let lent = 0;
    const borrow: BorrowConnection = async (use) => {
      if (!canLend) return undefined;
      lent++;
      return use(lender);
    };
    const vacuum = new Vacuum({ pool, borrow, sql: maintenanceStatements(db.schema), intervalMs: 200, leads: () => leads, health: health(), log });
    vacuum.start();
    try {
      await sleep(600);
      assert.equal(await vacuums(), before, 'a follower does not vacuum');
      leads = true;
      await sleep(600);
      assert.equal(await vacuums(), before, 'nor does a leader with no connection to borrow');
      assert.equal(lent, 0);
      canLend = true;
      await waitFor('a vacuum', async () => (await vacuums()) > before, 10_000);
      assert.ok(lent > 0);
      const pace = await lender.query<{ delay: string }>(`select current_setting('vacuum_cost_delay') as delay`);
      assert.equal(pace.rows[0]!.delay, '2ms', 'the vacuum ran on the lent connection, at its pace');
    } finally {
      await vacuum.stop();
      await lender.end();
    }
  });

  it('leaves the table alone for ten times as long as its last vacuum took, and says once at info that it vacuums', async () => {
    // A vacuum's cost grows with the table (its indexes are read whole), so
    // a large table is vacuumed less often; made large enough here that the
    // quiet spell outlasts the second to a second's worth of dead rows.
    /** Leaves `n` dead rows, counted in the statistics at once (rather than after ten idle seconds). */
    const deadRows = async (n: number) => {
      const client = await db.pool.connect();
      try {
        await client.query(`insert into jobs (task) select 'x' from generate_series(1, ${n})`);
        await client.query('delete from jobs');
        // PostgreSQL 15 and newer; older ones send their statistics within half a second anyway.
        await client.query(`do $$ begin perform pg_stat_force_next_flush(); exception when undefined_function then null; end $$`);
      } finally {
        client.release();
      }
    };
    await db.query('truncate jobs');
    await deadRows(150_000);
    const lines: { level: number; msg: string; ms?: number; time: number }[] = [];
    const recorder = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const lender = new pg.Client({ connectionString: db.url });
    await lender.connect();
    const borrow: BorrowConnection = (use) => use(lender);
    const vacuum = new Vacuum({ pool, borrow, sql: maintenanceStatements(db.schema), intervalMs: 100, leads: () => true, health: health(), log: recorder });
    vacuum.start();
    try {
      await waitFor('a first vacuum', async () => lines.length > 0, 20_000);
      await deadRows(20_000);
      await waitFor('a second vacuum', async () => lines.length > 1, 30_000);
    } finally {
      await vacuum.stop();
      await lender.end();
    }
    const [first, second] = lines;
    assert.equal(first!.level, 30, 'the first vacuum is logged at info');
    assert.match(first!.msg, /^vacuumed \(150000 dead rows\).* the jobs table in \d+ ms; autovacuum is off or behind, so this supervisor does it while it leads/);
    assert.equal(second!.level, 20, 'the next ones at debug');
    assert.ok(first!.ms! >= 100, `the first vacuum took ${first!.ms} ms: too short for this test to see the quiet spell`);
    // Each line is written as its vacuum ends, and the quiet spell runs from that end.
    const gap = second!.time - first!.time;
    assert.ok(gap >= 10 * first!.ms!, `vacuumed again ${gap} ms after a vacuum of ${first!.ms} ms`);
  });

  it('analyzes the jobs table when its statistics are stale, without a vacuum', async () => {
    // A supervisor started before its first jobs plans its claim for an
    // empty table, and keeps that plan until the statistics change.
    const fresh = await testDb('vacuum_analyze');
    const freshPool = new pg.Pool({ connectionString: fresh.url, max: 2 });
    const lender = new pg.Client({ connectionString: fresh.url });
    await lender.connect();
    const lines: { level: number; msg: string; analyzed?: boolean; vacuumed?: boolean }[] = [];
    const recorder = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const counts = async () =>
      (await fresh.query<{ analyzed: number; vacuumed: number }>(`select analyze_count::int as analyzed, vacuum_count::int as vacuumed from pg_stat_user_tables where relid = 'jobs'::regclass`))[0]!;
    const vacuum = new Vacuum({ pool: freshPool, borrow: (use) => use(lender), sql: maintenanceStatements(fresh.schema), intervalMs: 100, leads: () => true, health: health(), log: recorder });
    try {
      const client = await fresh.pool.connect();
      try {
        await client.query(`insert into jobs (task) select 'x' from generate_series(1, 5000)`);
        await client.query(`do $$ begin perform pg_stat_force_next_flush(); exception when undefined_function then null; end $$`);
      } finally {
        client.release();
      }
      vacuum.start();
      // Its log line comes after the statement: the statistics can show the analyze first.
      await waitFor('an analyze, and its log line', async () => lines.length > 0 && (await counts()).analyzed > 0, 10_000);
      assert.equal((await counts()).vacuumed, 0, 'no dead rows: no vacuum');
      const [table] = await fresh.query<{ reltuples: number }>(`select reltuples::float8 as reltuples from pg_class where oid = 'jobs'::regclass`);
      assert.equal(table!.reltuples, 5000, 'the planner now knows the rows');
      assert.equal(lines[0]!.analyzed, true);
      assert.equal(lines[0]!.vacuumed, false);
      assert.match(lines[0]!.msg, /^analyzed \(5000 rows changed since its statistics were taken\) the jobs table/);
    } finally {
      await vacuum.stop();
      await lender.end();
      await freshPool.end();
      await fresh.drop();
    }
  });

  it('looks every interval while the table changes, and five times less often while it does not', async () => {
    await db.query('truncate jobs');
    let looks = 0;
    const counting = new Proxy(pool, {
      get: (target, key) => (key === 'query' ? (...args: Parameters<pg.Pool['query']>) => (looks++, (target.query as (...a: unknown[]) => unknown)(...args)) : Reflect.get(target, key)),
    });
    const vacuum = new Vacuum({ pool: counting, borrow: async () => undefined, sql: maintenanceStatements(db.schema), intervalMs: 100, leads: () => true, health: health(), log });
    vacuum.start();
    try {
      await sleep(1500);
      const idle = looks;
      assert.ok(idle >= 2 && idle <= 5, `${idle} looks in 1.5 s at an idle table (every 500 ms after the first two)`);
      // Changes, counted in the statistics at once.
      const busyUntil = Date.now() + 1500;
      while (Date.now() < busyUntil) {
        await db.query(`insert into jobs (task) values ('x'); select pg_stat_force_next_flush()`).catch(() => db.query(`insert into jobs (task) values ('x')`));
        await sleep(20);
      }
      assert.ok(looks - idle >= 8, `${looks - idle} looks in 1.5 s at a changing table (every 100 ms)`);
    } finally {
      await vacuum.stop();
    }
  });
});

describe('Wakeup', () => {
  it('wakes the claimer when a job is added, passes on control messages, and closes its connection when stopped', async () => {
    const sql = supervisorStatements(db.schema, []);
    let wakes = 0;
    const control: string[] = [];
    const wakeup = new Wakeup({
      url: db.url, connectTimeoutMs: 5000, applicationName: 'wakeup-test', listen: sql.listen,
      listenOffers: sql.listenOffers(`${db.schema}_offer_test`), offerChannel: `${db.schema}_offer_test`, ping: sql.ping,
      listenControl: sql.listenControl, controlChannel: controlChannel(db.schema), control: (message) => control.push(message),
      pollIntervalMs: 60_000, log, health: health(), wake: () => wakes++, handedOff: () => undefined, lost: () => undefined,
      probe: () => pool.query(sql.probeListen, [`${db.schema}_offer_test`]),
    });
    await wakeup.start();
    assert.equal(wakeup.listening, true);
    await db.query(`insert into jobs (task) values ('x')`);
    await waitFor('a wake-up', () => wakes > 0, 5000);
    await db.query(`insert into queues (queue, paused) values ('wakeup-test', true)`);
    await waitFor('the control message', () => control.includes('{"queues":true}'), 5000);
    await wakeup.stop();
    await waitFor('its connection closed', async () =>
      (await db.query(`select 1 from pg_stat_activity where application_name = 'wakeup-test'`)).length === 0, 5000);
  });
  it('lends its connection, withdrawing the offer meanwhile, and wakes the claimer once it is back', async () => {
    const sql = supervisorStatements(db.schema, []);
    let wakes = 0;
    let losses = 0;
    const wakeup = new Wakeup({
      url: db.url, connectTimeoutMs: 5000, applicationName: 'wakeup-lend', listen: sql.listen,
      listenOffers: sql.listenOffers(`${db.schema}_offer_lend`), offerChannel: `${db.schema}_offer_lend`, ping: sql.ping,
      listenControl: sql.listenControl, controlChannel: controlChannel(db.schema), control: () => undefined,
      pollIntervalMs: 60_000, log, health: health(), wake: () => wakes++, handedOff: () => undefined, lost: () => losses++,
      probe: () => pool.query(sql.probeListen, [`${db.schema}_offer_lend`]),
    });
    await wakeup.start();
    try {
      const pid = await wakeup.lend(async (client) => {
        assert.equal(wakeup.listening, false, 'no offer is placed while lent');
        assert.equal(losses, 1, 'the offer is withdrawn');
        assert.equal(await wakeup.lend(async () => 'twice'), undefined, 'lent to one at a time');
        wakes = 0;
        return (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
      });
      const listening = await db.query<{ pid: number }>(`select pid from pg_stat_activity where application_name = 'wakeup-lend'`);
      assert.deepEqual(listening.map((row) => row.pid), [pid], 'the listening connection itself');
      assert.equal(wakeup.listening, true);
      assert.equal(wakes, 1, 'the claimer looks for what a busy connection did not hear');
    } finally {
      await wakeup.stop();
    }
  });
});

describe('StopWatchdog', () => {
  /** A one-thread pool of the test tasks, watched over. */
  function watched() {
    const workers = new WorkerPool(
      { threads: 1, threadMemoryMb: 0, tasksPath: join(fixtures, 'tasks.js'), concurrency: 1, logLevel: 'silent', logFormat: 'json', databaseUrl: '', progressChannel: 'unused' },
      log,
    );
    const holdings = new Holdings();
    return { workers, holdings, watchdog: new StopWatchdog(workers, holdings) };
  }

  it('terminates the thread of a held job that ignores its signal past its timeout', async () => {
    const { workers, holdings, watchdog } = watched();
    try {
      const batch = new Batch([heldJob('1', 1, 100)]);
      holdings.add(batch);
      watchdog.start();
      const results = await workers.run(batch);
      const result = results.get(0)!;
      assert.equal(result.kind, 'error');
      assert.match('error' in result ? result.error : '', /^JobTimeoutError: job timed out after 0.1s/);
    } finally {
      watchdog.stop();
      await workers.close();
    }
  });

  it('terminates the thread of a cancelled job that ignores its signal, a grace period after the cancel', async () => {
    const { workers, holdings, watchdog } = watched();
    try {
      const batch = new Batch([{ ...heldJob('2', 1), task: 'spinUntil', payload: JSON.stringify({ gate: '/nonexistent/gate' }) }]);
      holdings.add(batch);
      watchdog.start();
      const running = workers.run(batch);
      await waitFor('the job running', () => batch.progress.state(0) === 1, 5000);
      const cancelledAt = Date.now();
      holdings.get('2')!.cancelledAt = cancelledAt;
      const result = (await running).get(0)!;
      assert.match('error' in result ? result.error : '', /^JobCancelledError: job was cancelled and did not stop within 1s/);
      assert.ok(Date.now() - cancelledAt >= 1000, 'not before the grace period');
    } finally {
      watchdog.stop();
      await workers.close();
    }
  });

  it('still watches a job claimed again before the hand-back of its first claim was written', async () => {
    const { workers, holdings, watchdog } = watched();
    try {
      // The first claim never ran (its thread died first) and is handed back;
      // the job is claimed again, then the hand-back's write reports.
      const first = new Batch([heldJob('3', 1, 100)]);
      holdings.add(first);
      const again = new Batch([heldJob('3', 1, 100)]);
      holdings.add(again);
      holdings.remove(first.jobs[0]!);
      assert.equal(holdings.of(first.jobs[0]!), undefined, 'the first claim is no longer held');
      assert.equal(holdings.of(again.jobs[0]!)?.batch, again, 'the second claim is');
      watchdog.start();
      const deadline = new AbortController();
      const result = await Promise.race([
        workers.run(again).then((results) => results.get(0)!),
        sleep(10_000, undefined, { signal: deadline.signal }).then(() => assert.fail('the second claim ran past its timeout unwatched')),
      ]).finally(() => deadline.abort());
      assert.match('error' in result ? result.error : '', /^JobTimeoutError: job timed out after 0.1s/);
    } finally {
      watchdog.stop();
      await workers.close();
    }
  });
});

describe('ProgressWriter', () => {
  it('writes the latest report of each running job in one statement, only for the attempt that made it, and the rest when stopped', async () => {
    const sql = supervisorStatements(db.schema, []);
    const [a, b, done] = await db.query<{ job_id: string }>(
      `insert into jobs (task, attempts, job_status, locked_by, locked_until)
       values ('t', 1, 'running', 's', now() + interval '1 hour'), ('t', 2, 'running', 's', now() + interval '1 hour'), ('t', 1, 'success', null, null)
       returning job_id`,
    );
    const writer = new ProgressWriter({ pool, statement: sql.writeProgress, channel: `progress-test-${db.schema}`, health: health(), log });
    const threads = new BroadcastChannel(`progress-test-${db.schema}`);
    await writer.start();
    try {
      threads.postMessage({ id: a!.job_id, attempt: 1, value: '0.1' });
      threads.postMessage({ id: a!.job_id, attempt: 1, value: '{"done":2}' });
      threads.postMessage({ id: b!.job_id, attempt: 1, value: '0.5' }); // an earlier attempt: dropped
      threads.postMessage({ id: done!.job_id, attempt: 1, value: '0.5' }); // its outcome is written (and carried its last report): dropped
      await waitFor('the reports written', async () => (await db.job(a!.job_id)).progress !== null);
      assert.deepEqual((await db.job(a!.job_id)).progress, { done: 2 });
      assert.equal((await db.job(b!.job_id)).progress, null);
      assert.equal((await db.job(done!.job_id)).progress, null);
      threads.postMessage({ id: b!.job_id, attempt: 2, value: '0.9' });
      await sleep(100); // delivered (messages cross threads asynchronously), not yet written
    } finally {
      await writer.stop();
      threads.close();
    }
    assert.equal((await db.job(b!.job_id)).progress, 0.9, 'stopping writes the report still waiting');
  });
});

describe('Gates', () => {
  it('reads whether the gated claim is needed at start and on refresh, and stops', async () => {
    await db.query('truncate queues cascade');
    let changes = 0;
    const gates = new Gates({ pool: db.pool, statement: flowStatements(db.schema).gates, queues: [], health: health(), log, onChange: () => changes++ });
    try {
      await gates.start();
      assert.equal(gates.active, false);
      await db.query(`insert into queues (queue, concurrency) values ('gates-test', 2)`);
      gates.refresh();
      await waitFor('the limit read', () => gates.active, 5000);
      assert.equal(changes, 1);
      await db.query(`update queues set concurrency = null where queue = 'gates-test'`);
      gates.refresh();
      await waitFor('the limit gone', () => !gates.active, 5000);
      gates.keyedJobAdded();
      assert.equal(gates.active, true, 'a job with a key was announced');
    } finally {
      await gates.stop();
      await db.query('truncate queues cascade');
    }
  });
});

describe('CronScheduler', () => {
  it('adds one job per tick on the leader only, due at its tick, and none after it stops', async () => {
    await db.query('truncate jobs');
    await db.query(`insert into schedules (name, expression, task) values ('every-second', '* * * * * *', 'noop')`);
    let leads = false;
    const cron = new CronScheduler({ pool: db.pool, sql: flowStatements(db.schema), leads: () => leads, health: health(), log });
    const jobs = async () => db.query<{ job_key: string; run_at: Date }>(`select job_key, run_at from jobs where task = 'noop' order by run_at`);
    try {
      cron.start();
      cron.runSoon();
      await sleep(1500);
      assert.equal((await jobs()).length, 0, 'a follower adds nothing');
      leads = true;
      cron.runSoon();
      await waitFor('three ticks', async () => (await jobs()).length >= 3, 10_000);
    } finally {
      await cron.stop();
      await db.query(`delete from schedules`);
    }
    const added = await jobs();
    const ticks = added.map((job) => job.run_at.getTime());
    assert.ok(ticks.every((tick) => tick % 1000 === 0), 'due at whole seconds');
    assert.deepEqual(ticks.slice(1).map((tick, i) => tick - ticks[i]!), ticks.slice(1).map(() => 1000), 'one job per second, none skipped or doubled');
    assert.deepEqual(added.map((job) => job.job_key), ticks.map((tick) => `cron:every-second:${new Date(tick).toISOString()}`));
    await sleep(1500);
    assert.equal((await jobs()).length, added.length, 'nothing added once stopped');
  });
});

describe('MetricsServer', () => {
  it('serves /healthz and /readyz while started, and frees its port when stopped', async () => {
    const port = await freePort();
    const server = new MetricsServer({
      host: '127.0.0.1', port, registry: new Registry(), readiness: () => ({ ready: false, reason: 'starting' }), log,
    });
    await server.start();
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    assert.deepEqual([ready.status, await ready.text()], [503, 'starting\n']);
    await server.stop();
    await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`));
  });
});

describe('ConsoleServer', () => {
  it('serves the pages and the API while started (read-only: a POST is refused), and frees its port when stopped', async () => {
    const port = await freePort();
    const queue = new Queue({ pool, schema: db.schema });
    const server = new ConsoleServer({ host: '127.0.0.1', port, token: undefined, allowActions: false, api: new ConsoleApi(queue, pool, false), log });
    await server.start();
    const url = `http://127.0.0.1:${port}`;
    assert.match(await (await fetch(`${url}/`)).text(), /<div id="app">/);
    const overview = (await (await fetch(`${url}/api/overview`)).json()) as { allowActions: boolean; queues: unknown[] };
    assert.equal(overview.allowActions, false);
    const post = await fetch(`${url}/api/queues/default/pause`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(post.status, 403);
    assert.match(((await post.json()) as { error: string }).error, /this console is read-only: start it with --console-allow-actions/);
    assert.equal((await fetch(`${url}/api/nothing`)).status, 404);
    const typo = await fetch(`${url}/api/jobs?stauts=failed`);
    assert.deepEqual([typo.status, ((await typo.json()) as { error: string }).error], [400, 'unknown filter field stauts: a filter takes status, queue, task and search']);
    await server.stop();
    await assert.rejects(fetch(`${url}/`));
  });
});
