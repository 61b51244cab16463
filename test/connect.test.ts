import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { openDatabase } from '../src/db/connect.js';
import { PoolerClient } from '../src/db/pooler-client.js';
import { Queue, startSupervisor, type Supervisor } from '../src/index.js';
import { silentLogger } from '../src/log.js';
import { fixtures } from './helpers/cli.js';
import { testDb, waitFor } from './helpers/db.js';

const setting = async (pool: import('pg').Pool, name: string) =>
  (await pool.query<{ value: string }>(`select current_setting($1) as value`, [name])).rows[0]!.value;

it('commits completions and every other write but the claim as durably as the server says', async () => {
  const db = await openDatabase({ databaseUrl: process.env.DATABASE_URL }, silentLogger());
  const plain = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await plain.connect();
  try {
    const server = (await plain.query<{ value: string }>(`select current_setting('synchronous_commit') as value`)).rows[0]!.value;
    assert.equal(await setting(db.writePool, 'synchronous_commit'), server, 'completions');
    assert.equal(await setting(db.pool, 'synchronous_commit'), server, 'registration, recovery and the rest');
  } finally {
    await plain.end();
    await db.close();
  }
});

/** Counts the pg clients that connect until `restore()` is called. */
function countConnects(): { readonly count: number; restore(): void } {
  const connect = pg.Client.prototype.connect;
  let count = 0;
  pg.Client.prototype.connect = function (this: pg.Client, ...args: Parameters<typeof connect>) {
    count++;
    return connect.apply(this, args);
  } as typeof connect;
  return {
    get count() {
      return count;
    },
    restore: () => {
      pg.Client.prototype.connect = connect;
    },
  };
}

/** Adds a no-op job and waits until the supervisor has run it. */
async function runOneJob(queue: Queue, supervisor: Supervisor): Promise<void> {
  const succeeded = supervisor.stats.succeeded;
  await queue.add('noop');
  await waitFor('the job to succeed', () => supervisor.stats.succeeded > succeeded);
}

it('keeps a connection per pool through an idle spell longer than pg\'s 10 s idle timeout: the next add and its completion open none', async () => {
  const db = await testDb('idle_connections');
  const queue = new Queue({ connectionString: db.url, schema: db.schema });
  // A long lease keeps the heartbeat and recovery quiet during the spell;
  // the wait counts the supervisor's own stats, not the database.
  const supervisor = await startSupervisor({
    connectionString: db.url, schema: db.schema, tasks: join(fixtures, 'tasks.js'), threads: 1, lease: 120_000, logLevel: 'silent',
  });
  const connects = countConnects();
  try {
    await runOneJob(queue, supervisor);
    const before = connects.count;
    await sleep(11_000);
    await runOneJob(queue, supervisor);
    assert.equal(connects.count - before, 0, 'connections opened after the idle spell');
  } finally {
    connects.restore();
    await supervisor.stop();
    await queue.close();
    await db.drop();
  }
});

it('turns TCP keepalive on for every connection a supervisor and a Queue open, LISTEN included', async () => {
  const db = await testDb('keep_alive');
  const connects = countConnects();
  const setKeepAlive = Socket.prototype.setKeepAlive;
  const probed = new Set<Socket>();
  Socket.prototype.setKeepAlive = function (this: Socket, enable?: boolean, delay?: number) {
    if (enable && delay === 30_000) probed.add(this);
    return setKeepAlive.call(this, enable, delay);
  };
  const queue = new Queue({ connectionString: db.url, schema: db.schema });
  try {
    const supervisor = await startSupervisor({
      connectionString: db.url, schema: db.schema, tasks: join(fixtures, 'tasks.js'), threads: 1, logLevel: 'silent',
    });
    try {
      await runOneJob(queue, supervisor);
    } finally {
      await supervisor.stop();
    }
    // claims, the main pool, LISTEN, completions and the Queue at least
    assert.ok(connects.count >= 5, `${connects.count} connections`);
    assert.equal(probed.size, connects.count, 'connections with keepalive after 30 s');
  } finally {
    connects.restore();
    Socket.prototype.setKeepAlive = setKeepAlive;
    await queue.close();
    await db.drop();
  }
});

it('behind a pooler, sends statements unprepared and sets what one needs in a transaction of its own', async () => {
  const client = new PoolerClient({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  try {
    const nestloop = { name: 'pooler-test', text: `select current_setting('enable_nestloop') as value`, local: 'enable_nestloop = off' };
    assert.equal((await client.query(nestloop)).rows[0].value, 'off', 'set for the statement');
    assert.equal((await client.query(`select current_setting('enable_nestloop') as value`)).rows[0].value, 'on', 'and for it alone');
    // The same name for another text: prepared, the second would run the first's text.
    const other = await client.query({ name: 'pooler-test', text: 'select 2 as value' });
    assert.equal(other.rows[0].value, 2);
    const prepared = await client.query(`select count(*)::int as n from pg_prepared_statements`);
    assert.equal(prepared.rows[0].n, 0, 'nothing left prepared on the session');
    await assert.rejects(client.query({ text: 'select 1/0', local: 'enable_nestloop = off' } as never), /division by zero/);
    assert.equal((await client.query(`select now() = statement_timestamp() as outside`)).rows[0].outside, true, 'no transaction left open');
  } finally {
    await client.end();
  }
});
