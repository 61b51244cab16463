import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, it } from 'node:test';
import { Queue } from '../src/index.js';
import { packageRoot } from '../src/paths.js';
import { fixtures, SupervisorProcess } from './helpers/cli.js';
import { testDb, waitFor, type TestDb } from './helpers/db.js';
import { freePort } from './helpers/ports.js';

/** The Prometheus server binary (Debian package `prometheus`), if installed. */
function findPrometheus(): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter);
  return [process.env.PROMETHEUS_BIN, ...dirs.map((dir) => join(dir, 'prometheus'))].find((p) => p && existsSync(p));
}

const dashboard = JSON.parse(readFileSync(join(packageRoot, 'grafana', 'dashboards', 'pg-supervisor.json'), 'utf8'));
const expressions: string[] = dashboard.panels.flatMap((panel: { targets: { expr: string }[] }) => panel.targets.map((t) => t.expr));

/** The dashboard's variables as Grafana would fill them with "All". */
function resolve(expr: string): string {
  return expr.replaceAll('$queue', '.*').replaceAll('$task', '.*').replaceAll('$__rate_interval', '30s');
}

const binary = findPrometheus();
let db: TestDb;
let prometheus: ChildProcess | undefined;
const storage = mkdtempSync(join(tmpdir(), 'pg-supervisor-prometheus-'));

before(async () => {
  db = await testDb('dashboard');
});
after(async () => {
  prometheus?.kill('SIGKILL');
  rmSync(storage, { recursive: true, force: true });
  await db.drop();
});

it('every PromQL expression of the Grafana dashboard returns data from a real Prometheus', { skip: !binary && !process.env.CI ? 'the prometheus binary is not installed (apt-get install prometheus); CI installs it' : false }, async () => {
  assert.ok(binary, 'CI must have prometheus installed (.ci/run installs the Debian package)');
  assert.ok(expressions.length >= 14, 'the dashboard has its panels');
  const metricsPort = await freePort();
  const promPort = await freePort();
  const config = join(storage, 'prometheus.yml');
  writeFileSync(config, `global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: pg-supervisor
    static_configs: [{ targets: ['127.0.0.1:${metricsPort}'] }]
`);
  prometheus = spawn(binary, [`--config.file=${config}`, `--storage.tsdb.path=${join(storage, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`], { stdio: 'ignore' });
  const api = async (path: string) => (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/${path}`)).json()) as { status: string; data: any };

  const supervisor = new SupervisorProcess(
    ['--tasks', join(fixtures, 'tasks.js'), '--threads', '2', '--concurrency', '4', '--metrics-port', String(metricsPort), '--metrics-host', '127.0.0.1'],
    { DATABASE_URL: db.url, SUPERVISOR_SCHEMA: db.schema },
  );
  const queue = new Queue({ connectionString: db.url, schema: db.schema });
  try {
    await supervisor.started();
    await waitFor('Prometheus scraping the supervisor', async () => {
      const up = await api('query?query=up').catch(() => undefined);
      return up?.data?.result?.[0]?.value?.[1] === '1';
    });
    // A few seconds of mixed work: successes, retries, failures, some slower jobs.
    for (let round = 0; round < 8; round++) {
      await queue.addMany([
        ...Array.from({ length: 50 }, () => ({ task: 'noop', queue: 'fast' })),
        ...Array.from({ length: 5 }, () => ({ task: 'sleep', payload: { ms: 50 }, queue: 'slow' })),
        { task: 'fail', queue: 'slow', maxAttempts: 1 },
        { task: 'failUntil', payload: { succeedOn: 2 }, queue: 'slow' },
      ]);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    await waitFor('the last jobs scraped', async () => {
      const result = await api(`query?query=${encodeURIComponent('sum(supervisor_jobs_retried_total)')}`);
      return Number(result.data.result[0]?.value[1]) === 8;
    });

    const empty: string[] = [];
    for (const expr of expressions) {
      const result = await api(`query?query=${encodeURIComponent(resolve(expr))}`);
      assert.equal(result.status, 'success', `${expr} is valid PromQL`);
      const finite = result.data.result.some((series: { value: [number, string] }) => Number.isFinite(Number(series.value[1])));
      if (!finite) empty.push(expr);
    }
    assert.deepEqual(empty, [], 'every expression returns data');

    for (const variable of ['queue', 'task']) {
      const values = await api(`label/${variable}/values?match[]=supervisor_jobs_claimed_total`);
      assert.ok(values.data.length > 0, `the $${variable} variable has values`);
    }
  } finally {
    await queue.close();
    await supervisor.stop();
  }
});
