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
 * 5 s × 2^(attempt − 1), at most one hour, scaled by a random factor in [0.75, 1.25).
 */
export function retryDelayMs(attempt: number, random: () => number = Math.random): number {
  const exponential = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(exponential * (0.75 + random() * 0.5));
}

/** Delays between reconnection attempts to the database: 100 ms doubling up to 5 s. */
export function reconnectDelayMs(failures: number): number {
  return Math.min(5_000, 100 * 2 ** Math.min(failures, 6));
}
