// BullMQ 6.7 with its PostgreSQL backend: concurrency 8.
import { createRequire } from 'node:module';
import { now } from './common.js';

// BullMQ's ES build has extension-less imports Node cannot resolve; its
// CommonJS build (the package's main entry) works.
const require = createRequire(import.meta.url);
const { Queue, Worker } = require('bullmq');
const { createPostgresBackend } = require('bullmq/dist/cjs/postgres/index.js');

export function create({ url, schema }) {
  const connection = { connectionString: url, schema, migrate: true };
  let queue;
  let latencyQueue;
  let workers = [];
  let completed = 0;
  let onStart = () => undefined;
  return {
    name: 'BullMQ (PostgreSQL)',
    settings: 'PostgreSQL backend, concurrency 8',
    async setup() {
      queue = new Queue('noop', { connection }, createPostgresBackend);
      latencyQueue = new Queue('latency', { connection }, createPostgresBackend);
      await queue.waitUntilReady();
      await latencyQueue.waitUntilReady();
    },
    async insert(n, task = 'noop', payload = () => ({})) {
      for (let s = 0; s < n; s += 1000) {
        await queue.addBulk(Array.from({ length: Math.min(1000, n - s) }, (_, i) => ({ name: task, data: payload(s + i), opts: { removeOnComplete: true } })));
      }
    },
    async start() {
      workers = [
        new Worker('noop', async () => { completed++; }, { connection, concurrency: 8 }, createPostgresBackend),
        new Worker('latency', async (job) => { onStart(job.data.i, now()); }, { connection, concurrency: 8 }, createPostgresBackend),
      ];
      await Promise.all(workers.map((w) => w.waitUntilReady()));
    },
    done: () => completed,
    async enqueueOne(i) {
      await latencyQueue.add('latency', { i, at: now() }, { removeOnComplete: true });
    },
    setLatencyHandler(fn) { onStart = fn; },
    async teardown() {
      await Promise.all(workers.map((w) => w.close()));
      await queue?.close();
      await latencyQueue?.close();
    },
  };
}
