// The floor: a bare table, rows claimed with FOR UPDATE SKIP LOCKED and
// deleted in batches of 100, from Node with pg (no retries, no history).
import pg from 'pg';

export function create({ url, schema }) {
  let p;
  let completed = 0;
  let stop = false;
  let loops = [];
  return {
    name: 'raw PostgreSQL',
    settings: 'claim + delete 100 rows per statement, 4 loops',
    async setup() {
      p = new pg.Pool({ connectionString: url, max: 6 });
      await p.query(`create schema if not exists "${schema}"`);
      await p.query(`create table "${schema}".jobs (id bigint generated always as identity primary key, task text not null, payload jsonb not null default '{}')`);
    },
    async insert(n) {
      await p.query(`insert into "${schema}".jobs (task) select 'noop' from generate_series(1, $1)`, [n]);
    },
    async start() {
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
    async teardown() {
      stop = true;
      await Promise.all(loops);
      await p?.end();
    },
  };
}
