/**
 * The test helpers, used as an application's tests use them (imported from
 * 'pg-supervisor/testing', as the README shows): runDueJobs runs what is due
 * once against the database and returns the outcomes; runTask calls a
 * handler with a realistic ctx on the test's own thread.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runDueJobs, runTask } from 'pg-supervisor/testing';
import { Queue } from '../src/index.js';
import { fixtures } from './helpers/cli.js';
import { testDb, type TestDb } from './helpers/db.js';

let db: TestDb;
let queue: Queue;

before(async () => {
  db = await testDb('testing_helpers');
  queue = new Queue({ connectionString: db.url, schema: db.schema });
});
after(async () => {
  await queue.close();
  await db.drop();
});

describe('runDueJobs', () => {
  it('runs every due job once and returns the outcomes; jobs due later and paused queues wait', async () => {
    const [ok, failing] = await queue.addMany([
      { task: 'returns', payload: { value: 'receipt sent' } },
      { task: 'withDefaults' }, // fails; its retry is due 300 ms later
      { task: 'returns', payload: { value: 'tomorrow' }, runAt: new Date(Date.now() + 86_400_000) },
      { task: 'returns', payload: { value: 'paused' }, queue: 'held' },
    ]);
    await queue.pause('held');
    const outcomes = await runDueJobs({ connectionString: db.url, schema: db.schema, tasks: join(fixtures, 'tasks.js') });
    assert.deepEqual(
      outcomes.map((run) => [run.jobId, run.outcome, run.attempt, run.result ?? run.error?.split('\n')[0]]).sort(),
      [
        [ok!.id, 'succeeded', 1, 'receipt sent'],
        [failing!.id, 'retried', 1, 'Error: failing with defaults (attempt 1)'],
      ].sort(),
    );
    assert.deepEqual(await db.query('select supervisor_id from supervisors'), [], 'the supervisor stopped');
    assert.deepEqual(await runDueJobs({ connectionString: db.url, schema: db.schema, tasks: join(fixtures, 'tasks.js'), queues: 'none' }), []);
  });
});

describe('runTask', () => {
  it('calls a handler with a realistic ctx: payload through JSON, progress, result as stored, snooze, timeout', async () => {
    const seen: unknown[] = [];
    const handler = async (payload: { at: Date | string }, ctx: { progress(value: unknown): void; jobId: string; attempt: number }) => {
      seen.push(typeof payload.at, ctx.jobId, ctx.attempt);
      ctx.progress(0.5);
      ctx.progress(1);
      return { when: new Date(0) };
    };
    const run = await runTask(handler, { at: new Date(0) }, { jobId: '42', attempt: 2 });
    assert.deepEqual(seen, ['string', '42', 2]);
    assert.deepEqual(run, { result: { when: '1970-01-01T00:00:00.000Z' }, progress: 1 });

    assert.deepEqual(await runTask(async (_payload: unknown, ctx) => ctx.snooze('5m'), {}), { result: undefined, progress: undefined, snoozeMs: 300_000 });
    await assert.rejects(runTask(async () => { throw new Error('card declined'); }, {}), /card declined/);
    await assert.rejects(runTask(async () => 'x'.repeat(70_000), {}), /the handler's return value is 70002 bytes as JSON; the limit is 65536/);
    const aborted = await runTask(
      (_payload: unknown, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve((ctx.signal.reason as Error).message))),
      {},
      { timeout: 50 },
    );
    assert.equal(aborted.result, 'job timed out after 0.05s');
  });

  it('takes a task definition as well as a handler', async () => {
    const definition = { maxAttempts: 5, handler: async (payload: { n: number }) => payload.n * 2 };
    assert.equal((await runTask(definition, { n: 21 })).result, 42);
  });
});
