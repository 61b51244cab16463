// Helpers shared by the systems under test.
import pg from 'pg';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export const now = () => performance.timeOrigin + performance.now();

/** Polls until check() is true, or throws after timeoutMs. */
export async function until(what, check, timeoutMs = 600_000, intervalMs = 2) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** A pg pool for the benchmark's own bookkeeping. */
export function pool(url) {
  const p = new pg.Pool({ connectionString: url, max: 2 });
  p.on('error', () => undefined);
  return p;
}

export async function dropSchema(url, schema) {
  const p = pool(url);
  await p.query(`drop schema if exists "${schema}" cascade`);
  await p.end();
}
