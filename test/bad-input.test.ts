// The bad input a new user meets in the first hour, each with its message
// and exit code, and nothing written: the package installed into an empty
// project as npm packs it, run with no DATABASE_URL.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { app, interrupt, ok, setUpProject, sh, startSupervisor, tarball, tearDownProject, type Running } from './helpers/new-user.js';

before(setUpProject);
after(tearDownProject);

/**
 * Keeps the embedded server up with one idle connection, as an application
 * holding a Queue does, so that the many commands below connect to it
 * rather than each starting and stopping it (seconds each on a loaded
 * machine).
 */
const HOLD = `import { Queue } from 'pg-supervisor';
const queue = new Queue();
await queue.countJobs();
console.log('holding the database');
setInterval(() => undefined, 60_000);
`;
let holder: Running;

before(() => {
  const began = Date.now();
  ok(`npm install ${tarball}`);
  process.stdout.write(`# installed the package in ${Date.now() - began} ms\n`);
  ok('npx pg-supervisor migrate');
  process.stdout.write(`# migrated the embedded database in ${Date.now() - began} ms\n`);
  writeFileSync(join(app, 'hold.mjs'), HOLD);
  writeFileSync(join(app, 'typed-tasks.mts'), 'export const hello = async () => {};\n');
});

describe('bad input a new user meets: a clear message, the right exit code, nothing written', () => {
  // The installed command itself: npx, which the first-hour tests run, adds a second to each of these.
  const cli = (args: string, input?: string) => sh(`node_modules/.bin/pg-supervisor ${args}`, app, input);

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
    holder = await startSupervisor('node hold.mjs', app, undefined, 'holding the database');
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
    // Nothing holds it now: each command starts the embedded server and, the last to leave, stops it.
    await interrupt(holder);
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
