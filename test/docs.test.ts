import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { connectionOptions, consoleOptions, cronAddOptions, enqueueOptions, jobOptions, jobsOptions, queueSetOptions, retentionOptions, retryOptions, runOptions } from '../src/config.js';
import { SupervisorMetrics } from '../src/metrics/metrics.js';
import { packageRoot } from '../src/paths.js';
import { readme } from './helpers/readme.js';

const ci = readFileSync(join(packageRoot, '.ci', 'run'), 'utf8');

describe('README', () => {
  const all = [connectionOptions, runOptions, retentionOptions, enqueueOptions, jobsOptions, jobOptions, retryOptions, queueSetOptions, cronAddOptions, consoleOptions];
  for (const spec of all.flatMap((specs) => Object.values(specs))) {
    it(`documents --${spec.flag} with ${spec.env}`, () => {
      const row = readme.split('\n').find((line) => line.startsWith(`| \`--${spec.flag}\``) && line.includes(`\`${spec.env}\``));
      assert.ok(row, `a README table row for --${spec.flag} naming ${spec.env}`);
    });
  }

  for (const command of ['run', 'enqueue', 'jobs', 'job', 'retry', 'cancel', 'delete', 'status', 'pause', 'resume', 'queue set', 'queue list', 'cron add', 'cron list', 'cron run', 'cron remove', 'console', 'prune', 'migrate']) {
    it(`has a section for supervisor ${command}`, () => {
      assert.match(readme, new RegExp(`^### \`supervisor ${command}`, 'm'));
    });
  }

  it('documents exactly the metrics the supervisor exports', async () => {
    const metrics = new SupervisorMetrics({
      schema: 'supervisor', threads: 1, capacity: 1,
      source: { inFlight: () => 0, threads: () => 1, leads: () => false, pool: () => undefined },
    });
    const exported = (await metrics.registry.getMetricsAsJSON()).map((m) => m.name).filter((n) => n.startsWith('supervisor_'));
    const documented = [...readme.matchAll(/^\| `(supervisor_\w+)` \|/gm)].map((m) => m[1]);
    assert.deepEqual([...documented].sort(), [...exported].sort());
  });

  it('gives the install and test commands that CI runs', () => {
    assert.match(readme, /^npm ci\b/m);
    assert.match(readme, /^npm test\b/m);
    assert.match(ci, /^npm ci\b/m);
    assert.match(ci, /^npm test$/m);
  });
});
