// A steady stream of example jobs for the docker-compose demo, so the
// dashboard comes alive: hello jobs, flaky jobs (two failures in three) and
// short CPU-bound jobs. Stops cleanly on SIGTERM.
//   DATABASE_URL=postgres://... node examples/producer.js
// SUPERVISOR_SCHEMA selects the schema, as for the supervisor.
import { Queue } from '../dist/index.js';

const perSecond = Number(process.env.JOBS_PER_SECOND ?? 20);
const queue = new Queue({ connectionString: process.env.DATABASE_URL, schema: process.env.SUPERVISOR_SCHEMA || undefined });
let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => (stopping = true));

while (!stopping) {
  const jobs = Array.from({ length: perSecond }, (_, i) => {
    if (i % 10 === 0) return { task: 'flaky', queue: 'flaky' };
    if (i % 10 === 1) return { task: 'cpu', payload: { ms: 50 }, queue: 'cpu' };
    return { task: 'hello', payload: { name: `visitor ${i}` } };
  });
  await queue.addMany(jobs).catch((error) => console.error(`enqueue failed: ${error.message}`));
  await new Promise((resolve) => setTimeout(resolve, 1000));
}
await queue.close();
