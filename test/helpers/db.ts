/** A schema of its own for each test file, on the run's PostgreSQL (see test/run.ts). */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from '../../src/db/migrate.js';
import { silentLogger } from '../../src/log.js';

export interface TestDb {
  url: string;
  schema: string;
  pool: pg.Pool;
  /** Runs a query in the test schema (unqualified table names). */
  query<R extends pg.QueryResultRow = any>(text: string, values?: unknown[]): Promise<R[]>;
  /** The row of job `id`. */
  job(id: string): Promise<any>;
  drop(): Promise<void>;
}

export function databaseUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is not set: run the tests with `npm test`, which provides a database');
  return url;
}

/** Creates a fresh schema named after the test file; `migrated: false` leaves it without tables. */
export async function testDb(name: string, options: { migrated?: boolean } = {}): Promise<TestDb> {
  const url = databaseUrl();
  const schema = `t_${name.replace(/\W/g, '_').toLowerCase()}_${randomBytes(3).toString('hex')}`;
  const pool = new pg.Pool({ connectionString: url, max: 4, options: `-c search_path=${schema}` });
  pool.on('error', () => undefined);
  if (options.migrated !== false) await migrate(pool, schema, silentLogger());
  return {
    url,
    schema,
    pool,
    async query(text, values) {
      return (await pool.query(text, values)).rows;
    },
    async job(id) {
      return (await pool.query('select * from jobs where job_id = $1', [id])).rows[0];
    },
    async drop() {
      await pool.query(`drop schema if exists "${schema}" cascade`);
      await pool.end();
    },
  };
}

/**
 * What a timed-out wait adds to its error, so a failure in CI explains
 * itself: each running supervisor process adds its last log lines (see
 * cli.ts).
 */
export const waitDiagnostics = new Set<() => string>();

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(what: string, check: () => Promise<T> | T, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T;
  do {
    last = await check();
    if (last) return last;
    await new Promise((resolve) => setTimeout(resolve, 25));
  } while (Date.now() < deadline);
  throw explained(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last value: ${JSON.stringify(last)})`));
}

/** `error` with the last log lines of each running supervisor process added (see waitDiagnostics). */
export function explained(error: unknown): Error {
  const context = [...waitDiagnostics].map((describe) => `\n${describe()}`).join('');
  return new Error(`${error instanceof Error ? error.message : String(error)}${context}`, { cause: error });
}

/** Job counts by status in the schema. */
export async function statusCounts(db: TestDb): Promise<Record<string, number>> {
  const rows = await db.query<{ job_status: string; count: number }>(
    'select job_status, count(*)::int as count from jobs group by job_status',
  );
  return Object.fromEntries(rows.map((row) => [row.job_status, row.count]));
}
