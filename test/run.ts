/**
 * `npm test`: runs every test file under node:test against one PostgreSQL.
 * With DATABASE_URL set, that server; otherwise an embedded PostgreSQL
 * started for this run in a temporary folder and removed afterwards. Each
 * test file works in its own schema, so files run in parallel.
 *
 * Every test has a time limit (TEST_TIMEOUT_MS, default 2 minutes), so a
 * hang fails its test instead of running until CI gives up. A run must
 * leave nothing behind: after the tests, any file left in the run's
 * temporary folder, test schema left in the database, or process started
 * by a test and still alive fails the run (and is removed).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { useEmbeddedPostgres, type EmbeddedServer } from '../src/db/embedded.js';
import { createLogger } from '../src/log.js';

const here = dirname(fileURLToPath(import.meta.url));
const log = createLogger({ logLevel: 'info', logFormat: 'json', fd: 2 });
/** Every process a test starts inherits this variable, which is how leftovers are found. */
const RUN_MARKER = 'PG_SUPERVISOR_TEST_RUN';

async function main(): Promise<number> {
  const only = process.argv.slice(2);
  const files = (await readdir(here))
    .filter((file) => file.endsWith('.test.js'))
    .filter((file) => only.length === 0 || only.some((name) => file.includes(name)))
    .map((file) => join(here, file));
  let server: EmbeddedServer | undefined;
  if (!process.env.DATABASE_URL) {
    const dir = await mkdtemp(join(tmpdir(), 'pg-supervisor-test-'));
    server = await useEmbeddedPostgres(
      { dir, ephemeral: true, settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: '300' } },
      log,
    );
    process.stderr.write(`tests use an embedded PostgreSQL at ${server.url}\n`);
  } else {
    process.stderr.write(`tests use DATABASE_URL (${new URL(process.env.DATABASE_URL).host})\n`);
  }
  const url = server?.url ?? process.env.DATABASE_URL!;
  const runTmp = await mkdtemp(join(tmpdir(), 'pg-supervisor-test-run-'));
  // Reachable by the postgres user, which an embedded server started under it runs as when we are root.
  await chmod(runTmp, 0o755);
  const marker = randomBytes(6).toString('hex');
  const schemasBefore = await testSchemas(url);
  try {
    const env = {
      ...process.env,
      DATABASE_URL: url,
      // Supervisors in tests serve no metrics unless a test asks for a port.
      SUPERVISOR_METRICS_PORT: '0',
      TMPDIR: runTmp,
      [RUN_MARKER]: marker,
    };
    const timeout = process.env.TEST_TIMEOUT_MS ?? '120000';
    const code = await runNodeTest(['--test', '--test-concurrency=3', `--test-timeout=${timeout}`, '--test-force-exit', ...files], env);
    const leftovers = [
      ...(await leftoverProcesses(marker)).map((pid) => `process ${pid}`),
      ...(await readdir(runTmp)).map((name) => `temporary file ${name}`),
      ...(await leftoverSchemas(url, schemasBefore)).map((schema) => `schema ${schema}`),
    ];
    if (leftovers.length > 0) {
      process.stderr.write(`the tests left behind (now removed): ${leftovers.join(', ')}\n`);
      return code || 1;
    }
    return code;
  } finally {
    await rm(runTmp, { recursive: true, force: true });
    await server?.close();
  }
}

function runNodeTest(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise<number>((resolve) => {
    const child = spawn(process.execPath, args, { stdio: 'inherit', env });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

/** Schemas the test helpers create (test/helpers/db.ts names them t_...). */
async function testSchemas(url: string): Promise<Set<string>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(`select nspname as name from pg_namespace where nspname like 't\\_%'`);
    return new Set(rows.map((row) => row.name));
  } finally {
    await client.end();
  }
}

/** Test schemas that appeared during the run; they are dropped. */
async function leftoverSchemas(url: string, before: Set<string>): Promise<string[]> {
  const left = [...(await testSchemas(url))].filter((name) => !before.has(name));
  if (left.length === 0) return left;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const name of left) await client.query(`drop schema if exists "${name}" cascade`);
  } finally {
    await client.end();
  }
  return left;
}

/** Processes still alive that a test started (they carry the run's marker); they are killed. */
async function leftoverProcesses(marker: string): Promise<number[]> {
  const find = async () => {
    const found: number[] = [];
    for (const entry of await readdir('/proc').catch(() => [] as string[])) {
      const pid = Number(entry);
      if (!Number.isInteger(pid) || pid === process.pid) continue;
      const environ = await readFile(`/proc/${pid}/environ`, 'latin1').catch(() => '');
      if (environ.split('\0').includes(`${RUN_MARKER}=${marker}`)) found.push(pid);
    }
    return found;
  };
  // A process killed in a test's last moments may still be on its way out.
  const deadline = Date.now() + 5000;
  let found = await find();
  while (found.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    found = await find();
  }
  for (const pid of found) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`test run failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
