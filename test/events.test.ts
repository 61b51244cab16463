/**
 * The job events of an embedded supervisor: started, succeeded (with the
 * result), retried and failed (with the error), snoozed; one per job and
 * attempt, with its duration; a listener that throws leaves the job alone.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { JobEndEvent, JobEvent, Queue, Supervisor } from '../src/index.js';
import { embedded, type Embedded } from './helpers/embedded.js';
import { waitFor, type TestDb } from './helpers/db.js';

let running: Embedded;
let db: TestDb;
let queue: Queue;
let supervisor: Supervisor;

before(async () => {
  running = await embedded('events');
  ({ db, queue, supervisor } = running);
});
after(async () => {
  await running.close();
});

it('emits started, then succeeded, retried, failed or snoozed once the outcome is written; a throwing listener changes nothing', async () => {
  const seen: [string, JobEvent | JobEndEvent][] = [];
  for (const name of ['started', 'succeeded', 'retried', 'failed', 'snoozed'] as const) {
    supervisor.on(name, (event: JobEvent | JobEndEvent) => seen.push([name, event]));
  }
  supervisor.on('succeeded', () => {
    throw new Error('a listener with a bug');
  });
  const ok = await queue.add('returns', { value: { total: 3 } });
  const failing = await queue.add('withDefaults', { ms: 20 }); // two attempts, 300 ms apart
  const snoozing = await queue.add('snoozeUntil', { gate: '/nonexistent/gate', delay: 60_000 });
  // An event comes once the supervisor has the outcome's write back: a moment after the commit waitFor hears.
  const emitted = (name: string, id: string) => waitFor(`${name} of job ${id}`, () => seen.some(([n, event]) => n === name && event.jobId === id));
  await emitted('succeeded', ok.id);
  await emitted('failed', failing.id);
  await emitted('snoozed', snoozing.id);

  const of = (id: string) => seen.filter(([, event]) => event.jobId === id).map(([name, event]) => [name, event.attempt]);
  assert.deepEqual(of(ok.id), [['started', 1], ['succeeded', 1]]);
  assert.deepEqual(of(failing.id), [['started', 1], ['retried', 1], ['started', 2], ['failed', 2]]);
  assert.deepEqual(of(snoozing.id), [['started', 1], ['snoozed', 1]]);

  const succeeded = seen.find(([name, event]) => name === 'succeeded' && event.jobId === ok.id)![1] as JobEndEvent;
  assert.deepEqual({ ...succeeded, durationMs: typeof succeeded.durationMs }, {
    jobId: ok.id, task: 'returns', queue: 'default', attempt: 1, maxAttempts: 3, durationMs: 'number', result: { total: 3 },
  });
  const failed = seen.find(([name]) => name === 'failed')![1] as JobEndEvent;
  assert.match(failed.error!, /failing with defaults \(attempt 2\)/);
  assert.ok(failed.durationMs >= 15, `the handler waited 20 ms; the event says ${failed.durationMs} ms`);
  assert.equal((await queue.getJob(ok.id))!.job_status, 'success', 'the throwing listener left the job alone');
  assert.equal(supervisor.stats.succeeded, 1);
});
