// graphile-worker 0.18 in two settings: its defaults, and its batching mode
// (concurrency 24, localQueue.size 100, completeJobBatchDelay 0), the
// setting its performance documentation recommends for throughput.
import { Logger, run, makeWorkerUtils } from 'graphile-worker';

/** Logging per job would be the benchmark's bottleneck; every system runs without it. */
const logger = new Logger(() => () => undefined);
import { now } from './common.js';

export function create({ url, schema, mode }) {
  const batching = mode === 'batching';
  let runner;
  let utils;
  let completed = 0;
  let onStart = () => undefined;
  const preset = {
    worker: {
      connectionString: url,
      schema,
      concurrentJobs: batching ? 24 : 1,
      pollInterval: 2000,
      ...(batching ? { localQueue: { size: 100 }, completeJobBatchDelay: 0 } : {}),
    },
  };
  const taskList = {
    noop: async () => { completed++; },
    latency: async (payload) => { onStart(payload.i, now()); },
  };
  return {
    name: batching ? 'graphile-worker (batching)' : 'graphile-worker (defaults)',
    settings: batching ? 'concurrency 24, localQueue.size 100, completeJobBatchDelay 0' : 'defaults (concurrency 1)',
    async setup() {
      utils = await makeWorkerUtils({ preset, logger });
      await utils.migrate();
    },
    async insert(n, task = 'noop', payload = () => ({})) {
      for (let start = 0; start < n; start += 5000) {
        const specs = Array.from({ length: Math.min(5000, n - start) }, (_, i) => ({ identifier: task, payload: payload(start + i) }));
        await utils.addJobs(specs);
      }
    },
    async start() {
      runner = await run({ preset, taskList, noHandleSignals: true, logger });
    },
    done: () => completed,
    async enqueueOne(i) {
      await utils.addJob('latency', { i, at: now() });
    },
    setLatencyHandler(fn) { onStart = fn; },
    async teardown() {
      await runner?.stop();
      await utils?.release();
    },
  };
}
