/** Turns whatever a handler threw into the text kept in `last_error`. */
import { inspect } from 'node:util';

/** Longest `last_error` kept; a runaway message must not bloat the jobs table. */
const MAX_ERROR_LENGTH = 8000;

export function describeError(thrown: unknown): string {
  let text: string;
  if (thrown instanceof Error) {
    const code = (thrown as { code?: unknown }).code;
    const stack = thrown.stack ?? `${thrown.name}: ${thrown.message}`;
    text = code === undefined ? stack : `[${String(code)}] ${stack}`;
  } else {
    text = `non-Error value thrown: ${inspect(thrown, { depth: 3, breakLength: Infinity })}`;
  }
  // PostgreSQL text cannot hold NUL: one in a message would fail the whole
  // batch of outcomes it is written with, again on every retry.
  text = text.replaceAll('\0', '\\0');
  return text.length > MAX_ERROR_LENGTH ? `${text.slice(0, MAX_ERROR_LENGTH)}… (truncated)` : text;
}
