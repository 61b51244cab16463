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
 *   there is no session to set it on: BEGIN with SET LOCAL, the
 *   statement, then COMMIT, or ROLLBACK when the statement failed. One at
 *   a time, as pg wants a client's queries (it warns of queries queued on
 *   a busy client, and pg 9 will refuse them).
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
    // pg's pool passes a callback; a caller of the client, none.
    const callback = typeof rest.at(-1) === 'function' ? (rest.pop() as (error: unknown, result?: unknown) => void) : undefined;
    const result = this.withLocal(local, () => (super.query as (...a: unknown[]) => Promise<unknown>)(unnamed, ...rest));
    if (callback === undefined) return result;
    result.then((value) => callback(undefined, value), (error: unknown) => callback(error));
    return undefined;
  }

  private async withLocal(local: string, statement: () => Promise<unknown>): Promise<unknown> {
    const run = (text: string) => super.query(text);
    await run(`begin; set local ${local}`);
    try {
      const result = await statement();
      await run('commit');
      return result;
    } catch (error) {
      await run('rollback').catch(() => undefined);
      throw error;
    }
  }
}
