// A database failover in the middle of a drain, with real parts: a primary
// and a streaming standby of the machine's PostgreSQL 15, two supervisor
// processes and a producer reaching them through one address (a TCP proxy
// the test points at the standby once it is promoted, as a DNS name or a
// load balancer would). The primary is killed as a crash of its machine
// would kill it.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from '../src/index.js';
import { fixtures, SupervisorProcess } from './helpers/cli.js';
import { waitFor } from './helpers/db.js';
import { TcpProxy } from './helpers/proxy.js';
import { readRuns, recordFile } from './helpers/records.js';
import { query, ReplicaSet } from './helpers/replica-set.js';

/** Slots of the two supervisors: the most jobs that can be in flight at any moment. */
const SLOTS = 2 * 2 * 8;

interface Outcome {
  /** Jobs whose add was acknowledged, before, during and after the failover. */
  acknowledged: string[];
  /** Of those, the ones the new primary does not have as succeeded (it then has no trace of them: no job failed). */
  lost: string[];
  /** Jobs that ran more than once, and those of them that had started before the switch. */
  ranTwice: string[];
  ranTwiceStartedBefore: string[];
  /** Supervisors still running after it, and those that ran jobs after the switch. */
  alive: number;
  ranAfter: number;
}

/** Drains 4,000 jobs while a producer adds more; fails the primary over a third of the way. */
async function failOver(set: ReplicaSet, t: TestContext): Promise<Outcome> {
  const proxy = new TcpProxy('127.0.0.1', set.primary.port);
  await proxy.start();
  const url = `postgres://postgres@127.0.0.1:${proxy.port}/postgres`;
  const out = recordFile();
  const args = ['--tasks', join(fixtures, 'tasks.js'), '--threads', '2', '--concurrency', '8', '--lease', '3s', '--poll-interval', '200ms', '--metrics-port', '0'];
  const supervisors = [new SupervisorProcess(args, { DATABASE_URL: url, TEST_OUT: out }), new SupervisorProcess(args, { DATABASE_URL: url, TEST_OUT: out })];
  const queue = new Queue({ connectionString: url, connectTimeout: '2s' });
  try {
    await Promise.all(supervisors.map((s) => s.started()));
    const acknowledged = (await queue.addMany(Array.from({ length: 4000 }, () => ({ task: 'sleep', payload: { ms: 20 } })))).map((job) => job.id);
    let producing = true;
    let refused = 0;
    const producer = (async () => {
      while (producing) {
        try {
          acknowledged.push((await queue.add('sleep', { ms: 20 })).id);
        } catch {
          refused++; // the database is away, or its answer was lost: not acknowledged
          await sleep(50);
        }
      }
    })();
    const count = async (on: string, statuses: string[]) =>
      (await query<{ n: number }>(on, `select count(*)::int as n from supervisor.jobs where job_status = any($1)`, [statuses]))[0]!.n;
    await waitFor('a third of the drain', async () => (await count(set.primary.url, ['success'])) >= 1300, 60_000);

    await set.crashPrimary();
    await set.promoteStandby();
    proxy.retarget('127.0.0.1', set.standby.port);
    proxy.cut();
    const switched = readRuns(out).length;
    await sleep(2000);
    producing = false;
    await producer;

    await waitFor('every job on the new primary run to its end', async () => (await count(set.standby.url, ['pending', 'running'])) === 0, 90_000);
    const [done] = await query<{ ids: string[] | null }>(
      set.standby.url,
      `select array_agg(job_id::text) as ids from supervisor.jobs where job_id = any($1::bigint[]) and job_status = 'success'`,
      [acknowledged],
    );
    const succeeded = new Set(done!.ids ?? []);
    const lost = acknowledged.filter((id) => !succeeded.has(id));

    const runs = readRuns(out);
    const counts = new Map<string, number>();
    for (const run of runs) counts.set(run.jobId, (counts.get(run.jobId) ?? 0) + 1);
    const ranTwice = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
    const before = new Set(runs.slice(0, switched).map((run) => run.jobId));
    const after = new Set(runs.slice(switched).map((run) => run.pid));
    t.diagnostic(`${acknowledged.length} jobs acknowledged (${refused} adds refused during the failover), ${lost.length} lost, ${ranTwice.length} ran twice`);
    return {
      acknowledged,
      lost,
      ranTwice,
      ranTwiceStartedBefore: ranTwice.filter((id) => before.has(id)),
      alive: supervisors.filter((s) => s.alive).length,
      ranAfter: supervisors.filter((s) => after.has(s.pid)).length,
    };
  } finally {
    await queue.close();
    await Promise.all(supervisors.map((s) => s.stop()));
    await proxy.stop();
  }
}

describe('a database failover in the middle of a drain', () => {
  it('with synchronous replication, loses no job, re-runs only jobs in flight at the switch, and the supervisors carry on unaided', async (t) => {
    const set = await ReplicaSet.start({ synchronous: true });
    try {
      const outcome = await failOver(set, t);
      assert.deepEqual(outcome.lost, [], 'every acknowledged job is on the new primary, and ran to its end');
      assert.deepEqual(outcome.ranTwiceStartedBefore, outcome.ranTwice, 'a job ran twice only if it was running at the switch');
      assert.ok(outcome.ranTwice.length <= SLOTS, `${outcome.ranTwice.length} jobs ran twice; at most ${SLOTS} were in flight`);
      assert.equal(outcome.alive, 2);
      assert.equal(outcome.ranAfter, 2, 'both supervisors ran jobs on the new primary');
    } finally {
      await set.destroy();
    }
  });

  it('with asynchronous replication, may lose the last adds, but every job the new primary has runs to its end', async (t) => {
    const set = await ReplicaSet.start({ synchronous: false });
    try {
      const outcome = await failOver(set, t);
      assert.ok(outcome.lost.length < outcome.acknowledged.length / 10, `${outcome.lost.length} lost`);
      assert.deepEqual(outcome.ranTwiceStartedBefore, outcome.ranTwice);
      assert.equal(outcome.ranAfter, 2);
    } finally {
      await set.destroy();
    }
  });
});
