/**
 * A Queue typed with a task module checks task names and payloads where
 * jobs are added. The misuses below are compile errors: `@ts-expect-error`
 * makes the test build fail if any of them ever compiles.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Queue, type TaskContext, type TaskDefinition } from '../src/index.js';
import { testDb, type TestDb } from './helpers/db.js';

/** A task module as the application writes it: a bare handler and a definition. */
const tasks = {
  async sendEmail(payload: { to: string; subject?: string }, ctx: TaskContext) {
    ctx.logger.info(payload.to);
  },
  resize: {
    queue: 'images',
    async handler(payload: { url: string; width: number }) {
      return payload.width;
    },
  } satisfies TaskDefinition<{ url: string; width: number }, number>,
  notATask: 42,
};

let db: TestDb;
let queue: Queue<typeof tasks>;

before(async () => {
  db = await testDb('typed');
  queue = new Queue<typeof tasks>({ connectionString: db.url, schema: db.schema });
});
after(async () => {
  await queue.close();
  await db.drop();
});

describe('a Queue typed with its task module', () => {
  it('adds jobs whose names and payloads match the handlers', async () => {
    const { id } = await queue.add('sendEmail', { to: 'a@example.com' });
    const [many] = await queue.addMany([{ task: 'resize', payload: { url: 'x.png', width: 64 } }]);
    const rows = await db.query<{ task: string; queue: string }>('select task, queue from jobs where job_id = any($1::bigint[]) order by job_id', [[id, many!.id]]);
    assert.deepEqual(rows, [{ task: 'sendEmail', queue: 'default' }, { task: 'resize', queue: 'default' }]);
  });

  it('refuses, at compile time, a wrong payload, an unknown task and an export that is no task', () => {
    const misuse = async () => {
      // @ts-expect-error: `to` must be a string
      await queue.add('sendEmail', { to: 42 });
      // @ts-expect-error: resize needs a width
      await queue.add('resize', { url: 'x.png' });
      // @ts-expect-error: no such task
      await queue.add('sendEmial', { to: 'a@example.com' });
      // @ts-expect-error: an export that is not a handler is no task
      await queue.add('notATask', {});
      // @ts-expect-error: the payload of one task with the name of another
      await queue.addMany([{ task: 'resize', payload: { to: 'a@example.com' } }]);
    };
    assert.equal(typeof misuse, 'function'); // compiled, never run
  });
});
