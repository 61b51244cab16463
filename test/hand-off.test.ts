import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Queue, startSupervisor, type Supervisor, type SupervisorOptions } from '../src/index.js';
import { fixtures, SupervisorProcess } from './helpers/cli.js';
import { testDb, waitFor, type TestDb } from './helpers/db.js';
import { gate, readRuns, recordFile } from './helpers/records.js';

let db: TestDb;
let queue: Queue;
const tasks = join(fixtures, 'tasks.js');
const out = recordFile();

before(async () => {
  process.env.TEST_OUT = out;
  db = await testDb('hand_off');
  queue = new Queue({ connectionString: db.url, schema: db.schema });
});
after(async () => {
  await queue.close();
  await db.drop();
});

async function withSupervisor(options: SupervisorOptions, body: (supervisor: Supervisor) => Promise<void>): Promise<void> {
  const supervisor = await startSupervisor({ connectionString: db.url, schema: db.schema, tasks, threads: 2, logLevel: 'silent', ...options });
  try {
    await body(supervisor);
  } finally {
    await supervisor.stop();
  }
}

const offerOf = async (supervisorId: string) => (await db.query(`select * from offers where supervisor_id = $1`, [supervisorId]))[0];
const waitForOffer = (supervisor: Supervisor) => waitFor('an offer', () => offerOf(supervisor.id));
const done = (id: string) => waitFor(`job ${id} done`, async () => (await db.job(id)).job_status === 'success');

describe('hand-off to an idle supervisor', () => {
  it('Queue.add hands a new job straight to the offer: inserted running, attempt 1, then run once', async () => {
    await withSupervisor({}, async (supervisor) => {
      await waitForOffer(supervisor);
      const release = gate();
      const { id } = await queue.add('waitUntil', { gate: release.path });
      // Read before the job can finish: it was inserted already claimed.
      const row = await db.job(id);
      assert.deepEqual([row.job_status, row.locked_by, row.attempts], ['running', supervisor.id, 1]);
      release.open();
      await done(id);
      assert.equal((await db.job(id)).attempts, 1);
      assert.equal(supervisor.stats.handedOff, 1);
      assert.equal(readRuns(out).filter((run) => run.jobId === id).length, 1);
      // A slot is free again, so the offer is placed again.
      await waitForOffer(supervisor);
    });
  });

  it('leaves keyed, scheduled and unknown-task jobs to be claimed, and keeps the offer', async () => {
    await withSupervisor({}, async (supervisor) => {
      await waitForOffer(supervisor);
      const keyed = await queue.add('recorded', {}, { jobKey: 'hand-off-keyed' });
      const scheduled = await queue.add('recorded', {}, { runAt: new Date(Date.now() + 300) });
      const unknown = await queue.add('no-such-task', {});
      assert.equal((await db.job(scheduled.id)).job_status, 'pending');
      await done(keyed.id);
      await done(scheduled.id);
      // The unknown task's notification woke a claim before the scheduled job was due.
      const row = await db.job(unknown.id);
      assert.deepEqual([row.job_status, row.attempts, row.last_error], ['pending', 0, null]);
      assert.equal(supervisor.stats.handedOff, 0);
      assert.ok(await offerOf(supervisor.id));
      await db.query(`delete from jobs where job_id = $1`, [unknown.id]);
    });
  });

  it('a one-slot supervisor whose offer stands still claims jobs added in bulk', async () => {
    await withSupervisor({ threads: 1, concurrency: 1 }, async (supervisor) => {
      await waitForOffer(supervisor);
      const ids = (await queue.addMany(Array.from({ length: 5 }, () => ({ task: 'noop' })))).map((job) => job.id);
      for (const id of ids) await done(id);
      assert.equal(supervisor.stats.handedOff, 0);
    });
  });

  it('never holds more jobs than its slots while single adds and a bulk add race', async () => {
    await withSupervisor({ threads: 2, concurrency: 1 }, async (supervisor) => {
      await waitForOffer(supervisor);
      let most = 0;
      let watching = true;
      const inFlight = supervisor.metrics.registry.getSingleMetric('supervisor_jobs_in_flight')!;
      const watch = (async () => {
        while (watching) {
          most = Math.max(most, (await inFlight.get()).values[0]!.value);
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
      })();
      const single = Array.from({ length: 12 }, () => queue.add('sleep', { ms: 30 }));
      const bulk = queue.addMany(Array.from({ length: 12 }, () => ({ task: 'sleep', payload: { ms: 30 } })));
      const ids = [...(await Promise.all(single)), ...(await bulk)].map((job) => job.id);
      for (const id of ids) await done(id);
      watching = false;
      await watch;
      assert.ok(most <= 2, `held ${most} jobs with 2 slots`);
      assert.ok(supervisor.stats.handedOff >= 1, 'at least the first single add was handed off');
      assert.equal(supervisor.stats.claimed, 24);
    });
  });

  it('withdraws the offer when its LISTEN connection drops, and offers again once it listens', async () => {
    await withSupervisor({}, async (supervisor) => {
      const before = await waitForOffer(supervisor);
      const killed = await db.query(
        `select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1 and query like 'listen %'`,
        [supervisor.id],
      );
      assert.equal(killed.length, 1);
      const again = await waitFor('a new offer', async () => {
        const offer = await offerOf(supervisor.id);
        return offer && offer.offered_at > before.offered_at ? offer : undefined;
      });
      assert.ok(again);
      const { id } = await queue.add('recorded', { n: 3 });
      await done(id);
      assert.equal(supervisor.stats.handedOff, 1);
    });
  });

  it('a job handed to a supervisor that was killed runs elsewhere after its lease', async () => {
    const env = { DATABASE_URL: db.url, SUPERVISOR_SCHEMA: db.schema, TEST_OUT: out };
    const victim = new SupervisorProcess(['--tasks', tasks, '--threads', '1', '--lease', '1s'], env);
    const victimId = (await victim.started()).supervisorId as string;
    await waitFor('the victim offers a slot', () => offerOf(victimId));
    victim.kill('SIGKILL');
    await victim.waitForExit();
    // As if it had died between two heartbeats, the moment before the add.
    await db.query(`update supervisors set heartbeat_at = now() where supervisor_id = $1`, [victimId]);
    const { id } = await queue.add('recorded', { n: 2 });
    assert.equal((await db.job(id)).locked_by, victimId);
    await withSupervisor({ lease: 1000 }, async () => {
      await done(id);
    });
    const row = await db.job(id);
    assert.match(row.last_error as string, /lease expired/);
    assert.equal(readRuns(out).filter((run) => run.jobId === id).length, 1);
  });
});
