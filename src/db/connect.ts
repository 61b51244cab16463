/**
 * Which database to use and how to reach it: `DATABASE_URL` (or
 * `--database-url`) when given, otherwise the embedded PostgreSQL in
 * `./.supervisor/`. Connection failures become one clear sentence naming the
 * host and port.
 */
import pg from 'pg';
import { ConfigError, connectionOptions, parseDatabaseUrl } from '../config.js';
import type { Logger } from '../log.js';
import { useEmbeddedPostgres, type EmbeddedServer } from './embedded.js';
import { defaultDataDir } from '../paths.js';
import { KEEP_ALIVE } from './keep-alive.js';
import { PoolerClient } from './pooler-client.js';

/** A connection pool and, when embedded, the server behind it. */
export interface Database {
  /** The general pool: commands, a Queue on them, and a supervisor's console (a running supervisor uses nothing else of it). */
  pool: pg.Pool;
  /**
   * A running supervisor's one connection for everything it writes and
   * reads besides claims: completions, lease extensions, progress,
   * heartbeats, recovery, retention, schedules, gates and the queue gauge.
   * Batch statements join a batch of job ids with the jobs table, so nested
   * loops are off: the planner cannot know a batch's size, and with
   * statistics taken while no job ran it estimates one matching row and
   * picks a nested loop that is quadratic in the batch (seconds for 2,000
   * jobs); a hash join over a primary-key scan is linear whatever the
   * statistics say. Statements are planned once (`plan_cache_mode`), with
   * the generic plans that test/plans.test.ts checks for every statement
   * sent here: left to choose, PostgreSQL planned every completion afresh,
   * 0.15 ms of its CPU each, which a job that finishes alone pays in full.
   */
  writePool: pg.Pool;
  /**
   * One connection for claims, committed without waiting for the WAL flush
   * (`synchronous_commit=off`) and planned once (`plan_cache_mode`). A
   * claim then answers in a round trip, and losing one costs nothing: a
   * database crash can forget claims of its last fraction of a second, and
   * those jobs are pending again and run again, as after a supervisor crash
   * (completions of them are refused by the fence). Everything else,
   * completions included, commits durably; a durable commit also flushes
   * every claim before it. Offers of a slot for hand-off go here too: they
   * come and go with the claims, and a database crash ends every LISTEN
   * they serve anyway.
   */
  claimPool: pg.Pool;
  /** The URL in use (for a second connection, such as the LISTEN client). */
  url: string;
  /** `host:port/database`, for logs and error messages. */
  where: string;
  /** How long a new connection may take to answer (`--connect-timeout`), for connections made outside the pools. */
  connectTimeoutMs: number;
  /** Whether the URL goes through a pooler in transaction mode (`--pooler`), which has no sessions to LISTEN on or set. */
  pooler: boolean;
  embedded?: EmbeddedServer;
  close(): Promise<void>;
}

export interface OpenOptions {
  databaseUrl: string | undefined;
  /**
   * Largest number of connections of the general pool (commands, a Queue,
   * and a supervisor's console).
   */
  maxConnections?: number;
  /** How long a connection of the general pool may sit idle before it closes (default 10 s). */
  idleTimeoutMs?: number;
  /** Folder of the embedded server, used when there is no URL (default: `.supervisor/` in the project root). */
  embeddedDir?: string;
  /** Log which database is used at info (a supervisor) rather than debug (a command whose output is its result). */
  announce?: boolean;
  /** `application_name` of every connection, as pg_stat_activity shows it (a supervisor's id). */
  applicationName?: string;
  /** Give up on a connection that has not answered within this many ms (default 10 s, `--connect-timeout`). */
  connectTimeoutMs?: number;
  /** The URL reaches PostgreSQL through a pooler in transaction mode (`--pooler`): see db/pooler-client.ts. */
  pooler?: boolean;
}

/** A failure to reach or log in to PostgreSQL, worded for the user. */
export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError';
}

/** Opens a pool to the configured database and checks that it answers. */
export async function openDatabase(options: OpenOptions, log: Logger): Promise<Database> {
  let embedded: EmbeddedServer | undefined;
  let url = options.databaseUrl;
  if (url === undefined && options.pooler) {
    throw new ConfigError('--pooler (SUPERVISOR_POOLER) says the database URL goes through a pooler, but no DATABASE_URL (--database-url) is given');
  }
  if (url === undefined) {
    embedded = await useEmbeddedPostgres({ dir: options.embeddedDir ?? defaultDataDir() }, log);
    url = embedded.url;
  }
  const where = describeUrl(url);
  const connectTimeoutMs = options.connectTimeoutMs ?? connectionOptions.connectTimeout.default;
  const newPool = (config: pg.PoolConfig): pg.Pool => {
    // A server that accepts and never answers would otherwise hang a
    // connection (and the command waiting on it) until TCP gives up.
    // No JIT: on a table of millions of rows the planner's cost estimates
    // pass jit_above_cost, and compiling a claim took longer than running
    // it (PostgreSQL's JIT pays off for long analytic queries, never here).
    // Behind a pooler there is no session to set, and PgBouncer refuses
    // the startup parameter that would: see db/pooler-client.ts.
    const { options: settings, ...rest } = config;
    const session = options.pooler ? { Client: PoolerClient } : { options: ['-c jit=off', settings].filter(Boolean).join(' ') };
    const created = new pg.Pool({
      connectionString: url,
      application_name: options.applicationName,
      connectionTimeoutMillis: connectTimeoutMs,
      ...KEEP_ALIVE,
      ...rest,
      ...session,
    });
    // An idle pooled connection that breaks must not crash the process; the
    // next query gets a fresh one, and a supervisor logs the outage once if
    // that fails too (see supervisor/health.ts).
    created.on('error', (error) => log.debug({ err: error, database: where }, 'idle database connection lost'));
    return created;
  };
  // The server is checked on a connection of its own, closed at once, so
  // that a supervisor, which never uses the general pool after that (see
  // Database.pool), holds none of its connections.
  const probe = newPool({ max: 1 });
  try {
    const { rows } = await probe.query<{ version: string }>({ name: 'server-version', text: 'show server_version' });
    const announce = options.announce === false ? log.debug.bind(log) : log.info.bind(log);
    announce(
      { database: where, embedded: embedded !== undefined, serverVersion: rows[0]?.version, dataDir: embedded?.dataDir },
      embedded
        ? `using embedded PostgreSQL ${url} (data in ${embedded.dataDir}${embedded.owner ? '' : ', started by another process'})`
        : `using PostgreSQL at ${where}`,
    );
  } catch (error) {
    await embedded?.close().catch(() => undefined);
    throw explainConnectionError(error, where, connectTimeoutMs);
  } finally {
    await probe.end().catch(() => undefined);
  }
  const pool = newPool({ max: options.maxConnections ?? 4, idleTimeoutMillis: options.idleTimeoutMs ?? 10_000 });
  // The supervisor's own connections (commands never use them, and a pool
  // connects only at its first query). min 1: they outlive pg's 10 s idle
  // timeout, so an idle supervisor does not reconnect for its heartbeat,
  // nor for the first claim or completion after a quiet spell.
  // A write that runs a minute has gone wrong; fail it (it is retried)
  // rather than let it hold a core of the database.
  const writePool = newPool({ max: 1, min: 1, options: '-c enable_nestloop=off -c plan_cache_mode=force_generic_plan -c statement_timeout=60s' });
  // The claim's plan is index ranges whatever its parameters; left to
  // choose, PostgreSQL planned it afresh on every claim (0.17 ms each).
  const claimPool = newPool({ max: 1, min: 1, options: '-c synchronous_commit=off -c plan_cache_mode=force_generic_plan' });
  return {
    pool,
    writePool,
    claimPool,
    url,
    where,
    connectTimeoutMs,
    pooler: options.pooler ?? false,
    ...(embedded ? { embedded } : {}),
    async close() {
      await Promise.all([pool.end(), writePool.end(), claimPool.end()]);
      await embedded?.close();
    },
  };
}

/** `host:port/database` of a URL, without the password; the host is the socket folder for a Unix socket. */
export function describeUrl(url: string): string {
  const parsed = parseDatabaseUrl(url);
  const host = parsed.searchParams.get('host') ?? (decodeURIComponent(parsed.hostname) || 'localhost');
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || parsed.username || 'postgres';
  return `${host}:${parsed.port || '5432'}/${database}`;
}

const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused; is PostgreSQL running there?',
  ENOTFOUND: 'host not found; check the host name in DATABASE_URL',
  EAI_AGAIN: 'host name lookup failed; check the host name in DATABASE_URL',
  ETIMEDOUT: 'connection timed out; check the host, port and firewall',
  ECONNRESET: 'the server closed the connection',
  '28P01': 'password authentication failed; check the user and password in DATABASE_URL',
  '28000': 'the server refused this user; check pg_hba.conf and the user in DATABASE_URL',
  '3D000': 'that database does not exist; create it or fix the database name in DATABASE_URL',
};

/** SQLSTATEs of a server that is going away or not taking connections: shutting down, starting, full. */
const SERVER_GONE = new Set(['57P01', '57P02', '57P03', '53300']);
/** What PgBouncer says to the session settings a supervisor's connections carry when not told it is behind one. */
const POOLER_REFUSED = /unsupported startup parameter/;
/** What pg says when a connection did not answer within connectionTimeoutMillis. */
const CONNECT_TIMED_OUT = /connection timeout|timeout expired/;
/** What pg and Node say when a connection breaks. */
const CONNECTION_LOST = /Connection terminated|connection closed|Client has encountered a connection error|EPIPE|ECONNRESET|ECONNREFUSED/;

/**
 * Whether `error` is a failure to reach the server or a broken connection
 * (rather than the failure of a statement): a connection error code, an
 * SQLSTATE of class 08 (connection exception), a server shutting down or
 * full, or pg's words for a connection that ended.
 */
export function isConnectionError(error: unknown): boolean {
  const code = String((error as { code?: unknown }).code ?? '');
  const message = String((error as Error).message);
  return code in REASONS || code.startsWith('08') || SERVER_GONE.has(code) || CONNECT_TIMED_OUT.test(message) || CONNECTION_LOST.test(message);
}

/** Rewords a connection failure so it names the server and suggests a fix. */
export function explainConnectionError(error: unknown, where: string, connectTimeoutMs: number): Error {
  const code = (error as { code?: string }).code ?? '';
  const timedOut = CONNECT_TIMED_OUT.test(String((error as Error).message));
  const reason = timedOut
    ? `no answer within ${connectTimeoutMs / 1000} s (--connect-timeout); check the host and port, and that PostgreSQL listens there`
    : POOLER_REFUSED.test(String((error as Error).message))
      ? `${(error as Error).message}; that is a pooler such as PgBouncer: give --pooler (SUPERVISOR_POOLER=true) when DATABASE_URL goes through one`
      : (REASONS[code] ?? (error as Error).message);
  const explained = new DatabaseUnavailableError(`cannot connect to PostgreSQL at ${where}: ${reason}`);
  explained.cause = error;
  return explained;
}
