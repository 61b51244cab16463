/** A supervisor running in the test's own process (as an application embeds one), with a Queue, on a schema of its own. */
import { join } from 'node:path';
import { Queue, startSupervisor, type Supervisor } from '../../src/index.js';
import { fixtures } from './cli.js';
import { testDb, type TestDb } from './db.js';

export interface Embedded {
  db: TestDb;
  queue: Queue;
  supervisor: Supervisor;
  close(): Promise<void>;
}

/** Starts a one-thread supervisor of the test tasks and a Queue on a new schema named after `name`. */
export async function embedded(name: string): Promise<Embedded> {
  const db = await testDb(name);
  const queue = new Queue({ connectionString: db.url, schema: db.schema });
  const supervisor = await startSupervisor({ connectionString: db.url, schema: db.schema, tasks: join(fixtures, 'tasks.js'), threads: 1, logLevel: 'silent' });
  return {
    db,
    queue,
    supervisor,
    async close() {
      await supervisor.stop();
      await queue.close();
      await db.drop();
    },
  };
}
