// pg-boss 12: batchSize 100, localConcurrency 4, burstWhenBatchFull, with
// LISTEN/NOTIFY on (its fastest published setting).
import { PgBoss } from 'pg-boss';
import { now } from './common.js';

export function create({ url, schema }) {
  let boss;
  let completed = 0;
  let onStart = () => undefined;
  const start = async () => {
    boss = new PgBoss({ connectionString: url, schema, useListenNotify: true, supervise: false, schedule: false });
    boss.on('error', () => undefined);
    await boss.start();
  };
  return {
    name: 'pg-boss',
    settings: 'batchSize 100, localConcurrency 4, burstWhenBatchFull, LISTEN/NOTIFY',
    async setup() {
      await start();
      for (const name of ['noop', 'latency']) await boss.createQueue(name, { notify: true });
    },
    async insert(n, task = 'noop', payload = () => ({})) {
      for (let s = 0; s < n; s += 5000) {
        await boss.insert(task, Array.from({ length: Math.min(5000, n - s) }, (_, i) => ({ data: payload(s + i) })));
      }
    },
    async start() {
      const options = { batchSize: 100, localConcurrency: 4, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 };
      await boss.work('noop', options, async (jobs) => { completed += jobs.length; });
      await boss.work('latency', { ...options, batchSize: 1 }, async ([job]) => { onStart(job.data.i, now()); });
    },
    done: () => completed,
    async enqueueOne(i) {
      await boss.send('latency', { i, at: now() });
    },
    setLatencyHandler(fn) { onStart = fn; },
    async teardown() {
      await boss?.stop({ graceful: false, wait: true, timeout: 5000 }).catch(() => undefined);
    },
  };
}
