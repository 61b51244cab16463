/**
 * Retry delays: exponential in the attempt number, capped, with jitter so
 * jobs that failed together (a downstream outage) do not retry together.
 */

/** Delay after the first failed attempt; the seed worker retried after a fixed 5 s. */
export const RETRY_BASE_MS = 5_000;
/** No retry waits longer than this. */
export const RETRY_CAP_MS = 3_600_000;

/**
 * Milliseconds to wait after attempt `attempt` (1-based) failed:
 * `base` × 2^(attempt − 1) (5 s unless a task says otherwise), at most
 * `cap` (one hour), scaled by a random factor in [0.75, 1.25).
 */
export function retryDelayMs(attempt: number, random: () => number = Math.random, base = RETRY_BASE_MS, cap = RETRY_CAP_MS): number {
  const exponential = Math.min(cap, base * 2 ** Math.min(Math.max(0, attempt - 1), 60));
  return Math.round(exponential * (0.75 + random() * 0.5));
}

/** Delays between reconnection attempts to the database: 100 ms doubling up to 5 s. */
export function reconnectDelayMs(failures: number): number {
  return Math.min(5_000, 100 * 2 ** Math.min(failures, 6));
}
