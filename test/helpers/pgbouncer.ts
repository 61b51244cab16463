/**
 * A real PgBouncer (Debian's `pgbouncer` package, which .ci/run installs)
 * in transaction mode in front of the run's PostgreSQL, started by a test
 * in a folder of its own and stopped with it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { parseDatabaseUrl } from '../../src/config.js';
import { waitFor } from './db.js';
import { freePort } from './ports.js';

const BINARY = '/usr/sbin/pgbouncer';

export class PgBouncer {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    /** The URL of the same database and user, through PgBouncer. */
    readonly url: string,
  ) {}

  /**
   * Starts PgBouncer in front of `target`, with `poolSize` server
   * connections per database and user: few, so that clients' transactions
   * share them, as in production.
   */
  static async start(target: string, poolSize = 3): Promise<PgBouncer> {
    if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: apt-get install pgbouncer (.ci/run does)`);
    const parsed = parseDatabaseUrl(target);
    const user = decodeURIComponent(parsed.username) || 'postgres';
    const database = decodeURIComponent(parsed.pathname.slice(1)) || user;
    const server = [`host=${parsed.hostname || '127.0.0.1'}`, `port=${parsed.port || '5432'}`, `user=${user}`];
    if (parsed.password) server.push(`password=${decodeURIComponent(parsed.password)}`);
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'pg-supervisor-pgbouncer-'));
    chmodSync(dir, 0o777); // PgBouncer refuses to run as root: it switches to postgres, who writes here
    const config = join(dir, 'pgbouncer.ini');
    writeFileSync(
      config,
      [
        '[databases]',
        `* = ${server.join(' ')}`,
        '[pgbouncer]',
        'listen_addr = 127.0.0.1',
        `listen_port = ${port}`,
        'unix_socket_dir =',
        'auth_type = any',
        'pool_mode = transaction',
        `default_pool_size = ${poolSize}`,
        'max_client_conn = 500',
        `logfile = ${join(dir, 'pgbouncer.log')}`,
        `pidfile = ${join(dir, 'pgbouncer.pid')}`,
        '',
      ].join('\n'),
    );
    chmodSync(config, 0o644);
    const asRoot = process.getuid?.() === 0;
    const child = spawn(BINARY, [...(asRoot ? ['-u', 'postgres'] : []), config], { stdio: 'ignore' });
    const bouncer = new PgBouncer(child, dir, `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/${encodeURIComponent(database)}`);
    await waitFor('PgBouncer to answer', async () => {
      const client = new pg.Client({ connectionString: bouncer.url, connectionTimeoutMillis: 1000 });
      try {
        await client.connect();
        await client.query('select 1');
        return true;
      } catch {
        return false;
      } finally {
        await client.end().catch(() => undefined);
      }
    }, 10_000);
    return bouncer;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
