// pg-supervisor: every job runs in a piscina worker thread.
import { fileURLToPath } from 'node:url';
import { Queue, startSupervisor } from '../../dist/index.js';
import { now, until } from './common.js';

const tasks = fileURLToPath(new URL('../tasks/bench-tasks.js', import.meta.url));

/** `supervisorOptions`: more options of startSupervisor (retention periods for the soak). */
export function create({ url, schema, threads = 2, concurrency = 1024, supervisorOptions = {} }) {
  let queue;
  let supervisor;
  const start = async () => {
    supervisor = await startSupervisor({
      connectionString: url, schema, tasks, threads, concurrency, logLevel: 'warn', metricsPort: 0, ...supervisorOptions,
    });
  };
  return {
    name: 'pg-supervisor',
    schema,
    settings: `threads ${threads}, concurrency ${concurrency}, defaults otherwise`,
    async setup() {
      queue = new Queue({ connectionString: url, schema });
      await start(); // migrates
      await supervisor.stop();
      supervisor = undefined;
      // Open the queue's connection now, as every peer's setup does, so that
      // no measurement counts connecting.
      await queue.listJobs({ limit: 1 });
    },
    async insert(n, task = 'noop', payload = () => ({})) {
      const specs = Array.from({ length: n }, (_, i) => ({ task, payload: payload(i) }));
      await queue.addMany(specs);
    },
    async start() {
      await start();
    },
    /** Jobs whose outcome has been written to the database. */
    done: () => supervisor.stats.succeeded,
    /** Jobs that ended: succeeded or failed for good. */
    finished: () => supervisor.stats.succeeded + supervisor.stats.failed,
    async enqueueOne(i) {
      await queue.add('latency', { i, at: now() });
    },
    latencyChannel: true,
    async teardown() {
      await supervisor?.stop();
      await queue?.close();
    },
  };
}
