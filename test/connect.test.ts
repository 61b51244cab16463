import assert from 'node:assert/strict';
import { it } from 'node:test';
import { openDatabase } from '../src/db/connect.js';
import { silentLogger } from '../src/log.js';

const setting = async (pool: import('pg').Pool, name: string) =>
  (await pool.query<{ value: string }>(`select current_setting($1) as value`, [name])).rows[0]!.value;

it('claims commit without waiting for the WAL flush and keep one plan; batch writes avoid nested loops; the rest keeps the server settings', async () => {
  const db = await openDatabase({ databaseUrl: process.env.DATABASE_URL }, silentLogger());
  try {
    assert.equal(await setting(db.claimPool, 'synchronous_commit'), 'off');
    assert.equal(await setting(db.claimPool, 'plan_cache_mode'), 'force_generic_plan');
    assert.equal(await setting(db.batchPool, 'enable_nestloop'), 'off');
    assert.equal(await setting(db.batchPool, 'statement_timeout'), '1min');
    const server = await setting(db.pool, 'synchronous_commit');
    assert.equal(await setting(db.batchPool, 'synchronous_commit'), server, 'completions commit as the server says');
    assert.equal(await setting(db.pool, 'enable_nestloop'), 'on');
  } finally {
    await db.close();
  }
});
