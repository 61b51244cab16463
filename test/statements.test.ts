// Every filter, fence and ordering rule of the statements in src/db/sql/,
// one condition at a time, run directly against rows built for it. Each test
// is shaped so that removing or inverting its condition changes the result
// (scripts/mutations.mjs checks that it does).
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import pg from 'pg';
import type { JobStatus } from '../src/config.js';
import { jobFilterStatements, type JobFilter } from '../src/db/sql/job-filter.js';
import { producerStatements } from '../src/db/sql/producer.js';
import { supervisorStatements } from '../src/db/sql/supervisor.js';
import { testDb, type TestDb } from './helpers/db.js';

let db: TestDb;
/** A lock wait means a statement that should skip locked rows waited: fail it rather than hang. */
let pool: pg.Pool;
const LEASE_MS = 30_000;

before(async () => {
  db = await testDb('statements');
  pool = new pg.Pool({ connectionString: db.url, max: 4, options: `-c search_path=${db.schema} -c lock_timeout=2s` });
});
after(async () => {
  await pool.end();
  await db.drop();
});
beforeEach(async () => {
  await db.query('delete from jobs');
  await db.query('delete from supervisors');
});

const sql = (queues: string[] = []) => supervisorStatements(db.schema, queues);
const producer = () => producerStatements(db.schema);
const filters = () => jobFilterStatements(db.schema);

/** The database's clock, `offsetMs` from now. */
async function at(offsetMs: number): Promise<Date> {
  const [row] = await db.query<{ t: Date }>(`select now() + $1 * interval '1 millisecond' as t`, [offsetMs]);
  return row!.t;
}

/** Inserts one row with the given columns (task 't' unless given; a running row held by 'me' unless given) and returns its id. */
async function addRow(fields: Record<string, unknown> = {}): Promise<string> {
  const lease = fields.job_status === 'running' ? { locked_by: 'me', locked_until: new Date(Date.now() + LEASE_MS) } : {};
  const row: Record<string, unknown> = { task: 't', ...lease, ...fields };
  const columns = Object.keys(row);
  const [added] = await db.query<{ job_id: string }>(
    `insert into jobs (${columns.join(', ')}) values (${columns.map((_, i) => `$${i + 1}`).join(', ')}) returning job_id`,
    Object.values(row),
  );
  return added!.job_id;
}

/** A row as a supervisor 'me' holds it while it runs attempt `attempt`. */
const held = (attempt = 1, holder = 'me') =>
  addRow({ job_status: 'running', attempts: attempt, locked_by: holder, locked_until: new Date(Date.now() + LEASE_MS) });

/** Claims up to `limit` jobs for supervisor 'me'; returns the claimed ids in the order returned. */
async function claim(limit: number, options: { tasks?: string[]; queues?: string[] } = {}): Promise<string[]> {
  const { tasks = ['t'], queues = [] } = options;
  const params: unknown[] = [tasks, limit, 'me', LEASE_MS];
  if (queues.length > 0) params.push(queues);
  const { rows } = await pool.query<{ id: string }>(sql(queues).claimJobs, params);
  return rows.map((row) => row.id);
}

/** Claims one job at a time until none is left; the order in which jobs were claimed. */
async function claimAllOneByOne(): Promise<string[]> {
  const order: string[] = [];
  for (let ids = await claim(1); ids.length > 0; ids = await claim(1)) order.push(...ids);
  return order;
}

describe('claim-jobs', () => {
  it('marks the claimed job running for this supervisor: attempt counted, leased', async () => {
    const id = await addRow({ job_data: { a: 1 }, max_attempts: 4, timeout_ms: 1500 });
    const before = await at(0);
    const { rows } = await pool.query(sql().claimJobs, [['t'], 1, 'me', LEASE_MS]);
    assert.deepEqual(rows.map((r) => [r.id, r.task, r.queue, r.payload, r.attempt, r.max_attempts, r.timeout_ms]), [
      [id, 't', 'default', '{"a": 1}', 1, 4, 1500],
    ]);
    const row = await db.job(id);
    assert.equal(row.job_status, 'running');
    assert.equal(row.attempts, 1);
    assert.equal(row.locked_by, 'me');
    const leaseMs = row.locked_until.getTime() - before.getTime();
    assert.ok(leaseMs >= LEASE_MS && leaseMs < LEASE_MS + 5000, `lease of ${leaseMs} ms`);
  });

  it('claims only pending jobs', async () => {
    for (const job_status of ['running', 'success', 'failed', 'cancelled']) await addRow({ job_status });
    const pending = await addRow();
    assert.deepEqual(await claim(10), [pending]);
  });

  it('claims only due jobs', async () => {
    await addRow({ run_at: await at(60_000) });
    const due = await addRow({ run_at: await at(-1) });
    assert.deepEqual(await claim(10), [due]);
  });

  it('claims only the tasks it is given', async () => {
    await addRow({ task: 'unknown' });
    const known = await addRow({ task: 'known' });
    assert.deepEqual(await claim(10, { tasks: ['known', 'other'] }), [known]);
  });

  it('claims only from the queues it serves, or from every queue when given none', async () => {
    const other = await addRow({ queue: 'other' });
    const served = await addRow({ queue: 'served' });
    assert.deepEqual(await claim(10, { queues: ['served', 'x'] }), [served]);
    assert.deepEqual(await claim(10), [other]);
  });

  it('claims no more than its limit, over several priorities', async () => {
    for (const priority of [0, 1, 2, 0, 1]) await addRow({ priority });
    assert.equal((await claim(3)).length, 3);
    assert.equal((await claim(3)).length, 2);
  });

  it('claims in (priority, run_at, job_id) order, across claims and within one', async () => {
    const a = await addRow({ priority: 1, run_at: await at(-3000) });
    const b = await addRow({ priority: 0, run_at: await at(-1000) });
    const c = await addRow({ priority: 0, run_at: await at(-2000) });
    const d = await addRow({ priority: 0, run_at: await at(-2000) });
    const e = await addRow({ priority: -1, run_at: await at(-1000) });
    // c and d share their run_at exactly.
    await db.query(`update jobs set run_at = (select run_at from jobs where job_id = $1) where job_id = $2`, [c, d]);
    assert.deepEqual(await claimAllOneByOne(), [e, c, d, b, a]);
    await db.query(`update jobs set job_status = 'pending', attempts = 0, locked_by = null, locked_until = null`);
    assert.deepEqual((await claim(3)).sort(), [e, c, d].sort());
  });

  it('claims a job whose attempt count is at its largest, rather than fail on it', async () => {
    const full = await addRow({ attempts: 2_147_483_647 });
    const next = await addRow();
    assert.deepEqual(await claim(10), [full, next]);
    assert.equal((await db.job(full)).attempts, 2_147_483_647);
  });

  it('skips a job another claim has locked, without waiting for it', async () => {
    const locked = await addRow();
    const free = await addRow();
    const other = await pool.connect();
    try {
      await other.query('begin');
      await other.query('select 1 from jobs where job_id = $1 for update', [locked]);
      assert.deepEqual(await claim(10), [free]);
    } finally {
      await other.query('rollback');
      other.release();
    }
  });
});

describe('claim-jobs-with-offer', () => {
  const OFFER = 'me';
  async function offer(): Promise<void> {
    await db.query(`insert into supervisors (supervisor_id, host, pid, threads, concurrency) values ($1, 'h', 1, 1, 1) on conflict do nothing`, [OFFER]);
    await pool.query(sql().placeOffer, [OFFER, 'chan', LEASE_MS]);
  }
  const offerExists = async () => (await db.query(`select 1 from offers where supervisor_id = $1`, [OFFER])).length === 1;
  async function claimWithOffer(limit: number): Promise<{ ids: string[]; stands: boolean }> {
    const { rows } = await pool.query(sql().claimJobsWithOffer, [['t'], limit, 'me', LEASE_MS]);
    return { ids: rows.filter((row) => row.id !== null).map((row) => row.id), stands: rows[0].offer_stands };
  }

  it('with no offer, claims up to its limit and says no offer stands', async () => {
    const [x, y] = [await addRow(), await addRow()];
    assert.deepEqual(await claimWithOffer(1), { ids: [x], stands: false });
    assert.deepEqual(await claimWithOffer(0), { ids: [], stands: false });
    assert.equal((await db.job(y)).job_status, 'pending');
  });

  it('keeps the offer when the jobs fit the slots not offered', async () => {
    await offer();
    const x = await addRow();
    assert.deepEqual(await claimWithOffer(1), { ids: [x], stands: true });
    assert.ok(await offerExists());
  });

  it('takes the offered slot back when more jobs wait, and withdraws the offer', async () => {
    await offer();
    const [x, y, z] = [await addRow(), await addRow(), await addRow()];
    assert.deepEqual(await claimWithOffer(1), { ids: [x, y], stands: false });
    assert.equal(await offerExists(), false);
    assert.equal((await db.job(z)).job_status, 'pending');
  });

  it('leaves an offer a producer is taking alone: neither waits for it nor claims its slot', async () => {
    await offer();
    const x = await addRow();
    const producerTx = await pool.connect();
    try {
      await producerTx.query('begin');
      await producerTx.query('select 1 from offers where supervisor_id = $1 for update', [OFFER]);
      assert.deepEqual(await claimWithOffer(0), { ids: [], stands: true });
      assert.equal((await db.job(x)).job_status, 'pending');
    } finally {
      await producerTx.query('rollback');
      producerTx.release();
    }
  });
});

describe('complete-jobs: the fence and each kind of outcome', () => {
  /** Writes one outcome as supervisor `by` for attempt `attempt`; returns the ids the fence let through. */
  async function complete(id: string, kind: string, options: { attempt?: number; by?: string; error?: string | null; delayMs?: number } = {}) {
    const { attempt = 1, by = 'me', error = null, delayMs = 0 } = options;
    const { rows } = await pool.query(sql().completeJobs, [id, String(attempt), kind, [error], String(delayMs), by, null, null]);
    return rows.map((row) => row.job_id);
  }

  it('writes the outcome of a job this supervisor holds at that attempt', async () => {
    const id = await held();
    assert.deepEqual(await complete(id, 'success'), [id]);
    const row = await db.job(id);
    assert.deepEqual([row.job_status, row.attempts, row.locked_by, row.locked_until], ['success', 1, null, null]);
    assert.ok(row.finished_at);
  });

  it('refuses the outcome of a job held by someone else (or cancelled) at the same attempt', async () => {
    const cancelled = await addRow({ job_status: 'cancelled', attempts: 1 });
    const taken = await held(1, 'another');
    assert.deepEqual(await complete(cancelled, 'success'), []);
    assert.deepEqual(await complete(taken, 'success'), []);
    assert.equal((await db.job(cancelled)).job_status, 'cancelled');
    assert.deepEqual([(await db.job(taken)).job_status, (await db.job(taken)).locked_by], ['running', 'another']);
  });

  it('refuses the outcome of an earlier attempt of a job this supervisor holds again', async () => {
    const id = await held(2);
    assert.deepEqual(await complete(id, 'success', { attempt: 1 }), []);
    assert.equal((await db.job(id)).job_status, 'running');
  });

  it('an error with attempts left: pending again after the delay, the error kept, not finished', async () => {
    const id = await addRow({ job_status: 'running', attempts: 1, max_attempts: 3, locked_by: 'me', last_error: 'older' });
    const before = await at(0);
    await complete(id, 'error', { error: 'boom', delayMs: 60_000 });
    const row = await db.job(id);
    assert.deepEqual([row.job_status, row.attempts, row.last_error, row.finished_at, row.locked_by], ['pending', 1, 'boom', null, null]);
    const delay = row.run_at.getTime() - before.getTime();
    assert.ok(delay >= 60_000 && delay < 65_000, `due ${delay} ms later`);
  });

  it('keeps every failed attempt\'s error in errors (the 24 newest), and recovery\'s too', async () => {
    const id = await addRow({ job_status: 'running', attempts: 1, max_attempts: 30, locked_by: 'me' });
    await complete(id, 'error', { error: 'first' });
    await complete(id, 'success'); // refused: pending now, not held
    for (let attempt = 2; attempt <= 26; attempt++) {
      await db.query(`update jobs set job_status = 'running', attempts = $2, locked_by = 'me', locked_until = now() + interval '1 hour' where job_id = $1`, [id, attempt]);
      await complete(id, 'error', { attempt, error: `error ${attempt}` });
    }
    const { errors } = await db.job(id);
    assert.equal(errors.length, 24);
    assert.deepEqual(errors.map((entry: { attempt: number }) => entry.attempt), Array.from({ length: 24 }, (_, i) => i + 3));
    assert.equal(errors.at(-1).error, 'error 26');
    assert.equal(errors.at(-1).by, 'me', 'the supervisor that ran the attempt');
    assert.ok(!Number.isNaN(Date.parse(errors.at(-1).at)));
    const expired = await addRow({ job_status: 'running', attempts: 1, locked_by: 'gone', locked_until: new Date(Date.now() - 1000) });
    await pool.query(sql().recoverExpired, [60_000, db.schema]);
    assert.match((await db.job(expired)).errors[0].error, /^lease expired: supervisor gone stopped renewing it during attempt 1$/);
    const ok = await held();
    await complete(ok, 'success');
    assert.equal((await db.job(ok)).errors, null, 'a job that never failed has no errors');
  });

  it('an error on the last attempt: failed and finished', async () => {
    const id = await addRow({ job_status: 'running', attempts: 3, max_attempts: 3, locked_by: 'me' });
    await complete(id, 'error', { attempt: 3, error: 'boom', delayMs: 60_000 });
    const row = await db.job(id);
    assert.deepEqual([row.job_status, row.attempts, row.last_error], ['failed', 3, 'boom']);
    assert.ok(row.finished_at);
  });

  it('a requeue: pending with the attempt counted; a release: pending with the attempt not counted; both keep their place in line', async () => {
    const runAt = await at(-60_000);
    const requeued = await addRow({ job_status: 'running', attempts: 2, locked_by: 'me', run_at: runAt, last_error: 'older' });
    const released = await addRow({ job_status: 'running', attempts: 2, locked_by: 'me', run_at: runAt, last_error: 'older' });
    await complete(requeued, 'requeue', { attempt: 2, error: 'aborted' });
    await complete(released, 'release', { attempt: 2 });
    const [q, r] = [await db.job(requeued), await db.job(released)];
    assert.deepEqual([q.job_status, q.attempts, q.last_error, q.finished_at], ['pending', 2, 'aborted', null]);
    assert.deepEqual([r.job_status, r.attempts, r.last_error, r.finished_at], ['pending', 1, 'older', null]);
    for (const row of [q, r]) assert.equal(row.run_at.getTime(), runAt.getTime());
  });
});

describe('extend-leases: the same fence', () => {
  async function extend(id: string, attempt: number, by = 'me'): Promise<string[]> {
    const { rows } = await pool.query(sql().extendLeases, [by, [id], [attempt], 90_000]);
    return rows.map((row) => row.job_id);
  }

  it('extends the lease of a job this supervisor holds at that attempt, and no other', async () => {
    const mine = await held(1);
    const taken = await held(1, 'another');
    const again = await held(2);
    const start = await at(0);
    assert.deepEqual(await extend(mine, 1), [mine]);
    assert.ok((await db.job(mine)).locked_until.getTime() >= start.getTime() + 90_000);
    assert.deepEqual(await extend(taken, 1), [], 'held by another supervisor');
    assert.deepEqual(await extend(again, 1), [], 'held again at a later attempt');
  });
});

describe('recover-expired', () => {
  const recover = async () => (await pool.query(sql().recoverExpired, [60_000, db.schema])).rows;

  it('puts running jobs whose lease expired back to pending in their place in line, naming the supervisor', async () => {
    const runAt = await at(-60_000);
    const expired = await addRow({ job_status: 'running', attempts: 1, locked_by: 'dead', locked_until: await at(-1), run_at: runAt });
    const live = await addRow({ job_status: 'running', attempts: 1, locked_by: 'alive', locked_until: await at(60_000) });
    const rows = await recover();
    assert.deepEqual(rows.map((row) => [row.job_id, row.job_status, row.lost_by]), [[expired, 'pending', ['dead']]]);
    const row = await db.job(expired);
    assert.deepEqual([row.job_status, row.attempts, row.locked_by, row.locked_until, row.finished_at], ['pending', 1, null, null, null]);
    assert.equal(row.last_error, 'lease expired: supervisor dead stopped renewing it during attempt 1');
    assert.equal(row.run_at.getTime(), runAt.getTime(), 'ahead of jobs added since');
    assert.equal((await db.job(live)).job_status, 'running');
  });

  it('fails a recovered job that has used its last attempt', async () => {
    const id = await addRow({ job_status: 'running', attempts: 3, max_attempts: 3, locked_by: 'dead', locked_until: await at(-1) });
    await recover();
    const row = await db.job(id);
    assert.equal(row.job_status, 'failed');
    assert.ok(row.finished_at);
  });

  it('touches only running jobs', async () => {
    const done = await addRow({ job_status: 'failed', attempts: 1, locked_until: await at(-1) });
    assert.deepEqual(await recover(), []);
    assert.equal((await db.job(done)).job_status, 'failed');
  });

  it('removes supervisors silent for longer than asked, and keeps the others', async () => {
    await db.query(`insert into supervisors (supervisor_id, host, pid, threads, concurrency, heartbeat_at)
                    values ('silent', 'h', 1, 1, 1, now() - interval '61 seconds'), ('beating', 'h', 2, 1, 1, now() - interval '59 seconds')`);
    await addRow({ job_status: 'running', attempts: 1, locked_by: 'silent', locked_until: await at(-1) });
    const [row] = await recover();
    assert.equal(row.supervisors_removed, 1);
    assert.deepEqual((await db.query(`select supervisor_id from supervisors`)).map((r) => r.supervisor_id), ['beating']);
  });

  it('does nothing while another supervisor holds the recovery lock', async () => {
    const id = await addRow({ job_status: 'running', attempts: 1, locked_by: 'dead', locked_until: await at(-1) });
    const other = await pool.connect();
    try {
      await other.query(`select pg_advisory_lock(hashtextextended('pg-supervisor:recover:' || $1::text, 0))`, [db.schema]);
      assert.deepEqual(await recover(), []);
      assert.equal((await db.job(id)).job_status, 'running');
    } finally {
      await other.query('select pg_advisory_unlock_all()');
      other.release();
    }
    assert.equal((await recover()).length, 1);
  });
});

describe('insert-job: hand-off to an offer', () => {
  /** A supervisor 'idle' serving `tasks` and `queues`, whose offer stands; its heartbeat `ageMs` old. */
  async function idleSupervisor(options: { tasks?: string[]; queues?: string[]; ageMs?: number; gated?: 'paused' | 'limited' } = {}): Promise<void> {
    const { tasks = ['t'], queues = [], ageMs = 0, gated } = options;
    await db.query('truncate queues cascade');
    if (gated) await db.query(`insert into queues (queue, paused, concurrency) values ('default', $1, $2)`, [gated === 'paused', gated === 'limited' ? 5 : null]);
    await db.query(
      `insert into supervisors (supervisor_id, host, pid, threads, concurrency, queues, tasks, heartbeat_at)
       values ('idle', 'h', 1, 1, 1, $1, $2, now() - $3 * interval '1 millisecond')`,
      [queues, tasks, ageMs],
    );
    await pool.query(sql().placeOffer, ['idle', 'idle_channel', 10_000]);
  }

  /** Adds one job as Queue.add does; whether it was handed off. */
  async function add(fields: { task?: string; queue?: string; payload?: string; runAt?: Date | null; jobKey?: string | null; concurrencyKey?: string } = {}) {
    const { task = 't', queue = 'default', payload = '{}', runAt = null, jobKey = null, concurrencyKey = null } = fields;
    const { rows } = await pool.query(producer().insertJob, [task, queue, payload, 0, runAt, 3, jobKey, null, concurrencyKey, null, null]);
    const row = await db.job(rows[0].job_id);
    return { handedOff: rows[0].handed_off !== null, row };
  }

  it('inserts a due job already claimed for the idle supervisor, and uses the offer up', async () => {
    await idleSupervisor();
    const { handedOff, row } = await add();
    assert.equal(handedOff, true);
    assert.deepEqual([row.job_status, row.attempts, row.locked_by], ['running', 1, 'idle']);
    assert.deepEqual(await db.query(`select * from offers`), []);
    const second = await add();
    assert.deepEqual([second.handedOff, second.row.job_status, second.row.attempts], [false, 'pending', 0]);
  });

  it('serves any queue for a supervisor of every queue', async () => {
    await idleSupervisor({ queues: [] });
    assert.equal((await add({ queue: 'anything' })).handedOff, true);
  });

  type Setup = Parameters<typeof idleSupervisor>[0];
  type Job = Parameters<typeof add>[0];
  const cases: [string, Setup, Job][] = [
    ['a job with a key', {}, { jobKey: 'k' }],
    ['a job with a concurrency key', {}, { concurrencyKey: 'customer:1' }],
    ['a job of a paused queue', { gated: 'paused' }, {}],
    ['a job of a queue with a concurrency limit', { gated: 'limited' }, {}],
    ['a job scheduled for later', {}, { runAt: new Date(Date.now() + 60_000) }],
    ['a task the supervisor does not know', { tasks: ['other'] }, {}],
    ['a queue the supervisor does not serve', { queues: ['served'] }, { queue: 'elsewhere' }],
    ['a supervisor whose heartbeat is older than half a lease', { ageMs: 6_000 }, {}],
    ['a payload over 7,000 bytes', {}, { payload: JSON.stringify({ blob: 'x'.repeat(7_000) }) }],
    // 6,001 bytes as sent, 9,000 as jsonb prints it: the notification would be too long.
    ['a job whose notification would exceed 7,800 bytes', {}, { payload: JSON.stringify(Array(3000).fill(1)) }],
  ];
  for (const [what, setup, job] of cases) {
    it(`leaves ${what} pending and the offer standing`, async () => {
      await idleSupervisor(setup);
      const { handedOff, row } = await add(job);
      assert.deepEqual([handedOff, row.job_status, row.attempts, row.locked_by], [false, 'pending', 0, null]);
      assert.equal((await db.query(`select * from offers`)).length, 1);
    });
  }

  it('passes over an offer another producer is taking, without waiting', async () => {
    await idleSupervisor();
    const other = await pool.connect();
    try {
      await other.query('begin');
      await other.query(`select 1 from offers for update`);
      assert.equal((await add()).handedOff, false);
    } finally {
      await other.query('rollback');
      other.release();
    }
  });
});

describe('producer statements', () => {
  it('retry-jobs-matching re-queues only the statuses and filter asked for, with fresh attempts; by id, failed or cancelled ones', async () => {
    const failed = await addRow({ job_status: 'failed', attempts: 3, task: 'a', last_error: 'boom', finished_at: new Date() });
    const failedB = await addRow({ job_status: 'failed', attempts: 3, task: 'b' });
    const cancelled = await addRow({ job_status: 'cancelled', task: 'a' });
    const succeeded = await addRow({ job_status: 'success', task: 'a' });
    const retry = async (filter: JobFilter, statuses: JobStatus[]) => {
      const { statement, values } = filters().retryJobs(filter, statuses);
      return (await pool.query(statement, values)).rows.map((row) => row.job_id).sort();
    };
    assert.deepEqual(await retry({ task: 'a' }, ['failed']), [failed]);
    const row = await db.job(failed);
    assert.deepEqual([row.job_status, row.attempts, row.last_error, row.finished_at], ['pending', 0, 'boom', null]);
    assert.deepEqual((await pool.query(filters().retryJobsById, [[cancelled, succeeded]])).rows.map((r) => r.job_id), [cancelled]);
    assert.equal((await db.job(failedB)).job_status, 'failed');
    assert.equal((await db.job(succeeded)).job_status, 'success');
  });

  it('cancel-jobs cancels only pending and running jobs, and releases the lease', async () => {
    const pending = await addRow();
    const running = await held();
    const done = await addRow({ job_status: 'success' });
    const failed = await addRow({ job_status: 'failed' });
    const { rows } = await pool.query(filters().cancelJobs, [[pending, running, done, failed]]);
    assert.deepEqual(rows.map((row) => row.job_id).sort(), [pending, running].sort());
    const row = await db.job(running);
    assert.deepEqual([row.job_status, row.locked_by, row.locked_until], ['cancelled', null, null]);
    assert.equal((await db.job(done)).job_status, 'success');
    assert.equal((await db.job(failed)).job_status, 'failed');
  });

  it('list-jobs filters by status, task, queue and text, newest first, a page at a time from the last id', async () => {
    const ids = [
      await addRow({ task: 'a', queue: 'q', job_data: { customer: 'Ada' } }),
      await addRow({ task: 'a', queue: 'q', job_status: 'failed', last_error: 'Error: card DECLINED' }),
      await addRow({ task: 'a', queue: 'r' }),
      await addRow({ task: 'b', queue: 'q', job_data: { note: '100%_sure' } }),
      await addRow({ task: 'a', queue: 'q' }),
    ];
    const list = async (filter: JobFilter, limit = 10, before: string | null = null) => {
      const { statement, values } = filters().listJobs(filter, limit, before);
      return (await pool.query(statement, values)).rows.map((row) => row.job_id);
    };
    assert.deepEqual(await list({ status: 'pending', task: 'a', queue: 'q' }), [ids[4], ids[0]]);
    assert.deepEqual(await list({ status: 'failed' }), [ids[1]]);
    assert.deepEqual(await list({ task: 'b' }), [ids[3]]);
    assert.deepEqual(await list({ queue: 'r' }), [ids[2]]);
    assert.deepEqual(await list({ search: 'ada' }), [ids[0]], 'text in the payload, in any case');
    assert.deepEqual(await list({ search: 'declined' }), [ids[1]], 'text in the last error');
    assert.deepEqual(await list({ search: '0%_' }), [ids[3]], '% and _ are matched as themselves');
    assert.deepEqual(await list({ search: '1%s' }), [], '% is no wildcard');
    assert.deepEqual(await list({}, 2), [ids[4], ids[3]]);
    assert.deepEqual(await list({}, 2, ids[3]!), [ids[2], ids[1]], 'the next page starts before the last id shown');
    assert.deepEqual(await list({ queue: 'q' }, 2, ids[3]!), [ids[1], ids[0]]);
  });

  it('delete-jobs-matching deletes matching jobs except running ones; count-jobs-matching counts up to its cap', async () => {
    const running = await held();
    const kept = await addRow({ task: 'b' });
    const gone = [await addRow({ job_status: 'failed' }), await addRow({ job_status: 'success' }), await addRow()];
    const count = async (filter: JobFilter, upTo = 100) => {
      const { statement, values } = filters().countJobs(filter, upTo);
      return (await pool.query(statement, values)).rows[0].count;
    };
    assert.equal(await count({}), 5);
    assert.equal(await count({}, 2), 2);
    assert.equal(await count({ task: 'b' }), 1);
    const taskOf = (await db.job(gone[0]!)).task;
    const { statement, values } = filters().deleteJobs({ task: taskOf });
    assert.deepEqual((await pool.query(statement, values)).rows.map((row) => row.job_id).sort(), [...gone].sort());
    assert.equal((await db.job(running)).job_status, 'running', 'a running job is not deleted');
    assert.ok(await db.job(kept));
    assert.deepEqual((await pool.query(filters().deleteJobsById, [[running, kept]])).rows.map((row) => row.job_id), [kept]);
  });
});

describe('what supervisors run, for typos and status', () => {
  async function supervisor(id: string, tasks: string[], heartbeatAgeMs: number, leaseMs = 10_000): Promise<void> {
    await db.query(
      `insert into supervisors (supervisor_id, host, pid, threads, concurrency, tasks, lease_ms, heartbeat_at)
       values ($1, 'h', 1, 1, 1, $2, $3, now() - $4 * interval '1 millisecond')`,
      [id, tasks, leaseMs, heartbeatAgeMs],
    );
  }

  it('live-tasks lists the tasks of supervisors whose heartbeat is within their lease', async () => {
    await supervisor('live', ['a', 'b'], 1_000);
    await supervisor('silent', ['c'], 11_000);
    const { rows } = await pool.query(producer().liveTasks);
    assert.deepEqual(rows.map((row) => row.task).sort(), ['a', 'b']);
  });

  it('jobs-without-runner counts pending jobs whose task no live supervisor runs, by task and queue', async () => {
    await supervisor('live', ['a'], 1_000);
    await supervisor('silent', ['c'], 11_000);
    for (const [task, queue, job_status] of [['a', 'q', 'pending'], ['c', 'q', 'pending'], ['c', 'q', 'pending'], ['typo', 'r', 'pending'], ['typo', 'r', 'failed']]) {
      await addRow({ task, queue, job_status });
    }
    const { rows } = await pool.query(producer().jobsWithoutRunner);
    assert.deepEqual(rows.map((row) => [row.task, row.queue, row.count]), [['c', 'q', 2], ['typo', 'r', 1]]);
  });

  it('the claim and the hand-off record when the attempt started', async () => {
    const id = await addRow();
    const before = await at(0);
    await claim(1);
    assert.ok((await db.job(id)).started_at.getTime() >= before.getTime());
  });
});
