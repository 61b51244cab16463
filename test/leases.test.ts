import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Queue, startSupervisor } from '../src/index.js';
import { fixtures, SupervisorProcess } from './helpers/cli.js';
import { statusCounts, testDb, waitFor, type TestDb } from './helpers/db.js';
import { gate, readRuns, recordFile } from './helpers/records.js';

let db: TestDb;
let queue: Queue;
const tasks = join(fixtures, 'tasks.js');

before(async () => {
  db = await testDb('leases');
  queue = new Queue({ connectionString: db.url, schema: db.schema });
});
after(async () => {
  await queue.close();
  await db.drop();
});

const job = (id: string) => db.job(id);

describe('leases and recovery', () => {
  it('after kill -9 of one of two supervisors, its jobs run elsewhere within lease + recovery interval', async () => {
    const out = recordFile();
    const env = { DATABASE_URL: db.url, SUPERVISOR_SCHEMA: db.schema, TEST_OUT: out };
    const leaseMs = 1500;
    const args = ['--tasks', tasks, '--threads', '2', '--concurrency', '8', '--lease', `${leaseMs}ms`, '--queues', 'kill'];
    const [victim, survivor] = [new SupervisorProcess(args, env), new SupervisorProcess(args, env)];
    try {
      const victimId = (await victim.started()).supervisorId as string;
      await survivor.started();
      await queue.addMany(Array.from({ length: 5000 }, () => ({ task: 'sleep', payload: { ms: 2 }, queue: 'kill' })));
      await waitFor('the victim is busy', () => readRuns(out).filter((run) => run.pid === victim.pid).length > 300);

      const claimConnections = await db.query(
        `select 1 from pg_stat_activity where application_name = $1 and query like '%set job_status = ''running''%'`, [victimId]);
      assert.equal(claimConnections.length, 1, 'the victim names its claim connection');
      victim.kill('SIGKILL');
      await victim.waitForExit();
      // A claim the victim sent just before it died still commits on the
      // server; its backends end once they find the client gone. Only then
      // is the set of jobs it holds final.
      await waitFor('the victim\'s connections closed', async () =>
        (await db.query(`select 1 from pg_stat_activity where application_name = $1`, [victimId])).length === 0);
      const held = await db.query<{ job_id: string; locked_until: Date }>(
        `select job_id, locked_until from jobs where locked_by = $1 and job_status = 'running'`, [victimId]);
      const inFlight = new Set(held.map((r) => r.job_id));
      const expiry = Math.max(...held.map((r) => r.locked_until.getTime()));
      // Timed by the database's clock from the moment the last lease expired,
      // so neither the kill nor a slow backend exit counts: recovery runs
      // every lease/3, and 1 s more is slack for a loaded machine.
      const recoveredAt = await waitFor('the victim\'s jobs recovered', async () => {
        const [row] = await db.query(`select count(*)::int as held, now() as at from jobs where locked_by = $1`, [victimId]);
        return row.held === 0 ? (row.at as Date).getTime() : undefined;
      });
      const late = recoveredAt! - expiry;
      assert.ok(late < leaseMs / 3 + 1000, `recovered ${late} ms after the last lease expired (runs every ${leaseMs / 3} ms)`);

      await waitFor('every job succeeded', async () => (await statusCounts(db)).success === 5000, 60_000);
      const runs = readRuns(out);
      const perJob = new Map<string, typeof runs>();
      for (const run of runs) perJob.set(run.jobId, [...(perJob.get(run.jobId) ?? []), run]);
      assert.equal(perJob.size, 5000, 'every job ran');
      const twice = [...perJob.entries()].filter(([, r]) => r.length > 1);
      for (const [id, r] of twice) {
        assert.ok(inFlight.has(id), `job ${id} ran twice but was not in flight at the kill`);
        assert.equal(r.length, 2);
        assert.equal(r[0]!.pid, victim.pid);
      }
      const [recovered] = await db.query(`select count(*)::int as n from jobs where last_error like 'lease expired: supervisor ' || $1 || '%'`, [victimId]);
      assert.equal(recovered.n, inFlight.size, 'every job in flight at the kill was recovered, naming the victim');
    } finally {
      victim.kill('SIGKILL');
      await survivor.stop();
    }
  });

  it("a killed supervisor's jobs run again ahead of the backlog, not after it", async () => {
    const out = recordFile();
    const env = { DATABASE_URL: db.url, SUPERVISOR_SCHEMA: db.schema, TEST_OUT: out };
    const args = ['--tasks', tasks, '--threads', '2', '--concurrency', '4', '--lease', '1500ms', '--queues', 'backlog'];
    const [victim, survivor] = [new SupervisorProcess(args, env), new SupervisorProcess(args, env)];
    try {
      const victimId = (await victim.started()).supervisorId as string;
      await survivor.started();
      // 2,400 jobs of 20 ms: the survivor alone needs about 6 s for them.
      await queue.addMany(Array.from({ length: 2400 }, () => ({ task: 'sleep', payload: { ms: 20 }, queue: 'backlog' })));
      await waitFor('the victim is busy', () => readRuns(out).filter((run) => run.pid === victim.pid).length > 20);
      victim.kill('SIGKILL');
      await victim.waitForExit();
      await waitFor('the victim\'s connections closed', async () =>
        (await db.query(`select 1 from pg_stat_activity where application_name = $1`, [victimId])).length === 0);
      const held = (await db.query<{ job_id: string }>(`select job_id from jobs where locked_by = $1`, [victimId])).map((r) => r.job_id);
      assert.ok(held.length > 0, 'the victim held jobs when it died');
      await waitFor('the victim\'s jobs done', async () =>
        (await db.query(`select 1 from jobs where job_id = any($1) and job_status = 'success'`, [held])).length === held.length);
      const [left] = await db.query(`select count(*)::int as n from jobs where queue = 'backlog' and job_status = 'pending'`);
      assert.ok(left.n > 0, 'the backlog was not drained before the recovered jobs ran');
    } finally {
      victim.kill('SIGKILL');
      await survivor.stop();
    }
  });

  describe('the completion fence refuses the outcome of a job this supervisor no longer holds, and counts it', () => {
    /**
     * Runs a job that waits at a gate; while it waits, `takeAway` changes its
     * row as another actor would. Then the job finishes: its outcome must be
     * refused, leaving the row as `takeAway` left it.
     */
    async function refusedAfter(takeAway: (id: string) => Promise<unknown>): Promise<any> {
      const out = recordFile();
      process.env.TEST_OUT = out; // worker threads copy the environment when they start
      const supervisor = await startSupervisor({
        connectionString: db.url, schema: db.schema, tasks, threads: 1, queues: 'stale', logLevel: 'silent', lease: '60s',
      });
      const release = gate();
      try {
        const added = await queue.add('waitUntil', { gate: release.path }, { queue: 'stale' });
        await waitFor('running', () => readRuns(out).some((run) => run.jobId === added.id));
        await takeAway(added.id);
        const before = await job(added.id);
        release.open();
        await waitFor('the late completion refused', () => supervisor.stats.stale === 1);
        assert.equal(supervisor.stats.succeeded, 0);
        const stale = await supervisor.metrics.registry.getSingleMetric('supervisor_stale_completions_total')!.get();
        assert.equal(stale.values[0]!.value, 1);
        const after = await job(added.id);
        assert.deepEqual(after, before, 'the row is as the other actor left it');
        return after;
      } finally {
        release.open();
        await supervisor.stop();
      }
    }

    it('a job cancelled while it runs stays cancelled (the holder half)', async () => {
      const row = await refusedAfter((id) => queue.cancel([id]));
      assert.deepEqual([row.job_status, row.locked_by, row.attempts], ['cancelled', null, 1]);
    });

    it('a job recovered and claimed again by the same supervisor keeps its new attempt (the attempt half)', async () => {
      const row = await refusedAfter((id) => db.query(`update jobs set attempts = attempts + 1 where job_id = $1`, [id]));
      assert.deepEqual([row.job_status, row.attempts], ['running', 2]);
      await queue.cancel([row.job_id]);
    });

    it('a job recovered by another supervisor while its old holder still runs stays with the new holder', async () => {
      const row = await refusedAfter((id) => db.query(`update jobs set locked_by = 'thief', attempts = attempts + 1 where job_id = $1`, [id]));
      assert.deepEqual([row.job_status, row.locked_by, row.attempts], ['running', 'thief', 2]);
      await queue.cancel([row.job_id]);
    });
  });

  it('a heartbeat keeps the lease of a job that runs far longer than the lease', async () => {
    const out = recordFile();
    const env = { DATABASE_URL: db.url, SUPERVISOR_SCHEMA: db.schema, TEST_OUT: out };
    const args = ['--tasks', tasks, '--threads', '1', '--lease', '600ms', '--queues', 'long'];
    const [runner, watcher] = [new SupervisorProcess(args, env), new SupervisorProcess(args, env)];
    try {
      await Promise.all([runner.started(), watcher.started()]);
      const added = await queue.add('sleep', { ms: 3000 }, { queue: 'long' });
      await waitFor('both supervisors rows refreshed while the job runs', async () => {
        const [row] = await db.query(`select bool_and(heartbeat_at > started_at + interval '1 second') as fresh from supervisors`);
        return row.fresh === true;
      });
      await waitFor('done', async () => (await job(added.id)).job_status === 'success', 15_000);
      const row = await job(added.id);
      assert.equal(row.attempts, 1, 'never recovered while its supervisor lived');
      assert.equal(readRuns(out).filter((run) => run.jobId === added.id).length, 1);
    } finally {
      await Promise.all([runner.stop(), watcher.stop()]);
    }
  });
});
