// The floor: a bare table, rows claimed with FOR UPDATE SKIP LOCKED and
// deleted in batches of 100, from Node with pg (no retries, no history).
// For latency, the least any LISTEN/NOTIFY queue can do with a durable
// enqueue: the insert's own notification carries the job (as pg-supervisor's
// hand-off does), and the listening process runs the handler on its main
// thread as soon as the notification arrives: no claim, no thread.
import pg from 'pg';
import { now } from './common.js';

export function create({ url, schema }) {
  let p;
  let completed = 0;
  let stop = false;
  let loops = [];
  let listener;
  let onStart;
  const channel = `${schema}_jobs`;
  return {
    name: 'raw PostgreSQL',
    settings: 'drain: claim + delete 100 rows per statement, 4 loops; latency: the notification carries the job, handler on the main thread',
    async setup() {
      p = new pg.Pool({ connectionString: url, max: 6 });
      await p.query(`create schema if not exists "${schema}"`);
      await p.query(`create table "${schema}".jobs (id bigint generated always as identity primary key, task text not null, payload jsonb not null default '{}')`);
    },
    async insert(n) {
      await p.query(`insert into "${schema}".jobs (task) select 'noop' from generate_series(1, $1)`, [n]);
    },
    async start() {
      if (onStart) {
        listener = new pg.Client({ connectionString: url });
        await listener.connect();
        listener.on('notification', ({ payload }) => onStart(JSON.parse(payload).payload.i, now()));
        await listener.query(`listen "${channel}"`);
        return;
      }
      const loop = async () => {
        while (!stop) {
          const { rowCount } = await p.query({
            name: 'raw-claim',
            text: `delete from "${schema}".jobs where id in (select id from "${schema}".jobs order by id limit 100 for update skip locked) returning id, payload::text`,
          });
          completed += rowCount;
          if (rowCount === 0) await new Promise((r) => setTimeout(r, 5));
        }
      };
      loops = Array.from({ length: 4 }, loop);
    },
    done: () => completed,
    async enqueueOne(i) {
      await p.query({
        name: 'raw-enqueue',
        text: `with added as (insert into "${schema}".jobs (task, payload) values ('latency', $1) returning id, payload)
               select pg_notify('${channel}', json_build_object('id', id, 'payload', payload)::text) from added`,
        values: [JSON.stringify({ i, at: now() })],
      });
    },
    setLatencyHandler(fn) { onStart = fn; },
    async teardown() {
      stop = true;
      await Promise.all(loops);
      await listener?.end();
      await p?.end();
    },
  };
}
