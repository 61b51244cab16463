/**
 * A PostgreSQL primary and a streaming standby made by the test from the
 * machine's PostgreSQL 15 (Debian's packages: initdb, pg_basebackup,
 * pg_ctl), in a folder of their own, on free ports; with synchronous
 * replication or without. PostgreSQL refuses to run as root, so as root
 * the servers run as the `postgres` user.
 */
import { execFile } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './ports.js';
import { TcpProxy } from './proxy.js';

const BIN = '/usr/lib/postgresql/15/bin';
const run = promisify(execFile);

/** Who runs the servers: the postgres user when we are root, else ourselves. */
function owner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((entry) => entry.startsWith('postgres:'));
  if (!line) throw new Error('no postgres user to run PostgreSQL as (apt-get install postgresql-15)');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** Runs one of PostgreSQL's programs as the servers' owner. */
async function pgTool(tool: string, args: string[]): Promise<string> {
  const as = owner();
  const { stdout } = await run(join(BIN, tool), args, { ...(as ?? {}), cwd: tmpdir(), env: { ...process.env, PGUSER: 'postgres' } });
  return stdout;
}

export interface Server {
  port: number;
  dataDir: string;
  url: string;
}

export class ReplicaSet {
  /** The replication link, when it is slowed down. */
  private link: TcpProxy | undefined;

  private constructor(
    private readonly dir: string,
    readonly primary: Server,
    readonly standby: Server,
  ) {}

  /**
   * A primary and its standby, caught up. `synchronous`: the primary waits
   * for the standby's flush at each commit. `lagMs`: the standby receives
   * the primary's WAL this much later, as across zones under load.
   */
  static async start(options: { synchronous: boolean; lagMs?: number }): Promise<ReplicaSet> {
    if (!existsSync(join(BIN, 'initdb'))) throw new Error(`${BIN}/initdb is missing: apt-get install postgresql-15`);
    const dir = mkdtempSync(join(tmpdir(), 'pg-supervisor-replicas-'));
    const as = owner();
    if (as) chownSync(dir, as.uid, as.gid);
    const server = async (name: string): Promise<Server> => {
      const port = await freePort();
      return { port, dataDir: join(dir, name), url: `postgres://postgres@127.0.0.1:${port}/postgres` };
    };
    const primary = await server('primary');
    const standby = await server('standby');
    const set = new ReplicaSet(dir, primary, standby);
    try {
      await pgTool('initdb', ['-D', primary.dataDir, '-U', 'postgres', '--auth=trust', '--no-sync']);
      appendFileSync(join(primary.dataDir, 'pg_hba.conf'), 'host replication all 127.0.0.1/32 trust\n');
      const settings = [
        `port = ${primary.port}`,
        "listen_addresses = '127.0.0.1'",
        `unix_socket_directories = '${dir}'`,
        'wal_level = replica',
        'max_wal_senders = 4',
        'fsync = off',
        `synchronous_standby_names = '${options.synchronous ? 'standby' : ''}'`,
      ];
      appendFileSync(join(primary.dataDir, 'postgresql.conf'), `${settings.join('\n')}\n`);
      await set.startServer(primary);
      await pgTool('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', standby.dataDir, '-R', '--no-sync']);
      let upstream = primary.port;
      if (options.lagMs) {
        set.link = new TcpProxy('127.0.0.1', primary.port, options.lagMs);
        upstream = await set.link.start();
      }
      appendFileSync(
        join(standby.dataDir, 'postgresql.auto.conf'),
        `port = ${standby.port}\nprimary_conninfo = 'host=127.0.0.1 port=${upstream} user=postgres application_name=standby'\n`,
      );
      await set.startServer(standby);
      await set.caughtUp(options.synchronous);
      return set;
    } catch (error) {
      await set.destroy();
      throw error;
    }
  }

  private async startServer(server: Server): Promise<void> {
    await pgTool('pg_ctl', ['-D', server.dataDir, '-l', join(server.dataDir, 'log'), '-w', 'start']);
  }

  /** Resolves once the primary streams to the standby (synchronously, when asked). */
  private async caughtUp(synchronous: boolean): Promise<void> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const rows = await query<{ sync_state: string }>(this.primary.url, `select sync_state from pg_stat_replication where application_name = 'standby'`);
      if (rows[0] && (!synchronous || rows[0].sync_state === 'sync')) return;
      if (Date.now() > deadline) throw new Error(`the standby did not catch up: ${JSON.stringify(rows)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /**
   * Kills the primary as a crash of its machine would (no checkpoint, no
   * goodbye to clients), and with it the WAL still on its way to the
   * standby.
   */
  async crashPrimary(): Promise<void> {
    this.link?.cut();
    await pgTool('pg_ctl', ['-D', this.primary.dataDir, '-m', 'immediate', 'stop']);
  }

  /**
   * Makes the standby a primary, and waits until it takes writes. It has
   * no standby of its own, so it stops waiting for one at each commit (it
   * inherited the primary's synchronous_standby_names), as an HA manager
   * such as Patroni does: otherwise every commit would wait for ever.
   */
  async promoteStandby(): Promise<void> {
    await pgTool('pg_ctl', ['-D', this.standby.dataDir, '-w', 'promote']);
    await query(this.standby.url, `alter system set synchronous_standby_names = ''`);
    await query(this.standby.url, 'select pg_reload_conf()');
  }

  /** Stops both servers and removes their files. */
  async destroy(): Promise<void> {
    for (const server of [this.primary, this.standby]) {
      if (existsSync(join(server.dataDir, 'postmaster.pid'))) {
        await pgTool('pg_ctl', ['-D', server.dataDir, '-m', 'immediate', 'stop']).catch(() => undefined);
      }
    }
    await this.link?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Runs one statement on a connection of its own. */
export async function query<R extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}
