/**
 * Every SQL statement pg-supervisor runs lives in this folder, each with a
 * name. The name doubles as the prepared-statement name, so it includes the
 * schema: one connection may serve several schemas (the tests do).
 */
export interface Statement {
  name: string;
  text: string;
  /**
   * A planner setting the statement needs, as SET LOCAL takes it. A
   * supervisor's write connection has it for the session (see
   * Database.writePool); behind a pooler, the statement runs in a
   * transaction that sets it (see db/pooler-client.ts).
   */
  local?: string;
}

/** Builds a named statement for `schema`, with `$S` in the text standing for the quoted schema. */
export function statement(schema: string, name: string, text: string): Statement {
  return { name: `${schema}.${name}`, text: text.replaceAll('$S', `"${schema}"`).replace(/\s+/g, ' ').trim() };
}

/**
 * A statement that joins a batch of job ids with the jobs table: nested
 * loops off, for the planner cannot know a batch's size (see
 * Database.writePool).
 */
export function joinsBatch(statement: Statement): Statement {
  return { ...statement, local: 'enable_nestloop = off' };
}

/**
 * The schema's control channel (migrations/007_flow_control.sql): queue
 * settings changed, a job with a concurrency key added, jobs cancelled,
 * schedules changed.
 */
export function controlChannel(schema: string): string {
  return `${schema}_control`;
}

/** Where the end of a job someone waits for is told (migrations/010_waiting_progress_tracing.sql); the payload is its id. */
export function finishedChannel(schema: string): string {
  return `${schema}_finished`;
}
