/** What a handler returned, checked and turned into the outcome the supervisor stores. */
import { NUL_ESCAPE } from '../json.js';
import { describeError } from './errors.js';
import type { Outcome } from './protocol.js';

/** Largest result a job may return, as JSON text: it is stored in the job's row. */
export const MAX_RESULT_BYTES = 65_536;

/** A handler's return value as an outcome: its JSON text, or an error saying why it cannot be stored. */
export function resultOutcome(value: unknown): Outcome {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    return { error: `the handler's return value cannot be stored: it is not JSON-serialisable (${describeError(error)})` };
  }
  if (text === undefined) return null; // a function or a symbol: nothing to store
  if (NUL_ESCAPE.test(text)) return { error: "the handler's return value holds a NUL character (\\u0000), which PostgreSQL's jsonb cannot hold" };
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_RESULT_BYTES) {
    return { error: `the handler's return value is ${bytes} bytes as JSON; the limit is ${MAX_RESULT_BYTES}: store large results elsewhere and return a reference` };
  }
  return { result: text };
}
