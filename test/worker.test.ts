import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { silentLogger } from '../src/log.js';
import { JobContext } from '../src/worker/job-context.js';
import { Limiter } from '../src/worker/limiter.js';

describe('Limiter', () => {
  it('runs at most its limit at once, the rest in arrival order', async () => {
    const limiter = new Limiter(3);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        limiter.run(async () => {
          started.push(i);
          most = Math.max(most, ++running);
          await sleep(i % 4);
          running--;
        }),
      ),
    );
    assert.equal(most, 3);
    // Whatever order they finish in, they start in the order they came.
    assert.deepEqual(started, [...Array(12).keys()]);
  });

  it('frees the slot of a function that throws', async () => {
    const limiter = new Limiter(1);
    await assert.rejects(limiter.run(async () => { throw new Error('boom'); }), /boom/);
    assert.equal(await limiter.run(async () => 'next'), 'next');
  });
});

describe('JobContext', () => {
  const job = { id: '7', task: 't', queue: 'q', payload: '{}', attempt: 2, maxAttempts: 3, timeoutMs: 0 };

  it('gives a signal aborted with the first reason, whether asked for before or after the abort', () => {
    const early = new JobContext(job, silentLogger, () => undefined);
    const signal = early.signal;
    early.abort(new Error('first'));
    early.abort(new Error('second'));
    assert.equal(signal.aborted, true);
    assert.equal((signal.reason as Error).message, 'first');

    const late = new JobContext(job, silentLogger, () => undefined);
    late.abort(new Error('timeout'));
    assert.equal(late.signal.aborted, true);
    assert.equal((late.signal.reason as Error).message, 'timeout');
    assert.equal(late.abortReason?.message, 'timeout');
  });

  it('carries the job and makes one logger per job', () => {
    const ctx = new JobContext(job, silentLogger, () => undefined);
    assert.deepEqual({ ...ctx }, { jobId: '7', task: 't', queue: 'q', attempt: 2, maxAttempts: 3 });
    assert.equal(ctx.signal.aborted, false);
    assert.equal(ctx.logger, ctx.logger);
  });

  it('posts progress at most every 100 ms, keeps the last report for the outcome, and refuses what cannot be stored', () => {
    const posted: unknown[] = [];
    const ctx = new JobContext(job, silentLogger, (report) => posted.push(report));
    assert.equal(ctx.lastProgress, undefined);
    for (let done = 1; done <= 1000; done++) ctx.progress({ done });
    assert.deepEqual(posted, [{ id: '7', attempt: 2, value: '{"done":1}' }], 'reports made within 100 ms of the first are not posted');
    assert.equal(ctx.lastProgress, '{"done":1000}');
    assert.throws(() => ctx.progress('x'.repeat(5000)), /ctx.progress\(\) takes at most 4096 bytes of JSON \(got 5002\)/);
    assert.throws(() => ctx.progress(10n), /cannot be serialised/);
    assert.throws(() => ctx.progress(undefined), /takes a number or a small JSON value/);
  });
});
