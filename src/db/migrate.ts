/**
 * Applies `migrations/NNN_name.sql` in order, in one transaction, under an
 * advisory lock, so supervisors starting together never race. Applied
 * versions are recorded in `<schema>.schema_migrations`.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type pg from 'pg';
import { connectionOptions } from '../config.js';
import type { Logger } from '../log.js';
import { migrationsDir } from '../paths.js';
import { migrationStatements } from './sql/migrations.js';

export interface Migration {
  version: number;
  name: string;
  file: string;
}

/** The migrations shipped with this version, in order. */
export async function listMigrations(): Promise<Migration[]> {
  const files = (await readdir(migrationsDir)).filter((file) => /^\d+_.+\.sql$/.test(file));
  return files
    .map((file) => ({ version: Number.parseInt(file, 10), name: file.replace(/^\d+_|\.sql$/g, ''), file }))
    .sort((a, b) => a.version - b.version);
}

/** Applies pending migrations; returns the versions applied (none when up to date). */
export async function migrate(pool: pg.Pool, schema: string, log: Logger): Promise<number[]> {
  const sql = migrationStatements(schema);
  const migrations = await listMigrations();
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query(sql.noTimeout);
    await client.query(sql.lock, [schema]);
    await client.query(sql.createSchema);
    await client.query(sql.createTable);
    const applied = new Set((await client.query<{ version: number }>(sql.applied)).rows.map((r) => r.version));
    const pending = migrations.filter((m) => !applied.has(m.version));
    for (const migration of pending) {
      await client.query(sql.useSchema, [`"${schema}"`]);
      await client.query(await readFile(join(migrationsDir, migration.file), 'utf8'));
      await client.query(sql.record, [migration.version, migration.name]);
      log.info({ schema, version: migration.version, name: migration.name }, 'applied migration');
    }
    await client.query('commit');
    return pending.map((m) => m.version);
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** True when every shipped migration has been applied to `schema`. */
export async function isMigrated(pool: pg.Pool, schema: string): Promise<boolean> {
  const sql = migrationStatements(schema);
  try {
    const applied = new Set((await pool.query<{ version: number }>(sql.applied)).rows.map((r) => r.version));
    return (await listMigrations()).every((m) => applied.has(m.version));
  } catch (error) {
    if ((error as { code?: string }).code === '42P01') return false; // schema_migrations missing
    throw error;
  }
}

/** The `supervisor migrate` command line for `schema`, naming it when it is not the default. */
export function migrateCommandFor(schema: string): string {
  return schema === connectionOptions.schema.default ? 'supervisor migrate' : `supervisor migrate --schema ${schema}`;
}
