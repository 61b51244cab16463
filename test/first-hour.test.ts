// The first hour of a new user, played with real processes: the package as
// npm packs it, installed into an empty project with a fresh package.json,
// the README's "Use it in your app" section run as written (no DATABASE_URL:
// the project's embedded PostgreSQL), a TypeScript task module compiled with
// tsc, jobs added from the CLI, from a subfolder and from code, and each bad
// input a new user meets, with its message and exit code.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { packageRoot } from '../src/paths.js';
import { waitFor } from './helpers/db.js';

const readme = readFileSync(join(packageRoot, 'README.md'), 'utf8');
const work = mkdtempSync(join(tmpdir(), 'pg-supervisor-first-hour-'));
const app = join(work, 'app');
/** The user's environment: no database configured, nothing of the test run's. */
const env: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => name !== 'DATABASE_URL' && !name.startsWith('SUPERVISOR_') && name !== 'TEST_OUT'),
);
// Metrics off: the default port may be taken by a supervisor of another test file.
env.SUPERVISOR_METRICS_PORT = '0';
let tarball: string;
const background: { child: ReturnType<typeof spawn>; closed: Promise<void> }[] = [];

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a shell command line in the app (or `cwd`), as a user types it. */
function sh(line: string, cwd = app, input?: string, environment = env): Result {
  const result = spawnSync('bash', ['-c', line], { cwd, env: environment, encoding: 'utf8', input, timeout: 180_000, maxBuffer: 64 * 1024 * 1024 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function ok(line: string, cwd = app): string {
  const result = sh(line, cwd);
  assert.equal(result.code, 0, `${line}\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/** A supervisor run through npx in its own process group, as in a terminal. */
interface Running {
  child: ReturnType<typeof spawn>;
  output: () => string;
  startedInMs: number;
  closed: Promise<void>;
}

/** Starts a long-running command and resolves once it logs that the supervisor started. */
async function startSupervisor(line: string, cwd = app, environment = env): Promise<Running> {
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
    return output.includes('supervisor started');
  }, 60_000);
  running.startedInMs = Date.now() - began;
  return running;
}

/**
 * Ctrl-C in a terminal: SIGINT to the whole process group. (npx does not
 * pass a SIGTERM sent to it alone on to the supervisor.) Resolves once the
 * supervisor has stopped and every process of the group is gone.
 */
async function stop(running: Running): Promise<void> {
  try {
    process.kill(-running.child.pid!, 'SIGINT');
  } catch {
    return; // already gone
  }
  const timeout = setTimeout(() => process.kill(-running.child.pid!, 'SIGKILL'), 30_000);
  await running.closed;
  clearTimeout(timeout);
  assert.match(running.output(), /supervisor stopped/, 'a graceful stop');
}

/** The fenced blocks of a README section, in order. */
function section(title: string): { lang: string; body: string }[] {
  const start = readme.indexOf(`### ${title}`);
  assert.ok(start >= 0, `README has a section '${title}'`);
  const end = readme.slice(start + 4).search(/^##+ /m);
  const text = readme.slice(start, end < 0 ? undefined : start + 4 + end);
  return [...text.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1]!, body: m[2]! }));
}

/** A client on the app's embedded PostgreSQL, found through the port it saved. */
async function appDatabase(): Promise<pg.Client> {
  const port = readFileSync(join(app, '.supervisor', 'port'), 'utf8').trim();
  const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
  await client.connect();
  return client;
}

before(() => {
  // The embedded server runs as the postgres user when we are root: it must reach the data folder.
  chmodSync(work, 0o755);
  mkdirSync(app);
  ok('npm init -y');
  assert.equal(JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')).type ?? 'commonjs', 'commonjs');
  const packed = execFileSync('npm', ['pack', '--pack-destination', work], { cwd: packageRoot, encoding: 'utf8', env }).trim().split('\n').at(-1)!;
  tarball = join(work, packed);
});

after(async () => {
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
});

describe('a new user, from the README', () => {
  it("runs 'Use it in your app' as written: install, a task module, a supervisor, jobs from the CLI, a subfolder and code", async () => {
    let supervisor: Running | undefined;
    const blocks = section('Use it in your app');
    for (const block of blocks.slice(0, blocks.findIndex((b) => b.lang === 'ts'))) {
      if (block.lang === 'js') {
        const [, file] = /^\/\/ (\S+)\n/.exec(block.body)!;
        writeFileSync(join(app, file!), block.body);
        continue;
      }
      for (const line of block.body.split('\n').filter((l) => l.trim() !== '')) {
        if (line.startsWith('npm install pg-supervisor')) ok(line.replace('pg-supervisor', tarball));
        else if (/pg-supervisor --tasks/.test(line)) supervisor = await startSupervisor(line);
        else ok(line);
      }
    }
    assert.ok(supervisor, 'the section starts a supervisor');
    assert.match(supervisor.output(), /using embedded PostgreSQL postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres/);
    // The same database from a subfolder of the project.
    mkdirSync(join(app, 'src', 'deep'), { recursive: true });
    ok(`npx pg-supervisor enqueue hello '{"name":"subfolder"}'`, join(app, 'src', 'deep'));
    const db = await appDatabase();
    try {
      await waitFor('every job done', async () => {
        const { rows } = await db.query(`select job_data->>'name' as name from supervisor.jobs where job_status = 'success' order by job_id`);
        return rows.length === 3 ? rows.map((r) => r.name) : undefined;
      }).then((names) => assert.deepEqual(names, ['world', 'from code', 'subfolder']));
    } finally {
      await db.end();
    }
    assert.equal(existsSync(join(app, 'src', 'deep', '.supervisor')), false, 'no second database in the subfolder');
    assert.equal(readFileSync(join(app, '.supervisor', '.gitignore'), 'utf8'), '*\n', 'git leaves the database out');
    await stop(supervisor);

    // A restart on the existing data folder: the same URL, started quickly.
    const url = /postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres/.exec(supervisor.output())![0];
    const again = await startSupervisor('npx pg-supervisor --tasks tasks.mjs');
    assert.ok(again.output().includes(url), 'the same URL after a restart');
    process.stdout.write(`# start-up of npx pg-supervisor on an existing data folder: ${again.startedInMs} ms\n`);
    await stop(again);
    assert.equal(existsSync(join(app, '.supervisor', 'pgdata', 'postmaster.pid')), false, 'the last process stopped the embedded server');
  });

  it("runs 'Try it in this repository' as written (but npm ci and npm test, which are what runs this)", async () => {
    // The repository's own embedded database would be .supervisor/ in it: keep this run's elsewhere.
    const repoEnv = { ...env, SUPERVISOR_DATA_DIR: join(work, 'repository-db') };
    const [install, more] = section('Try it in this repository').filter((b) => b.lang === 'sh');
    const run = install!.body.split('\n').find((line) => line.startsWith('npx supervisor'))!.replace(/\s+#.*$/, '');
    const supervisor = await startSupervisor(run, packageRoot, repoEnv);
    for (const line of more!.body.split('\n').filter((l) => l.trim() !== '')) {
      const result = sh(line.replace(/\s+#.*$/, ''), packageRoot, undefined, repoEnv);
      assert.equal(result.code, 0, `${line}\n${result.stderr}`);
      if (line.startsWith('npx supervisor jobs')) assert.match(result.stdout, /^ID\s+TASK\s+QUEUE\s+STATUS/);
    }
    await waitFor('a hello job run', () => supervisor.output().includes('hello, world (job'));
    await stop(supervisor);
  });

  it('compiles the TypeScript task module of the README with tsc and runs it; a wrong payload type does not compile', async () => {
    const blocks = section('Use it in your app');
    const ts = blocks.find((b) => b.lang === 'ts')!;
    const [, tsFile] = /^\/\/ (\S+)\n/.exec(ts.body)!;
    writeFileSync(join(app, tsFile!), ts.body);
    const commands = blocks.filter((b) => b.lang === 'sh').at(-1)!.body.split('\n').filter((l) => l.trim() !== '');
    ok(commands[0]!); // npm install --save-dev typescript
    writeFileSync(join(app, 'misuse.mts'), `import type { TaskHandler } from 'pg-supervisor';
export const typo: TaskHandler<{ name: string }> = async (payload) => {
  // @ts-expect-error: 'nmae' is not in the payload's type
  return payload.nmae;
};
`);
    ok('npx tsc --module nodenext --target es2022 --skipLibCheck --noEmit misuse.mts');
    writeFileSync(join(app, 'misuse.mts'), readFileSync(join(app, 'misuse.mts'), 'utf8').replace(/ *\/\/ @ts-expect-error.*\n/, ''));
    const wrong = sh('npx tsc --module nodenext --target es2022 --skipLibCheck --noEmit misuse.mts');
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stdout, /Property 'nmae' does not exist/);
    ok(commands[1]!); // npx tsc … typed-tasks.mts
    const supervisor = await startSupervisor(commands[2]!);
    ok(`npx pg-supervisor enqueue hello '{"name":"typed"}'`);
    await waitFor('the typed handler ran', () => supervisor.output().includes('hello, TYPED'));
    await stop(supervisor);
  });
});

describe('bad input a new user meets: a clear message, the right exit code, nothing written', () => {
  const cli = (args: string, input?: string) => sh(`npx pg-supervisor ${args}`, app, input);

  it('a task module that is missing, not given, broken, ES syntax in CommonJS, or TypeScript on this Node', () => {
    const missing = cli('--tasks nope.mjs');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /--tasks nope\.mjs: no such file or directory/);
    const none = cli('run');
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no task module given: pass --tasks/);

    writeFileSync(join(app, 'broken.mjs'), 'export async function hello(payload {\n  return 1;\n}\n');
    const broken = cli('--tasks broken.mjs --threads 1');
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /broken\.mjs:1\nexport async function hello\(payload \{\n\s+\^+\n\nSyntaxError: /);

    // Node 22 and newer load such a file as an ES module (with a warning) instead of failing.
    if (Number(process.versions.node.split('.')[0]) < 22) {
      writeFileSync(join(app, 'esm-in-cjs.js'), 'export async function hello() {}\n');
      const esm = cli('--tasks esm-in-cjs.js --threads 1');
      assert.equal(esm.code, 1);
      assert.match(esm.stderr, /rename it to \.mjs, or add "type": "module" to that package\.json/);
    }

    const typescript = cli('--tasks typed-tasks.mts --threads 1');
    if ((process.features as { typescript?: unknown }).typescript) {
      assert.notEqual(typescript.code, 2);
    } else {
      assert.equal(typescript.code, 1);
      assert.match(typescript.stderr, /it is TypeScript, which Node v\d+\.\d+\.\d+ cannot run as is\. Compile it \(npx tsc\)/);
    }
  });

  it('a task no supervisor runs, a payload from stdin or a file, bad payloads and times, ids that do not exist', async () => {
    const typo = cli(`enqueue helo '{"name":"x"}'`);
    assert.equal(typo.code, 0);
    assert.match(typo.stderr, /warning: no live supervisor runs task 'helo' \(no supervisor is running\)/);

    const fromStdin = cli('enqueue hello - --queue from-stdin', '{"name":"stdin"}');
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    writeFileSync(join(app, 'big.json'), JSON.stringify({ name: 'big', blob: 'x'.repeat(10 * 1024 * 1024) }));
    const fromFile = cli('enqueue hello @big.json --queue from-file');
    assert.equal(fromFile.code, 0, fromFile.stderr);

    const cases: [string, number, RegExp][] = [
      [`enqueue hello '{name: x}'`, 2, /the payload is not valid JSON .*pass - to read it from standard input, or @file/],
      ['enqueue hello @nothing-here.json', 2, /cannot read the payload from nothing-here\.json: no such file/],
      [`enqueue hello '{"text":"a\\u0000b"}'`, 2, /payload contains a NUL character/],
      ['enqueue hello --run-at -5s', 2, /--run-at -5s: a time in the past means now/],
      ['enqueue hello --colour', 2, /Unknown argument: colour/],
      ['cancel 999999', 1, /not cancelled: no job with id 999999/],
      ['retry 999999', 1, /not re-queued: no job with id 999999/],
      ['job 999999', 1, /no job with id 999999/],
    ];
    for (const [args, code, message] of cases) {
      const result = cli(args);
      assert.equal(result.code, code, `${args}: ${result.stderr}`);
      assert.match(result.stderr, message, args);
      assert.equal(result.stderr.split('\n').filter((l) => /Unknown argument/.test(l)).length <= 1, true, 'named once');
    }
    // No supervisor runs now: each command starts the embedded server and, the last to leave, stops it.
    for (const [queue, name, blob] of [['from-stdin', 'stdin', undefined], ['from-file', 'big', 10 * 1024 * 1024]] as const) {
      const [job] = cli(`jobs --json --queue ${queue}`).stdout.trim().split('\n').map((line) => JSON.parse(line));
      assert.equal(job.job_data.name, name);
      assert.equal(job.job_data.blob?.length, blob);
    }
    const listed = cli('jobs --task helo');
    assert.match(listed.stdout, /helo\s+default\s+pending/);
    const view = cli(`job ${/\(id (\d+)\)/.exec(typo.stdout)![1]}`);
    assert.equal(view.code, 0);
    assert.match(view.stdout, /^task\s+helo$/m);
    const status = cli('status');
    assert.match(status.stdout, /pending jobs whose task no live supervisor runs[^\n]*\nTASK\s+QUEUE\s+COUNT\n/);
    assert.match(status.stdout, /^helo\s+default\s+1$/m);
  });
});
