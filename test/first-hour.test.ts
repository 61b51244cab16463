// The first hour of a new user, played with real processes: the package as
// npm packs it, installed into an empty project with a fresh package.json,
// the README's "Use it in your app" section run as written (no DATABASE_URL:
// the project's embedded PostgreSQL), a TypeScript task module compiled with
// tsc, and jobs added from the CLI, from a subfolder and from code. The bad
// input a new user meets is bad-input.test.ts.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { waitFor } from './helpers/db.js';
import { packageRoot } from '../src/paths.js';
import { app, appDatabase, env, ok, section, setUpProject, sh, startSupervisor, stop, tarball, tearDownProject, work, type Running } from './helpers/new-user.js';

before(setUpProject);
after(tearDownProject);

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

