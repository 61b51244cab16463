/**
 * Retention and the maintenance leader, with real supervisor processes:
 * `supervisor prune` deletes exactly the finished jobs past their period; a
 * running supervisor does the same by itself; of three supervisors exactly
 * one leads, and the lead passes on within a lease when the leader is
 * killed, and at once when it shuts down.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Queue } from '../src/index.js';
import { fixtures, runCli, SupervisorProcess } from './helpers/cli.js';
import { statusCounts, testDb, waitFor, type TestDb } from './helpers/db.js';
import { freePort } from './helpers/ports.js';

let db: TestDb;
let env: NodeJS.ProcessEnv;
const tasks = join(fixtures, 'tasks.js');

before(async () => {
  db = await testDb('maintenance');
  env = { DATABASE_URL: db.url, SUPERVISOR_SCHEMA: db.schema };
});
after(() => db.drop());

/** Adds `count` rows of one kind by SQL; returns their ids. */
async function rows(count: number, columns: string, values: string): Promise<string[]> {
  const added = await db.query<{ job_id: string }>(
    `insert into jobs (task, ${columns}) select 'kept', ${values} from generate_series(1, ${count}) returning job_id`,
  );
  return added.map((row) => row.job_id);
}

describe('retention', () => {
  it('supervisor prune deletes exactly the finished jobs older than their period, and nothing else', async () => {
    await db.query('truncate jobs');
    // Due: 1,200 successes (more than one batch), a failure past 2 h, and a
    // success finished by hand without finished_at, last touched 2 h ago.
    const due = [
      ...(await rows(1200, 'job_status, finished_at', `'success', now() - interval '2 hours'`)),
      ...(await rows(1, 'job_status, finished_at', `'failed', now() - interval '3 hours'`)),
      ...(await rows(1, 'job_status, updated_at', `'success', now() - interval '2 hours'`)),
    ];
    // Kept: younger than their period, cancelled (kept forever here), and
    // every job not finished, however old its times.
    const kept = [
      ...(await rows(3, 'job_status, finished_at', `'success', now() - interval '50 minutes'`)),
      ...(await rows(1, 'job_status, finished_at', `'failed', now() - interval '90 minutes'`)),
      ...(await rows(1, 'job_status, finished_at', `'cancelled', now() - interval '300 days'`)),
      ...(await rows(1, 'job_status, run_at, created_at, updated_at, finished_at', `'pending', now() - interval '2 days', now() - interval '2 days', now() - interval '2 days', now() - interval '2 days'`)),
      ...(await rows(1, 'job_status, run_at', `'pending', now() + interval '2 days'`)),
      ...(await rows(1, 'job_status, attempts, locked_by, locked_until, updated_at', `'running', 1, 'someone', now() + interval '1 minute', now() - interval '2 days'`)),
    ];
    const { code, stdout, stderr } = await runCli(['prune', '--keep-succeeded', '1h', '--keep-failed', '2h', '--keep-cancelled', '0'], env);
    assert.equal(code, 0, stderr);
    assert.equal(stdout.trim(), 'deleted 1201 succeeded, 1 failed and 0 cancelled job(s)');
    const left = (await db.query<{ job_id: string }>('select job_id from jobs order by job_id')).map((row) => row.job_id);
    assert.deepEqual(left, kept);
    assert.equal((await db.query('select 1 from jobs where job_id = any($1::bigint[])', [due])).length, 0);
  });

  it('prune refuses a period it cannot read, and deletes nothing', async () => {
    await db.query('truncate jobs');
    await rows(2, 'job_status, finished_at', `'success', now() - interval '30 days'`);
    const { code, stderr } = await runCli(['prune', '--keep-succeeded', 'a week'], env);
    assert.equal(code, 2);
    assert.match(stderr, /--keep-succeeded must be a duration such as 12h, 7d or 30d, or 0 to keep these jobs forever \(got 'a week'\)/);
    assert.equal((await statusCounts(db)).success, 2);
  });

  it('a running supervisor deletes its finished jobs once their period is over, and counts them', async () => {
    await db.query('truncate jobs');
    const port = await freePort();
    const supervisor = new SupervisorProcess(
      ['--tasks', tasks, '--threads', '1', '--metrics-port', String(port), '--metrics-host', '127.0.0.1',
        '--keep-succeeded', '2s', '--keep-failed', '0', '--queues', 'retention'],
      env,
    );
    const queue = new Queue({ connectionString: db.url, schema: db.schema });
    try {
      await supervisor.started();
      await queue.addMany([
        ...Array.from({ length: 20 }, () => ({ task: 'noop', queue: 'retention' })),
        { task: 'fail', payload: { message: 'kept for inspection' }, queue: 'retention', maxAttempts: 1 },
      ]);
      await waitFor('every job finished', async () => (await statusCounts(db)).pending === undefined && (await statusCounts(db)).running === undefined);
      await waitFor('the successes deleted', async () => (await statusCounts(db)).success === undefined, 15_000);
      assert.deepEqual(await statusCounts(db), { failed: 1 }, 'failed jobs are kept with --keep-failed 0');
      // The counter moves when the delete's reply arrives, a moment after the rows are gone.
      const metrics = await waitFor('the deletions counted', async () => {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        return /^supervisor_jobs_deleted_total\{status="success"\} 20$/m.test(text) ? text : undefined;
      }, 5000);
      assert.match(metrics!, /^supervisor_jobs_deleted_total\{status="failed"\} 0$/m);
      assert.match(metrics!, /^supervisor_leader 1$/m);
    } finally {
      await queue.close();
      await supervisor.stop();
    }
  });
});

describe('the maintenance leader', () => {
  /** The supervisor that holds the leader row with an unexpired term, if any, and when its run of terms began. */
  async function leader(): Promise<{ id: string; electedAt: number } | undefined> {
    const [row] = await db.query<{ supervisor_id: string; elected_at: Date }>('select supervisor_id, elected_at from leader where expires_at > now()');
    return row && { id: row.supervisor_id, electedAt: row.elected_at.getTime() };
  }
  /** Waits for a supervisor other than `previous` to lead. */
  async function leaderOtherThan(previous: string): Promise<{ id: string; electedAt: number }> {
    return (await waitFor(`a leader other than ${previous}`, async () => {
      const now = await leader();
      return now && now.id !== previous ? now : undefined;
    }))!;
  }
  /** The database's clock, which the leader row's times are read by. */
  async function dbNow(): Promise<number> {
    return (await db.query<{ now: Date }>('select now()'))[0]!.now.getTime();
  }

  it('of three supervisors exactly one leads; kill -9 hands over within a lease, a shutdown within lease/3', async () => {
    const leaseMs = 3000;
    const start = () => new SupervisorProcess(['--tasks', tasks, '--threads', '1', '--lease', `${leaseMs}ms`, '--metrics-port', '0', '--queues', 'leader'], env);
    const supervisors = [start(), start(), start()];
    try {
      const ids = await Promise.all(supervisors.map(async (s) => (await s.started()).supervisorId as string));
      const first = (await waitFor('a leader', leader))!.id;
      assert.ok(ids.includes(first));
      const leads = (line: { msg?: string }) => line.msg === 'this supervisor now leads maintenance (lease recovery, retention, vacuum, cron)';
      // Two more terms: still one leader, the same, and only it ever said it leads.
      await new Promise((resolve) => setTimeout(resolve, leaseMs));
      assert.equal((await leader())?.id, first);
      assert.deepEqual(supervisors.map((s) => s.lines.filter(leads).length), ids.map((id) => (id === first ? 1 : 0)));
      const status = await runCli(['status'], env);
      assert.equal(status.stdout.split('\n').filter((line) => / leader\s*$/.test(line)).length, 1, status.stdout);
      assert.match(status.stdout.split('\n').find((line) => / leader\s*$/.test(line))!, new RegExp(first.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));

      const victim = supervisors[ids.indexOf(first)]!;
      const killedAt = await dbNow();
      victim.kill('SIGKILL');
      const next = await leaderOtherThan(first);
      const second = next.id;
      const handover = next.electedAt - killedAt;
      console.log(`# kill -9 of the leader: another led after ${handover} ms (lease ${leaseMs} ms)`);
      // Timed by the database's clock, from just before the kill to the new
      // term: within a lease of the last renewal, which came before the
      // kill; the slack is for a loaded machine.
      assert.ok(handover < leaseMs + 1000, `handed over after ${handover} ms`);
      // It logs once it has the row: the line may come a moment after the database shows it.
      const successor = supervisors[ids.indexOf(second)]!;
      await successor.waitForLog(leads, 5000);
      assert.equal(successor.lines.filter(leads).length, 1);

      const stoppedAt = await dbNow();
      await successor.stop();
      const last = await leaderOtherThan(second);
      const third = last.id;
      const resigned = last.electedAt - stoppedAt;
      console.log(`# shutdown of the leader: another led ${resigned} ms after SIGTERM`);
      assert.ok(!([first, second] as string[]).includes(third));
      assert.ok(resigned < leaseMs / 3 + 2000, `handed over ${resigned} ms after SIGTERM`);
    } finally {
      for (const s of supervisors) s.kill('SIGKILL');
      await Promise.all(supervisors.map((s) => s.waitForExit()));
    }
  });
});
