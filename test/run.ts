/**
 * `npm test`: runs every test file under node:test against one PostgreSQL.
 * With DATABASE_URL set, that server; otherwise an embedded PostgreSQL
 * started for this run in a temporary folder and removed afterwards. Each
 * test file works in its own schema, so files run in parallel.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useEmbeddedPostgres, type EmbeddedServer } from '../src/db/embedded.js';
import { createLogger } from '../src/log.js';

const here = dirname(fileURLToPath(import.meta.url));
const log = createLogger({ logLevel: 'info', logFormat: 'json', fd: 2 });

async function main(): Promise<number> {
  const only = process.argv.slice(2);
  const files = (await readdir(here))
    .filter((file) => file.endsWith('.test.js'))
    .filter((file) => only.length === 0 || only.some((name) => file.includes(name)))
    .map((file) => join(here, file));
  // Supervisors in tests serve no metrics unless a test asks for a port.
  process.env.SUPERVISOR_METRICS_PORT = '0';
  let server: EmbeddedServer | undefined;
  if (!process.env.DATABASE_URL) {
    const dir = await mkdtemp(join(tmpdir(), 'pg-supervisor-test-'));
    server = await useEmbeddedPostgres(
      { dir, ephemeral: true, settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: '300' } },
      log,
    );
    process.env.DATABASE_URL = server.url;
    process.stderr.write(`tests use an embedded PostgreSQL at ${server.url}\n`);
  } else {
    process.stderr.write(`tests use DATABASE_URL (${new URL(process.env.DATABASE_URL).host})\n`);
  }
  try {
    return await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ['--test', '--test-concurrency=3', ...files], { stdio: 'inherit' });
      const forward = (signal: NodeJS.Signals) => child.kill(signal);
      process.on('SIGINT', forward);
      process.on('SIGTERM', forward);
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    });
  } finally {
    await server?.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`test run failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
