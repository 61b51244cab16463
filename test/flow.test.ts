/**
 * Scheduling and flow control with real supervisor processes: pause and
 * resume, limits that hold across three supervisors through a kill -9,
 * cron ticks added exactly once, cancel that reaches a running job, snooze,
 * and the defaults a task module declares.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Queue } from '../src/index.js';
import { fixtures, runCli, SupervisorProcess } from './helpers/cli.js';
import { testDb, waitFor, type TestDb } from './helpers/db.js';
import { gate, readRuns, recordFile } from './helpers/records.js';

let db: TestDb;
let env: NodeJS.ProcessEnv;
let queue: Queue;
const tasks = join(fixtures, 'tasks.js');

before(async () => {
  db = await testDb('flow');
  env = { DATABASE_URL: db.url, SUPERVISOR_SCHEMA: db.schema };
  queue = new Queue({ connectionString: db.url, schema: db.schema });
});
after(async () => {
  await queue.close();
  await db.drop();
});

function supervisor(...args: string[]): SupervisorProcess {
  return new SupervisorProcess(['--tasks', tasks, '--metrics-port', '0', ...args], env);
}

/** Job counts of one queue by status. */
async function counts(queueName: string): Promise<Record<string, number>> {
  const rows = await db.query<{ job_status: string; count: number }>(
    'select job_status, count(*)::int as count from jobs where queue = $1 group by job_status',
    [queueName],
  );
  return Object.fromEntries(rows.map((row) => [row.job_status, row.count]));
}

/** The most intervals open at once; an end and a start at the same millisecond do not overlap. */
function mostAtOnce(intervals: { start: number; end: number }[]): number {
  const events = intervals.flatMap(({ start, end }) => [[start, 1], [end, -1]] as const);
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let most = 0;
  for (const [, step] of events) most = Math.max(most, (open += step));
  return most;
}

/** Each job's runs as the `span` task recorded them; a run with no end (its process was killed) ends at `killedAt`. */
function readSpans(file: string, killedAt: number): Map<string, { start: number; end: number }[]> {
  const runs = new Map<string, { start: number; end: number }[]>();
  for (const line of readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
    const [event, id, at] = line.split(' ') as [string, string, string];
    const list = runs.get(id) ?? [];
    if (event === 'start') list.push({ start: Number(at), end: killedAt });
    else list.at(-1)!.end = Number(at);
    runs.set(id, list);
  }
  return runs;
}

describe('pause and resume', () => {
  it('a paused queue keeps its jobs pending while another drains, through a restart; resume starts them at once', async () => {
    const paused = await runCli(['pause', 'paused'], env);
    assert.equal(paused.code, 0, paused.stderr);
    // A poll a minute apart: only the notification can start them quickly.
    let running = supervisor('--threads', '1', '--concurrency', '4', '--poll-interval', '60s');
    try {
      await running.started();
      // The idle supervisor offers a slot for hand-off: a paused queue's job must not take it.
      await queue.add('noop', {}, { queue: 'paused' });
      await queue.addMany(Array.from({ length: 5 }, () => ({ task: 'noop', queue: 'paused' })));
      await queue.addMany(Array.from({ length: 30 }, () => ({ task: 'noop', queue: 'open' })));
      await waitFor('the open queue drained', async () => (await counts('open')).success === 30);
      await sleep(300);
      assert.deepEqual(await counts('paused'), { pending: 6 });
      const status = await runCli(['status'], env);
      assert.match(status.stdout, /^paused\s+paused\s+-\s+-\s+6\s+0\s*$/m, status.stdout);

      await running.stop();
      running = supervisor('--threads', '1', '--concurrency', '4', '--poll-interval', '60s');
      await running.started();
      await sleep(500);
      assert.deepEqual(await counts('paused'), { pending: 6 }, 'still paused after a restart');

      const [{ now: resumedAt }] = (await db.query<{ now: Date }>('select clock_timestamp() as now')) as [{ now: Date }];
      await queue.resume('paused');
      await waitFor('the paused jobs ran', async () => (await counts('paused')).success === 6, 10_000);
      const [{ first }] = (await db.query<{ first: Date }>(`select min(started_at) as first from jobs where queue = 'paused'`)) as [{ first: Date }];
      const ms = first.getTime() - resumedAt.getTime();
      console.log(`# resume to the first job's claim: ${ms} ms (poll interval 60 s)`);
      assert.equal((await queue.queues()).find((q) => q.queue === 'paused'), undefined, 'a resumed queue with no limit and no jobs left is not listed');
      await assert.rejects(queue.setQueue('paused', {}), /setQueue takes paused, concurrency and rate \(null removes a limit\): none was given/);
      await assert.rejects(queue.setQueue('paused', { concurency: 2 } as never), /; got concurency/);
      assert.ok(ms < 5000, `resumed jobs started ${ms} ms after resume: not by the notification`);
    } finally {
      await running.stop();
    }
  });

  it('pausing a busy queue lets its running jobs finish and claims no more', async () => {
    const open = gate();
    const running = supervisor('--threads', '1', '--concurrency', '2');
    try {
      await running.started();
      await queue.addMany(Array.from({ length: 6 }, () => ({ task: 'waitUntil', payload: { gate: open.path }, queue: 'busy' })));
      await waitFor('two running', async () => (await counts('busy')).running === 2);
      await queue.pause('busy');
      open.open();
      await waitFor('the running two finished', async () => (await counts('busy')).success === 2);
      await sleep(500);
      assert.deepEqual(await counts('busy'), { success: 2, pending: 4 });
      await queue.resume('busy');
      await waitFor('the rest ran', async () => (await counts('busy')).success === 6);
    } finally {
      await running.stop();
    }
  });
});

describe('limits across supervisors', () => {
  it('a queue limit and key limits are never exceeded by three supervisors, through a kill -9 of one', async () => {
    const spans = recordFile();
    const set = await runCli(['queue', 'set', 'limited', '--concurrency', '3'], env);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /queue 'limited': at most 3 running at once, no rate limit/);
    const start = () => supervisor('--threads', '1', '--concurrency', '8', '--lease', '2s');
    const supervisors = [start(), start(), start()];
    let killedAt = Number.MAX_SAFE_INTEGER;
    try {
      await Promise.all(supervisors.map((s) => s.started()));
      const limited = await queue.addMany(
        Array.from({ length: 40 }, () => ({ task: 'span', payload: { spans, ms: 80 }, queue: 'limited' })),
      );
      const keyed = await queue.addMany([
        ...Array.from({ length: 20 }, () => ({ task: 'span', payload: { spans, ms: 40 }, queue: 'keys', concurrencyKey: 'customer:1' })),
        ...Array.from({ length: 20 }, () => ({ task: 'span', payload: { spans, ms: 40 }, queue: 'keys', concurrencyKey: 'customer:2', concurrencyLimit: 2 })),
      ]);
      await waitFor('a third of the jobs done', async () => ((await counts('limited')).success ?? 0) >= 13);
      supervisors[0]!.kill('SIGKILL');
      killedAt = Date.now();
      await waitFor('every job done', async () => (await counts('limited')).success === 40 && (await counts('keys')).success === 40, 60_000);

      const runs = readSpans(spans, killedAt);
      const intervals = (ids: { id: string }[]) => ids.flatMap(({ id }) => runs.get(id) ?? []);
      const queueMost = mostAtOnce(intervals(limited));
      const key1Most = mostAtOnce(intervals(keyed.slice(0, 20)));
      const key2Most = mostAtOnce(intervals(keyed.slice(20)));
      console.log(`# most running at once: queue limit 3 → ${queueMost}; key limit 1 → ${key1Most}; key limit 2 → ${key2Most}`);
      assert.equal(queueMost, 3, 'the queue limit is reached and never exceeded');
      assert.equal(key1Most, 1);
      assert.equal(key2Most, 2);
      assert.ok(limited.every(({ id }) => (runs.get(id)?.length ?? 0) >= 1), 'every limited job ran');
    } finally {
      await Promise.all(supervisors.slice(1).map((s) => s.stop()));
      await supervisors[0]!.waitForExit();
    }
  });

  it('a supervisor with a single slot, offered for hand-off, runs limited and keyed jobs in it', async () => {
    const running = supervisor('--threads', '1', '--concurrency', '1', '--queues', 'one-slot,one-slot-keys');
    try {
      const { supervisorId } = await running.started();
      await waitFor('the slot offered', async () => (await db.query('select 1 from offers where supervisor_id = $1', [supervisorId])).length === 1);
      await queue.setQueue('one-slot', { concurrency: 2 });
      const added = await queue.addMany([
        ...Array.from({ length: 3 }, () => ({ task: 'noop', queue: 'one-slot' })),
        ...Array.from({ length: 3 }, (_, i) => ({ task: 'noop', queue: 'one-slot-keys', concurrencyKey: `key:${i}` })),
      ]);
      await waitFor('all six done', async () => {
        const rows = await db.query<{ job_status: string }>('select job_status from jobs where job_id = any($1::bigint[])', [added.map((job) => job.id)]);
        return rows.every((row) => row.job_status === 'success');
      }, 10_000);
    } finally {
      await running.stop();
    }
  });

  it('a job with a key added by plain SQL starts at once, not at the next reading of the limits', async () => {
    const running = supervisor('--threads', '1', '--poll-interval', '60s', '--queues', 'sql-keyed');
    try {
      await running.started();
      const [{ job_id: id }] = (await db.query<{ job_id: string }>(
        `insert into jobs (task, queue, concurrency_key) values ('noop', 'sql-keyed', 'k') returning job_id`,
      )) as [{ job_id: string }];
      await waitFor('the keyed job done', async () => (await queue.getJob(id))?.job_status === 'success', 10_000);
    } finally {
      await running.stop();
    }
  });

  it('a rate limit starts at most N jobs in any period, across two supervisors', async () => {
    await queue.setQueue('rated', { rate: '5/1s' });
    const supervisors = [supervisor('--threads', '1', '--concurrency', '8'), supervisor('--threads', '1', '--concurrency', '8')];
    try {
      await Promise.all(supervisors.map((s) => s.started()));
      await queue.addMany(Array.from({ length: 15 }, () => ({ task: 'noop', queue: 'rated' })));
      await waitFor('every job done', async () => (await counts('rated')).success === 15, 20_000);
      const starts = (await db.query<{ started_at: Date }>(`select started_at from jobs where queue = 'rated' order by started_at`))
        .map((row) => row.started_at.getTime());
      const gaps = starts.slice(5).map((at, i) => at - starts[i]!);
      console.log(`# 15 jobs at 5/1s: started over ${starts.at(-1)! - starts[0]!} ms; the tightest 6 starts span ${Math.min(...gaps)} ms`);
      assert.ok(gaps.every((gap) => gap >= 1000), `six starts within a second: ${gaps.join(', ')}`);
    } finally {
      await Promise.all(supervisors.map((s) => s.stop()));
    }
  });
});

describe('cron', () => {
  it('three supervisors add exactly one job per tick of an every-second schedule, through a change of leader', async () => {
    const start = () => supervisor('--threads', '1', '--lease', '3s', '--queues', 'cron');
    const supervisors = [start(), start(), start()];
    try {
      const ids = await Promise.all(supervisors.map(async (s) => (await s.started()).supervisorId as string));
      const added = await runCli(['cron', 'add', 'every-second', '* * * * * *', 'noop', '{"from":"cron"}', '--queue', 'cron', '--backfill', '10'], env);
      assert.equal(added.code, 0, added.stderr);
      await sleep(5000);
      // The leader shuts down: another takes over within lease/3 and catches up on the ticks in between.
      const [leader] = await db.query<{ supervisor_id: string }>('select supervisor_id from leader');
      await supervisors[ids.indexOf(leader!.supervisor_id)]!.stop();
      await sleep(6000);
      const removed = await runCli(['cron', 'remove', 'every-second'], env);
      assert.equal(removed.code, 0, removed.stderr);
    } finally {
      await Promise.all(supervisors.map((s) => s.stop()));
    }
    const jobs = await db.query<{ run_at: Date; job_key: string; job_data: unknown }>(`select run_at, job_key, job_data from jobs where queue = 'cron' order by run_at`);
    const ticks = jobs.map((job) => job.run_at.getTime());
    console.log(`# every-second schedule over ~11 s with a change of leader: ${jobs.length} jobs, ${new Set(ticks).size} distinct ticks`);
    assert.ok(jobs.length >= 9, `only ${jobs.length} jobs`);
    assert.equal(new Set(ticks).size, ticks.length, 'a tick added twice');
    assert.deepEqual(ticks.slice(1).map((tick, i) => tick - ticks[i]!), ticks.slice(1).map(() => 1000), 'a tick missed');
    assert.deepEqual(jobs[0]!.job_data, { from: 'cron' });
  });

  it('the CLI lists a schedule with its next run, and refuses an expression it cannot read', async () => {
    const added = await runCli(['cron', 'add', 'nightly', '0 3 * * *', 'noop', '--timezone', 'Europe/Paris'], env);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /saved schedule 'nightly': noop at '0 3 \* \* \*' \(Europe\/Paris\); next run \d{4}-\d\d-\d\dT0[12]:00:00.000Z/);
    const listed = await runCli(['cron', 'list'], env);
    assert.match(listed.stdout, /^nightly\s+0 3 \* \* \*\s+Europe\/Paris\s+noop\s+\(task\)\s+\S+ \S+\s+\S+ 0[12]:00:00Z\s*$/m, listed.stdout);
    const bad = await runCli(['cron', 'add', 'broken', '61 * * * *', 'noop'], env);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /cron expression '61 \* \* \* \*' is not valid: .*minute/);
    const zone = await runCli(['cron', 'add', 'broken', '@hourly', 'noop', '--timezone', 'Mars/Olympus'], env);
    assert.equal(zone.code, 2);
    assert.match(zone.stderr, /unknown time zone 'Mars\/Olympus': give an IANA name such as Europe\/Paris/);
    const parts = await runCli(['cron', 'add', 'broken', '* * * *', 'noop'], env);
    assert.equal(parts.code, 2);
    assert.match(parts.stderr, /cron expression '\* \* \* \*' is not valid: it has 4 fields\. Use five fields/);
    assert.deepEqual((await queue.schedules()).map((s) => s.name), ['nightly'], 'nothing saved of the broken ones');
    assert.equal((await runCli(['cron', 'remove', 'nightly'], env)).code, 0);
    const gone = await runCli(['cron', 'remove', 'nightly'], env);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /no schedule named 'nightly'/);
  });
});

describe('cancel', () => {
  it('aborts a running job\'s signal through a notification, and terminates a job that ignores it', async () => {
    const out = recordFile();
    const runs = recordFile();
    const busy = gate();
    const running = new SupervisorProcess(
      ['--tasks', tasks, '--metrics-port', '0', '--threads', '1', '--concurrency', '2', '--queues', 'cancel'],
      { ...env, TEST_OUT: runs },
    );
    /** Waits until the handler of job `id` has started (it records its run first). */
    const handlerStarted = (id: string) =>
      waitFor(`job ${id}'s handler running`, () => readRuns(runs).some((run) => run.jobId === id), 10_000);
    try {
      await running.started();
      const latencies: number[] = [];
      for (let sample = 0; sample < 10; sample++) {
        const { id } = await queue.add('awaitAbort', { out }, { queue: 'cancel' });
        await handlerStarted(id);
        const cancelledAt = Date.now();
        assert.deepEqual(await queue.cancel([id]), [id]);
        const line = await waitFor('the signal aborted', () => readFileSync(out, 'utf8').split('\n').find((l) => l.startsWith(`${id} `)), 5000);
        const [, at, ...reason] = line!.split(' ');
        assert.equal(reason.join(' '), 'the job was cancelled');
        latencies.push(Number(at) - cancelledAt);
      }
      latencies.sort((a, b) => a - b);
      console.log(`# cancel → ctx.signal aborted, 10 samples: median ${latencies[5]} ms, max ${latencies[9]} ms`);
      assert.ok(latencies[9]! < 5000, 'the heartbeat (every 10 s) did it, not the notification');

      const { id } = await queue.add('spinUntil', { gate: busy.path }, { queue: 'cancel' });
      await handlerStarted(id);
      await queue.cancel([id]);
      await running.waitForLog((line) => typeof line.msg === 'string' && /worker thread \d+ ended: JobCancelledError/.test(line.msg), 10_000);
      const after = await queue.add('noop', {}, { queue: 'cancel' });
      await waitFor('the next job ran', async () => (await queue.getJob(after.id))?.job_status === 'success');
      assert.equal((await queue.getJob(id))?.job_status, 'cancelled');
    } finally {
      busy.open();
      await running.stop();
    }
  });
});

describe('snooze', () => {
  it('runs a snoozed job again later without counting an attempt', async () => {
    const open = gate();
    const runs = recordFile();
    const running = new SupervisorProcess(['--tasks', tasks, '--metrics-port', '0', '--queues', 'snooze'], { ...env, TEST_OUT: runs });
    try {
      await running.started();
      const { id } = await queue.add('snoozeUntil', { gate: open.path, delay: 100 }, { queue: 'snooze', maxAttempts: 1 });
      await sleep(700);
      const waiting = await queue.getJob(id);
      assert.equal(waiting?.job_status, 'pending');
      assert.equal(waiting?.attempts, 0, 'a snooze counts no attempt');
      assert.ok(waiting!.run_at.getTime() > waiting!.updated_at.getTime(), 'due again later');
      open.open();
      await waitFor('the job done', async () => (await queue.getJob(id))?.job_status === 'success', 5000);
      assert.equal(readFileSync(runs, 'utf8').trim().split(' ').at(-1), '1', 'it ran as attempt 1');
    } finally {
      await running.stop();
    }
  });
});

describe('task defaults', () => {
  it('a task module declares queue, priority, attempts, timeout and backoff; a job\'s own options win', async () => {
    const running = supervisor('--queues', 'defaults,own');
    try {
      await running.started();
      const { id } = await queue.add('withDefaults');
      const own = await queue.add('withDefaults', { ms: 1000 }, { queue: 'own', maxAttempts: 1 });
      const added = await queue.getJob(id);
      assert.deepEqual([added?.queue, added?.priority, added?.max_attempts], ['defaults', 5, 2]);
      // The fixed backoff: the retry is due exactly 300 ms after the first failure was written.
      const retry = await waitFor('the retry scheduled', async () => {
        const job = await queue.getJob(id);
        return job?.job_status === 'pending' && job.attempts === 1 ? job : undefined;
      }, 10_000);
      assert.equal(retry!.run_at.getTime() - retry!.updated_at.getTime(), 300);
      await waitFor('both failed', async () => (await queue.getJob(id))?.job_status === 'failed' && (await queue.getJob(own.id))?.job_status === 'failed', 10_000);
      const first = await queue.getJob(own.id);
      assert.match(first!.last_error!, /^JobTimeoutError: job timed out after 0.15s/);
      assert.equal(first?.max_attempts, 1);
    } finally {
      await running.stop();
    }
  });
});
