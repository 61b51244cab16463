// How many connections a supervisor holds, counted by PostgreSQL itself
// (pg_stat_activity): at most three, idle and under load, whatever its
// threads and concurrency. Every connection of a supervisor carries its id
// as application_name.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from '../src/index.js';
import { fixtures, SupervisorProcess } from './helpers/cli.js';
import { statusCounts, testDb, waitFor, type TestDb } from './helpers/db.js';
import { freePort } from './helpers/ports.js';

let db: TestDb;
before(async () => {
  db = await testDb('connections');
});
after(() => db.drop());

/** The connections of supervisor `id` right now. */
async function connectionsOf(id: string): Promise<number> {
  const [row] = await db.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where application_name = $1`, [id]);
  return row!.n;
}

it('holds at most three connections, idle and draining with --threads 8 --concurrency 64', async () => {
  const metricsPort = await freePort();
  const env = { DATABASE_URL: db.url, SUPERVISOR_SCHEMA: db.schema };
  const supervisor = new SupervisorProcess(
    ['--tasks', join(fixtures, 'tasks.js'), '--threads', '8', '--concurrency', '64', '--metrics-port', String(metricsPort), '--lease', '3s'],
    env,
  );
  try {
    const id = String((await supervisor.started()).supervisorId);
    const idle: number[] = [];
    await waitFor('its three connections: LISTEN, claims and writes', async () => {
      idle.push(await connectionsOf(id));
      return idle.length >= 10 && idle.at(-1) === 3;
    });
    assert.ok(Math.max(...idle) <= 3, `idle: ${JSON.stringify(idle)}`);

    // Short sleeps keep 512 jobs running at once; failures add retries and
    // their error history; a lease of 3 s beats every second.
    const queue = new Queue({ connectionString: db.url, schema: db.schema });
    await queue.addMany([
      ...Array.from({ length: 8000 }, (_, i) => ({ task: 'sleep', payload: { ms: i % 20 } })),
      ...Array.from({ length: 500 }, () => ({ task: 'fail', maxAttempts: 2 })),
    ]);
    await queue.close();
    const seen: number[] = [];
    for (;;) {
      seen.push(await connectionsOf(id));
      if (seen.length % 10 === 0) assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).status, 200);
      const counts = await statusCounts(db);
      if ((counts.success ?? 0) === 8000 && (counts.failed ?? 0) === 500) break;
      await sleep(20);
    }
    assert.ok(seen.length >= 20, `sampled ${seen.length} times during the drain`);
    assert.equal(Math.max(...seen), 3, `under load: ${JSON.stringify(seen)}`);
    await sleep(500);
    assert.equal(await connectionsOf(id), 3, 'idle again');
  } finally {
    await supervisor.stop();
  }
});
