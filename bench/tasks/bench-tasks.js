// Task module of the pg-supervisor benchmark (runs in worker threads).
import { threadId } from 'node:worker_threads';

/** Reports handler start times to the benchmark's main thread. */
const channel = new BroadcastChannel('pg-supervisor-bench');
channel.unref();

export async function noop() {}

/** Posts when it started, for enqueue → start latency. */
export async function latency(payload) {
  channel.postMessage({ i: payload.i, startedAt: performance.timeOrigin + performance.now(), threadId });
}

/** Busy for payload.ms milliseconds without yielding. */
export function cpu(payload) {
  const until = performance.now() + (payload.ms ?? 5);
  while (performance.now() < until);
}

/** Always fails: retried, then failed for good (the soak's failed rows). */
export async function fail() {
  throw new Error('failed on purpose');
}
