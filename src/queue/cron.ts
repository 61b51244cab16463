/**
 * Cron expressions, read by croner (five fields, an optional leading
 * seconds field, and names such as `@hourly`), and the ticks a schedule is
 * due for.
 */
import { Cron } from 'croner';
import { ConfigError } from '../config.js';

/** Most missed ticks a schedule may add when it catches up. */
export const MAX_BACKFILL = 1000;

/** A parsed expression in its time zone (UTC when none). */
export function cronOf(expression: string, timezone?: string | null): Cron {
  if (timezone && !isTimeZone(timezone)) {
    throw new ConfigError(`unknown time zone '${timezone}': give an IANA name such as Europe/Paris or America/New_York (or none for UTC)`);
  }
  try {
    return new Cron(expression, { paused: true, timezone: timezone ?? 'UTC', mode: '5-or-6-parts' });
  } catch (error) {
    const message = (error as Error).message.replace(/^Cron\w*: /, '').replace(/\.+$/, '');
    const reason = /parts/.test(message) ? `it has ${expression.trim().split(/\s+/).length} fields` : message;
    throw new ConfigError(
      `cron expression '${expression}' is not valid: ${reason}. ` +
        "Use five fields (minute hour day-of-month month day-of-week, such as '*/5 * * * *'), six with seconds first, or @hourly, @daily, @weekly, @monthly, @yearly",
    );
  }
}

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/**
 * The ticks to add now, oldest first: those after `lastTick` and not after
 * `now`, at most the `backfill` newest of them (older missed ticks are
 * skipped).
 */
export function dueTicks(cron: Cron, lastTick: Date, now: Date, backfill: number): Date[] {
  return cron
    .previousRuns(backfill, now)
    .filter((tick) => tick.getTime() > lastTick.getTime() && tick.getTime() <= now.getTime())
    .reverse();
}

/** The first tick after `from`, or null when the expression never fires again. */
export function nextTick(cron: Cron, from: Date): Date | null {
  return cron.nextRun(from);
}
