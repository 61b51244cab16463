/**
 * The web console in a real browser (Debian's Chromium, driven by
 * playwright-core), served by a real `supervisor run --console-port` over a
 * real database: jobs appear as they are added, a failed job is opened,
 * retried and succeeds, a queue is paused, a bulk action confirms its
 * count, and an XSS task name renders as text. Screenshots of the main
 * pages go to docs/. Then what keeps it safe: no non-local bind without a
 * token, the token's login, and no cross-site POST.
 */
import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Queue } from '../src/index.js';
import { packageRoot } from '../src/paths.js';
import { fixtures, runCli, SupervisorProcess } from './helpers/cli.js';
import { testDb, waitFor, type TestDb } from './helpers/db.js';
import { freePort } from './helpers/ports.js';

/** Where Debian's package puts Chromium; .ci/run installs it. */
const CHROMIUM = '/usr/bin/chromium';
const XSS = '<img src=x onerror=alert(1)>';

let db: TestDb;
let queue: Queue;
let env: NodeJS.ProcessEnv;
let supervisor: SupervisorProcess;
let browser: Browser;
let page: Page;
let base: string;
const gate = join(tmpdir(), `console-gate-${process.pid}`);
const dialogs: string[] = [];

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
  db = await testDb('console');
  env = { DATABASE_URL: db.url, SUPERVISOR_SCHEMA: db.schema };
  queue = new Queue({ connectionString: db.url, schema: db.schema });
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  supervisor = new SupervisorProcess(
    ['--tasks', join(fixtures, 'tasks.js'), '--metrics-port', '0', '--threads', '1', '--console-port', String(port), '--console-allow-actions'],
    env,
  );
  await supervisor.started();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void (dialog.type() === 'confirm' ? dialog.accept() : dialog.dismiss());
  });
});
after(async () => {
  await browser?.close();
  await supervisor?.stop();
  await queue.close();
  await db.drop();
  rmSync(gate, { force: true });
});

describe('the web console in Chromium', () => {
  it('shows jobs as they are added; a failed job opened, retried, succeeds', async () => {
    await page.goto(`${base}/#/jobs`);
    const failing = await queue.add('failsUntilGate', { gate }, { maxAttempts: 1, queue: 'imports' });
    await page.locator(`tr[data-job="${failing.id}"]`).waitFor();
    await waitFor('the job to fail', async () => (await db.job(failing.id)).job_status === 'failed');
    await page.goto(`${base}/#/jobs?status=failed`);
    await page.locator(`tr[data-job="${failing.id}"] a`).click();
    await page.getByText(`the gate ${gate} is closed (attempt 1)`).first().waitFor();
    writeFileSync(gate, '');
    await page.getByRole('button', { name: 'Retry' }).click();
    await page.locator('.status.success').first().waitFor();
    await page.locator('[data-testid="result"]').getByText('"passed": true').waitFor();
    assert.equal((await db.job(failing.id)).job_status, 'success');
    await page.screenshot({ path: join(packageRoot, 'docs', 'console-job.png'), fullPage: true });
  });

  it('pauses and resumes a queue from the overview; runs a schedule now', async () => {
    await queue.schedule('nightly', '0 3 * * *', 'noop');
    await page.goto(`${base}/#/`);
    const row = page.locator('tr[data-queue="imports"]');
    await row.getByRole('button', { name: 'Pause' }).click();
    await row.locator('.status.paused').waitFor();
    assert.equal((await queue.queues()).find((q) => q.queue === 'imports')?.paused, true);
    await page.screenshot({ path: join(packageRoot, 'docs', 'console-overview.png'), fullPage: true });
    await row.getByRole('button', { name: 'Resume' }).click();
    await row.getByText('active').waitFor();
    await page.locator('[data-testid="schedules"]').getByRole('button', { name: 'Run now' }).click();
    await page.getByText(/added job \d+ of nightly/).waitFor();
  });

  it('renders a task named like an HTML tag as text, and confirms a bulk action with its count', async () => {
    const jobs = await queue.addMany(Array.from({ length: 3 }, () => ({ task: XSS, payload: { note: '<script>alert(2)</script>' }, runAt: new Date(Date.now() + 3_600_000) })));
    await page.goto(`${base}/#/jobs?task=${encodeURIComponent(XSS)}`);
    await page.locator(`tr[data-job="${jobs[0]!.id}"]`).getByText(XSS, { exact: true }).waitFor();
    assert.equal(await page.locator('[data-testid="jobs"] img').count(), 0, 'no img element was made');
    await page.locator(`tr[data-job="${jobs[0]!.id}"] a`).click();
    await page.locator('[data-testid="payload"]').getByText('<script>alert(2)</script>').waitFor();
    assert.equal(await page.locator('main script').count(), 0);
    await page.goto(`${base}/#/jobs`);
    await page.locator(`tr[data-job="${jobs[2]!.id}"]`).waitFor();
    await page.screenshot({ path: join(packageRoot, 'docs', 'console-jobs.png'), fullPage: true });
    await page.goto(`${base}/#/jobs?task=${encodeURIComponent(XSS)}`);
    await page.locator(`tr[data-job="${jobs[0]!.id}"]`).waitFor();
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByText('cancel: 3 jobs').waitFor();
    assert.ok(dialogs.includes('cancel 3 jobs matching this filter?'), `the confirmation said: ${dialogs.join(' | ')}`);
    assert.ok(!dialogs.some((message) => message === '1' || message === '2'), 'no script ran');
    assert.equal(await queue.countJobs({ task: XSS, status: 'cancelled' }), 3);
  });

  it('refuses a bulk action with a misspelt or empty filter, and counts only the jobs an action changes', async () => {
    const post = (path: string, body: unknown) =>
      fetch(`${base}/api/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const before = await queue.countJobs({});
    const typo = await post('jobs/matching/delete', { stauts: 'failed' });
    assert.equal(typo.status, 400);
    assert.match(((await typo.json()) as { error: string }).error, /unknown filter field stauts/);
    const empty = await post('jobs/matching/delete', {});
    assert.equal(empty.status, 400);
    assert.match(((await empty.json()) as { error: string }).error, /to delete every matching job, give a filter/);
    assert.equal(await queue.countJobs({}), before, 'nothing was deleted');
    const counted = async (query: string) => ((await (await fetch(`${base}/api/jobs/count?${query}`)).json()) as { count: number }).count;
    assert.equal(await counted(`task=${encodeURIComponent(XSS)}&for=cancel`), 0, 'they are cancelled already');
    assert.equal(await counted(`task=${encodeURIComponent(XSS)}&for=retry&status=cancelled`), 3);
    assert.equal(await counted(`task=${encodeURIComponent(XSS)}&for=delete`), 3);
  });

  it('rejects a cross-site POST from another origin', async () => {
    const evil = await listen(
      createServer((_req, res) =>
        res.writeHead(200, { 'content-type': 'text/html' }).end(`<form method="post" enctype="text/plain" action="${base}/api/queues/default/pause"><input name='{"a":"' value='"}'></form>
                 <script>document.forms[0].submit()</script>`),
      ),
    );
    try {
      await page.goto(`http://127.0.0.1:${(evil.address() as { port: number }).port}/`);
      await page.waitForURL(`${base}/api/queues/default/pause`);
      assert.match(await page.locator('body').innerText(), /a same-site request cannot change anything/);
      assert.equal((await queue.queues()).find((q) => q.queue === 'default')?.paused ?? false, false, 'the queue was not paused');
    } finally {
      evil.close();
    }
  });
});

describe('console access', () => {
  it('refuses to listen beyond this machine without a token', async () => {
    const result = await runCli(['console', '--host', '0.0.0.0', '--port', String(await freePort())], env);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /the console would listen on 0\.0\.0\.0, reachable from other machines, with no token: set --console-token/);
  });

  it('asks for its token: a bearer header for the API, the login form for a browser', async () => {
    const port = await freePort();
    const consoleProcess = new SupervisorProcess(['console', '--port', String(port), '--console-token', 's3cret'], env);
    try {
      const url = `http://127.0.0.1:${port}`;
      await waitFor('the console listening', () => fetch(`${url}/login`).then(() => true, () => false)).catch((error: Error) => {
        throw new Error(`${error.message}; its output: ${consoleProcess.output}`);
      });
      assert.equal((await fetch(`${url}/api/overview`)).status, 401);
      assert.equal((await fetch(`${url}/api/overview`, { headers: { authorization: 'Bearer s3cret' } })).status, 200);
      const context = await browser.newContext();
      const login = await context.newPage();
      await login.goto(`${url}/`);
      assert.match(login.url(), /\/login$/);
      await login.fill('input[name=token]', 'wrong');
      await login.click('button[type=submit]');
      await login.getByText('wrong token').waitFor();
      await login.fill('input[name=token]', 's3cret');
      await login.click('button[type=submit]');
      await login.getByText('read-only').waitFor();
      await context.close();
    } finally {
      await consoleProcess.stop();
    }
  });
});

function listen(server: Server): Promise<Server> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}
