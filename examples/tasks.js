// The quick start's task module: each named export is a task.
// Run it with: npx supervisor --threads 4 --tasks examples/tasks.js

/** Greets someone: enqueue with `supervisor enqueue hello '{"name":"world"}'`. */
export async function hello(payload, ctx) {
  ctx.logger.info(`hello, ${payload.name ?? 'stranger'} (job ${ctx.jobId}, attempt ${ctx.attempt})`);
}

/**
 * Fails two times in three, like the original Python worker's demo task.
 * With the default 3 attempts, about 30% of flaky jobs end `failed`;
 * re-queue them with `supervisor retry --failed`.
 */
export async function flaky(payload, ctx) {
  if (Math.random() < 2 / 3) {
    throw new Error(`flaky failure on attempt ${ctx.attempt} of ${ctx.maxAttempts}`);
  }
  ctx.logger.info('flaky job succeeded');
}

/**
 * Burns CPU for `payload.ms` milliseconds (default 200) without yielding,
 * as image resizing or report rendering would. It runs on a worker thread,
 * so the supervisor keeps claiming and answering meanwhile.
 */
export function cpu(payload, ctx) {
  const until = Date.now() + (payload.ms ?? 200);
  let spins = 0;
  while (Date.now() < until) spins++;
  ctx.logger.debug({ spins }, 'cpu job done');
  return spins;
}
