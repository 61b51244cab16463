/**
 * A new user's project for the first-hour tests: the package as npm packs
 * it, an empty project with a fresh package.json, no database configured,
 * and the commands a user types, run in it.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { packageRoot } from '../../src/paths.js';
import { waitFor } from './db.js';

export { readme, section } from './readme.js';
export const work = mkdtempSync(join(tmpdir(), 'pg-supervisor-first-hour-'));
export const app = join(work, 'app');
/** The user's environment: no database configured, nothing of the test run's. */
export const env: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => name !== 'DATABASE_URL' && !name.startsWith('SUPERVISOR_') && name !== 'TEST_OUT'),
);
// Metrics off: the default port may be taken by a supervisor of another test file.
env.SUPERVISOR_METRICS_PORT = '0';
/** The package as npm packs it (set by setUpProject). */
export let tarball: string;
const background: { child: ReturnType<typeof spawn>; closed: Promise<void> }[] = [];

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a shell command line in the app (or `cwd`), as a user types it. */
export function sh(line: string, cwd = app, input?: string, environment = env): Result {
  const began = Date.now();
  const result = spawnSync('bash', ['-c', line], { cwd, env: environment, encoding: 'utf8', input, timeout: 180_000, maxBuffer: 64 * 1024 * 1024 });
  if (Date.now() - began > 10_000) process.stdout.write(`# '${line.slice(0, 80)}' took ${Date.now() - began} ms\n`);
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

export function ok(line: string, cwd = app): string {
  const result = sh(line, cwd);
  assert.equal(result.code, 0, `${line}\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/** A supervisor run through npx in its own process group, as in a terminal. */
export interface Running {
  child: ReturnType<typeof spawn>;
  output: () => string;
  startedInMs: number;
  closed: Promise<void>;
}

/** Starts a long-running command and resolves once it prints `ready` (by default, that the supervisor started). */
export async function startSupervisor(line: string, cwd = app, environment = env, ready = 'supervisor started'): Promise<Running> {
  const began = Date.now();
  const child = spawn('bash', ['-c', `exec ${line}`], { cwd, env: environment, detached: true });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // Closed once every process of the group holding the pipes (npx and the supervisor under it) is gone.
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const running = { child, output: () => output, startedInMs: 0, closed };
  background.push(running);
  await waitFor(`'${line}' to start`, () => {
    if (child.exitCode !== null) throw new Error(`'${line}' exited with ${child.exitCode}:\n${output}`);
    return output.includes(ready);
  }, 60_000);
  running.startedInMs = Date.now() - began;
  return running;
}

/**
 * Ctrl-C in a terminal: SIGINT to the whole process group. (npx does not
 * pass a SIGTERM sent to it alone on to the supervisor.) Resolves once the
 * supervisor has stopped and every process of the group is gone.
 */
export async function stop(running: Running): Promise<void> {
  if (await interrupt(running)) assert.match(running.output(), /supervisor stopped/, 'a graceful stop');
}

/** SIGINT to the process group; resolves once it is gone (false when it was gone already). */
export async function interrupt(running: Running): Promise<boolean> {
  try {
    process.kill(-running.child.pid!, 'SIGINT');
  } catch {
    return false;
  }
  const timeout = setTimeout(() => process.kill(-running.child.pid!, 'SIGKILL'), 30_000);
  await running.closed;
  clearTimeout(timeout);
  return true;
}


/** A client on the app's embedded PostgreSQL, found through the port it saved. */
export async function appDatabase(): Promise<pg.Client> {
  const port = readFileSync(join(app, '.supervisor', 'port'), 'utf8').trim();
  const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
  await client.connect();
  return client;
}


/** Makes the empty project and packs the package (a file's `before`). */
export function setUpProject(): void {
  // The embedded server runs as the postgres user when we are root: it must reach the data folder.
  chmodSync(work, 0o755);
  mkdirSync(app);
  ok('npm init -y');
  assert.equal(JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')).type ?? 'commonjs', 'commonjs');
  const began = Date.now();
  // Without its prepare script, which would build dist/ again: `npm test` has just built it.
  const packed = execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', work], { cwd: packageRoot, encoding: 'utf8', env }).trim().split('\n').at(-1)!;
  process.stdout.write(`# packed the package in ${Date.now() - began} ms\n`);
  tarball = join(work, packed);
}

/** Kills what is left running and removes the project (a file's `after`). */
export async function tearDownProject(): Promise<void> {
  for (const { child, closed } of background) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
      await closed;
    } catch {
      // gone
    }
  }
  // The last process to leave stopped the embedded server; anything left is a leak the run reports.
  rmSync(work, { recursive: true, force: true });
}
