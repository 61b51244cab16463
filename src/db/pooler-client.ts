/**
 * A pg client for a database reached through a pooler in transaction mode
 * (PgBouncer, RDS Proxy, Supavisor; `--pooler`). Such a pooler hands each
 * transaction to whichever server connection is free, so nothing may be
 * left on a session between two statements:
 *
 * - statements go unprepared: a statement prepared under its name on one
 *   server connection does not exist on the next (PgBouncer before 1.21
 *   does not track them);
 * - a statement that needs a planner setting (see {@link Statement.local})
 *   runs in a transaction of its own that sets it with SET LOCAL, since
 *   there is no session to set it on. pg sends queries of a client in
 *   order, so the three are queued at once and the caller awaits the one
 *   it asked for; a failed statement turns the COMMIT into a rollback.
 */
import pg from 'pg';
import type { Statement } from './sql/statement.js';

type QueryConfig = pg.QueryConfig & Partial<Pick<Statement, 'local'>>;

export class PoolerClient extends pg.Client {
  override query(...args: unknown[]): any {
    const [config, ...rest] = args;
    if (typeof config !== 'object' || config === null || typeof (config as pg.Submittable).submit === 'function') {
      return (super.query as (...a: unknown[]) => unknown)(...args);
    }
    const { name: _unprepared, local, ...unnamed } = config as QueryConfig;
    if (local === undefined) return (super.query as (...a: unknown[]) => unknown)(unnamed, ...rest);
    const run = super.query.bind(this) as (...a: unknown[]) => Promise<unknown>;
    run(`begin; set local ${local}`).catch(() => undefined); // its failure fails the statement too
    const result = run(unnamed, ...rest);
    run('commit').catch(() => undefined);
    return result;
  }
}
