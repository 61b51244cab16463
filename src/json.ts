/**
 * A \u0000 escape in JSON text (not an escaped backslash followed by
 * u0000): PostgreSQL's jsonb refuses it, so payloads, results and progress
 * holding one are refused before they reach the database.
 */
export const NUL_ESCAPE = /(?<!\\)(?:\\\\)*\\u0000/;
