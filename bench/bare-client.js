// One process of the process-count control (scenario.js, processCount): no
// pg-supervisor code, only node-pg. It opens `connections` connections,
// waits until the moment `startAt` (epoch ms) shared by every process of the
// run, runs a one-row prepared statement back to back on each for `ms`, and
// prints one JSON line: statements run and this process's CPU over that time.
//   node bare-client.js <connections> <ms> <startAt>
import pg from 'pg';
import { sleep } from './systems/common.js';

const [connections, ms, startAt] = process.argv.slice(2).map(Number);
const url = process.env.BENCH_DATABASE_URL;
const clients = await Promise.all(Array.from({ length: connections }, async () => {
  const client = new pg.Client({ connectionString: url, application_name: 'bench-bare-client' });
  await client.connect();
  return client;
}));
await sleep(startAt - Date.now());
const cpu = process.cpuUsage();
const end = Date.now() + ms;
let statements = 0;
await Promise.all(clients.map(async (client) => {
  while (Date.now() < end) {
    await client.query({ name: 'one-row', text: 'select $1::int + 1 as x', values: [statements] });
    statements++;
  }
}));
const used = process.cpuUsage(cpu);
console.log(JSON.stringify({ statements, cpuUs: used.user + used.system }));
await Promise.all(clients.map((client) => client.end()));
