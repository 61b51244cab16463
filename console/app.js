// The pg-supervisor web console: Preact components written with htm (no
// JSX step), bundled into dist/console/app.js by scripts/build-console.mjs.
// Everything it shows comes from the JSON API (/api/...), and every text is
// rendered as text: Preact escapes it, and nothing here sets HTML.
import { h, render } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import htm from 'htm';

const html = htm.bind(h);
const STATUSES = ['pending', 'running', 'success', 'failed', 'cancelled'];
const REFRESH_MS = 2000;

/** GET or POST the API; rejects with the server's error message. */
async function api(path, body) {
  const response = await fetch(`/api/${path}`, body === undefined
    ? { headers: { accept: 'application/json' } }
    : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error ?? `${response.status} ${response.statusText}`);
  return data;
}

/** The current route from the hash: ['jobs', '42'] and its query. */
function useRoute() {
  const read = () => {
    const [path, query = ''] = location.hash.replace(/^#\/?/, '').split('?');
    return { parts: path.split('/').filter(Boolean), query: new URLSearchParams(query) };
  };
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const changed = () => setRoute(read());
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return route;
}

/** Loads `load()` now and every REFRESH_MS while `live`; returns [data, error, reload]. */
function usePolled(load, keys, live = true) {
  const [state, setState] = useState({ data: undefined, error: undefined });
  const reload = useCallback(() => load().then((data) => setState({ data, error: undefined }), (error) => setState((s) => ({ ...s, error }))), keys);
  useEffect(() => {
    reload();
    if (!live) return undefined;
    const timer = setInterval(reload, REFRESH_MS);
    return () => clearInterval(timer);
  }, [reload, live]);
  return [state.data, state.error, reload];
}

/** A time in the browser's time zone, with the zone's name. */
const TIME = { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short' };
const time = (value) => (value ? new Date(value).toLocaleString(undefined, TIME) : '–');
const firstLine = (text) => (text ?? '').split('\n', 1)[0];
const Status = ({ status }) => html`<span class=${`status ${status}`}>${status}</span>`;

function Notice({ notice }) {
  if (!notice) return null;
  return html`<p class=${`notice ${notice.error ? 'error' : ''}`} role="status">${notice.text}</p>`;
}

/** Runs an action, shows what came of it, then reloads. */
function useAction(reload) {
  const [notice, setNotice] = useState();
  const run = async (what, action) => {
    try {
      const result = await action();
      setNotice({ text: typeof result === 'string' ? result : `${what}: done` });
    } catch (error) {
      setNotice({ text: `${what}: ${error.message}`, error: true });
    }
    reload?.();
  };
  return [notice, run];
}

function Overview({ overview, reload }) {
  const [notice, run] = useAction(reload);
  const actions = overview.allowActions;
  return html`
    <${Notice} notice=${notice} />
    <h2>Queues</h2>
    <table data-testid="queues">
      <thead><tr><th>Queue</th><th>State</th><th>Limits</th><th class="num">Pending</th><th class="num">Running</th><th class="num">Failed</th>
        <th class="num">Succeeded, last ${overview.recentSeconds / 60} min</th><th class="num">Failed, last ${overview.recentSeconds / 60} min</th>${actions && html`<th></th>`}</tr></thead>
      <tbody>${overview.queues.map((q) => html`
        <tr key=${q.queue} data-queue=${q.queue}>
          <td><a href=${`#/jobs?queue=${encodeURIComponent(q.queue)}`}>${q.queue}</a></td>
          <td>${q.paused ? html`<${Status} status="paused" />` : 'active'}</td>
          <td>${[q.concurrency !== null && `${q.concurrency} at once`, q.rate && `${q.rate.limit} per ${q.rate.periodMs / 1000} s`].filter(Boolean).join(', ') || '–'}</td>
          <td class="num">${q.pending}</td><td class="num">${q.running}</td>
          <td class="num">${q.failed ? html`<a href=${`#/jobs?status=failed&queue=${encodeURIComponent(q.queue)}`}>${q.failed}</a>` : 0}</td>
          <td class="num">${q.succeededRecently}</td><td class="num">${q.failedRecently}</td>
          ${actions && html`<td><button onClick=${() => run(`${q.paused ? 'resume' : 'pause'} ${q.queue}`, () => api(`queues/${encodeURIComponent(q.queue)}/${q.paused ? 'resume' : 'pause'}`, {}).then(() => `queue ${q.queue} ${q.paused ? 'resumed' : 'paused'}`))}>${q.paused ? 'Resume' : 'Pause'}</button></td>`}
        </tr>`)}
      </tbody>
    </table>
    ${overview.queues.length === 0 && html`<p class="muted">No queue has jobs or settings yet.</p>`}
    <h2>Supervisors</h2>
    <table data-testid="supervisors">
      <thead><tr><th>Supervisor</th><th>Host</th><th class="num">Threads × concurrency</th><th>Tasks</th><th>Queues</th><th>Heartbeat</th><th>Leader</th></tr></thead>
      <tbody>${overview.supervisors.map((s) => html`
        <tr key=${s.supervisor_id}><td>${s.supervisor_id}</td><td>${s.host} (pid ${s.pid})</td><td class="num">${s.threads} × ${s.concurrency}</td>
          <td>${s.tasks.join(', ')}</td><td>${s.queues.length ? s.queues.join(', ') : 'every queue'}</td>
          <td>${Math.round(s.heartbeat_age_s)} s ago</td><td>${s.leads ? 'yes' : ''}</td></tr>`)}
      </tbody>
    </table>
    ${overview.supervisors.length === 0 && html`<p class="muted">No supervisor is running.</p>`}
    <h2>Schedules</h2>
    <table data-testid="schedules">
      <thead><tr><th>Name</th><th>Expression</th><th>Task</th><th>Queue</th><th>Next run</th>${actions && html`<th></th>`}</tr></thead>
      <tbody>${overview.schedules.map((s) => html`
        <tr key=${s.name}><td>${s.name}</td><td><code>${s.expression}</code> ${s.timezone ?? 'UTC'}</td><td>${s.task}</td><td>${s.queue ?? '(task’s)'}</td>
          <td>${s.nextRun ? time(s.nextRun) : 'never'}</td>
          ${actions && html`<td><button onClick=${() => run(`run ${s.name}`, () => api(`schedules/${encodeURIComponent(s.name)}/run`, {}).then((job) => `added job ${job.id} of ${s.name}`))}>Run now</button></td>`}</tr>`)}
      </tbody>
    </table>
    ${overview.schedules.length === 0 && html`<p class="muted">No schedules.</p>`}`;
}

function filterOf(query) {
  const filter = {};
  for (const key of ['status', 'queue', 'task', 'search']) if (query.get(key)) filter[key] = query.get(key);
  return filter;
}

function Filters({ filter }) {
  const submit = (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const query = new URLSearchParams([...form].filter(([, value]) => value !== ''));
    location.hash = `#/jobs?${query}`;
  };
  return html`
    <form class="filters" onSubmit=${submit}>
      <label>Status <select name="status" value=${filter.status ?? ''}><option value="">any</option>${STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}</select></label>
      <label>Queue <input name="queue" value=${filter.queue ?? ''} /></label>
      <label>Task <input name="task" value=${filter.task ?? ''} /></label>
      <label>Text in payload or error <input name="search" value=${filter.search ?? ''} /></label>
      <button type="submit">Filter</button>
    </form>`;
}

function Jobs({ query, allowActions }) {
  const filter = filterOf(query);
  const before = query.get('before');
  const key = JSON.stringify([filter, before]);
  const params = new URLSearchParams({ ...filter, ...(before ? { before } : {}) });
  const [page, error, reload] = usePolled(() => api(`jobs?${params}`), [key], !before);
  const [notice, run] = useAction(reload);
  const described = Object.entries(filter).map(([key, value]) => `${key} ${value}`).join(', ') || 'no filter';
  const bulk = (action) => run(`${action} matching`, async () => {
    if (action !== 'retry' && Object.keys(filter).length === 0) return `${action}: choose a filter first (status, queue, task or text), then press Filter`;
    const { count, capped } = await api(`jobs/count?${new URLSearchParams({ ...filter, for: action })}`);
    if (count === 0) return `${action}: no job matching ${described} can be ${{ retry: 'retried', cancel: 'cancelled', delete: 'deleted' }[action]}`;
    if (!confirm(`${action} ${capped ? 'at least ' : ''}${count} job${count === 1 ? '' : 's'} matching this filter?`)) return `${action}: nothing done`;
    const done = await api('jobs/matching/' + action, filter);
    return `${action}: ${done.count} job${done.count === 1 ? '' : 's'}`;
  });
  const nextPage = page?.next ? `#/jobs?${new URLSearchParams({ ...filter, before: page.next })}` : null;
  return html`
    <h2>Jobs</h2>
    <${Filters} filter=${filter} />
    <${Notice} notice=${notice} />
    ${error && html`<p class="notice error">${error.message}</p>`}
    ${allowActions && html`<div class="actions"><span class="muted">Every job matching the filter applied (${described}):</span>
      <button onClick=${() => bulk('retry')}>Retry</button><button onClick=${() => bulk('cancel')}>Cancel</button><button class="danger" onClick=${() => bulk('delete')}>Delete</button></div>`}
    <table data-testid="jobs">
      <thead><tr><th class="num">Id</th><th>Task</th><th>Queue</th><th>Status</th><th class="num">Attempts</th><th>Run at</th><th>Finished</th><th>Last error</th></tr></thead>
      <tbody>${(page?.jobs ?? []).map((job) => html`
        <tr key=${job.job_id} data-job=${job.job_id}>
          <td class="num"><a href=${`#/jobs/${job.job_id}`}>${job.job_id}</a></td><td>${job.task}</td><td>${job.queue}</td><td><${Status} status=${job.job_status} /></td>
          <td class="num">${job.attempts}/${job.max_attempts}</td><td>${time(job.run_at)}</td><td>${time(job.finished_at)}</td><td class="error">${job.job_status === 'success' ? '' : firstLine(job.last_error)}</td>
        </tr>`)}
      </tbody>
    </table>
    ${page && page.jobs.length === 0 && html`<p class="muted">No jobs match.</p>`}
    <div class="actions">
      ${before && html`<a href=${`#/jobs?${new URLSearchParams(filter)}`}>← Newest</a>`}
      ${nextPage && html`<a href=${nextPage}>Older →</a>`}
    </div>`;
}

function Job({ id, allowActions }) {
  const [job, error, reload] = usePolled(() => api(`jobs/${id}`), [id]);
  const [notice, run] = useAction(reload);
  if (error) return html`<p class="notice error">${error.message}</p>`;
  if (!job) return html`<p class="loading">Loading…</p>`;
  const act = (action) => run(action, () => api(`jobs/${id}/${action}`, {}).then((r) => (r.count ? `${action}: done` : `${action}: not applicable to a ${job.job_status} job`)));
  const errors = job.errors ?? (job.last_error ? [{ attempt: job.attempts, at: job.updated_at, error: job.last_error }] : []);
  return html`
    <h2>Job ${job.job_id} <${Status} status=${job.job_status} /></h2>
    <${Notice} notice=${notice} />
    ${allowActions && html`<div class="actions">
      <button onClick=${() => act('retry')} disabled=${!['failed', 'cancelled'].includes(job.job_status)}>Retry</button>
      <button onClick=${() => act('cancel')} disabled=${!['pending', 'running'].includes(job.job_status)}>Cancel</button>
      <button class="danger" onClick=${() => confirm(`delete job ${job.job_id}?`) && act('delete')} disabled=${job.job_status === 'running'}>Delete</button></div>`}
    <dl class="fields">
      <dt>Task</dt><dd>${job.task}</dd><dt>Queue</dt><dd>${job.queue}</dd>
      <dt>Attempts</dt><dd>${job.attempts} of ${job.max_attempts}</dd><dt>Priority</dt><dd>${job.priority}</dd>
      <dt>Created</dt><dd>${time(job.created_at)}</dd><dt>Run at</dt><dd>${time(job.run_at)}</dd>
      <dt>Started</dt><dd>${time(job.started_at)}</dd><dt>Finished</dt><dd>${time(job.finished_at)}</dd>
      <dt>Held by</dt><dd>${job.locked_by ? `${job.locked_by}, lease until ${time(job.locked_until)}` : '–'}</dd>
      <dt>Job key</dt><dd>${job.job_key ?? '–'}</dd>
      ${job.concurrency_key !== null && html`<dt>Concurrency key</dt><dd>${job.concurrency_key} (at most ${job.concurrency_limit ?? 1} at once)</dd>`}
      <dt>Progress</dt><dd>${job.progress === null ? '–' : JSON.stringify(job.progress)}</dd>
    </dl>
    <h2>Payload</h2><pre data-testid="payload">${JSON.stringify(JSON.parse(job.job_data), null, 2)}</pre>
    ${job.result !== null && html`<h2>Result</h2><pre data-testid="result">${JSON.stringify(job.result, null, 2)}</pre>`}
    ${errors.length > 0 && html`<h2>Errors</h2>${errors.slice().reverse().map((e) => html`
      <h3 class="muted">Attempt ${e.attempt}, ${time(e.at)}${e.by ? `, on ${e.by}` : ''}</h3><pre class="error-stack">${e.error}</pre>`)}`}`;
}

function App() {
  const { parts, query } = useRoute();
  const [overview, error, reload] = usePolled(() => api('overview'), []);
  const page = parts[0] === 'jobs' ? (parts[1] ? 'job' : 'jobs') : 'overview';
  const allowActions = overview?.allowActions ?? false;
  return html`
    <header><h1>pg-supervisor</h1>
      <nav><a href="#/" class=${page === 'overview' ? 'active' : ''}>Overview</a><a href="#/jobs" class=${page !== 'overview' ? 'active' : ''}>Jobs</a></nav>
      <span class="mode">${overview ? (allowActions ? 'actions allowed' : 'read-only') : ''}</span></header>
    <main>
      ${error && html`<p class="notice error">${error.message}</p>`}
      ${page === 'overview' && (overview ? html`<${Overview} overview=${overview} reload=${reload} />` : html`<p class="loading">Loading…</p>`)}
      ${page === 'jobs' && html`<${Jobs} key=${query.toString()} query=${query} allowActions=${allowActions} />`}
      ${page === 'job' && html`<${Job} id=${parts[1]} allowActions=${allowActions} />`}
    </main>`;
}

const root = document.getElementById('app');
root.textContent = ''; // the static "Loading…" of index.html
render(html`<${App} />`, root);
