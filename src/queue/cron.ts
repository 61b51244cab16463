/**
 * Cron expressions, read by croner (five fields, an optional leading
 * seconds field, and names such as `@hourly`), and the ticks a schedule is
 * due for.
 */
import { Cron } from 'croner';
import { ConfigError } from '../config.js';

/** Most missed ticks a schedule may add when it catches up. */
export const MAX_BACKFILL = 1000;

/**
 * A tick less than this old when the scheduler reaches it was only reached
 * late (a busy machine, a change of leader), not missed: it is added
 * whatever the schedule's backfill.
 */
export const LATE_TICK_MS = 60_000;

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
 * The ticks to add now, oldest first, of those after `lastTick` and not
 * after `now`: every one less than {@link LATE_TICK_MS} old, and of the
 * older (missed) ones at most the `backfill` newest; the rest are skipped.
 */
export function dueTicks(cron: Cron, lastTick: Date, now: Date, backfill: number): Date[] {
  const after = lastTick.getTime();
  const due = new Map<number, Date>();
  for (const tick of cron.previousRuns(backfill, now)) {
    if (tick.getTime() > after && tick.getTime() <= now.getTime()) due.set(tick.getTime(), tick);
  }
  let tick = cron.nextRun(new Date(Math.max(after, now.getTime() - LATE_TICK_MS)));
  while (tick && tick.getTime() <= now.getTime() && due.size < MAX_BACKFILL + backfill) {
    due.set(tick.getTime(), tick);
    tick = cron.nextRun(tick);
  }
  return [...due.values()].sort((a, b) => a.getTime() - b.getTime());
}

/** The first tick after `from`, or null when the expression never fires again. */
export function nextTick(cron: Cron, from: Date): Date | null {
  return cron.nextRun(from);
}
