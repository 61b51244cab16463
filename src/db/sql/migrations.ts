/** Statements of the migration runner (the migrations themselves are in `migrations/*.sql`). */
import { statement } from './statement.js';

export function migrationStatements(schema: string) {
  return {
    /** Serialises migrations between processes; released at commit. */
    /**
     * No statement timeout for the transaction: a supervisor migrates on its
     * write connection, which fails statements after 60 s, and a migration
     * of a large table may take longer.
     */
    noTimeout: statement(schema, 'migrate-no-timeout', `select set_config('statement_timeout', '0', true)`),
    lock: statement(schema, 'migrate-lock', `select pg_advisory_xact_lock(hashtextextended('pg-supervisor:migrate:' || $1, 0))`),
    createSchema: statement(schema, 'migrate-create-schema', `create schema if not exists $S`),
    createTable: statement(
      schema,
      'migrate-create-table',
      `create table if not exists $S.schema_migrations (
         version int primary key,
         name text not null,
         applied_at timestamptz not null default now())`,
    ),
    applied: statement(schema, 'migrate-applied', `select version from $S.schema_migrations order by version`),
    /** Later statements of the transaction (the migration files) use unqualified names. */
    useSchema: statement(schema, 'migrate-search-path', `select set_config('search_path', $1, true)`),
    record: statement(schema, 'migrate-record', `insert into $S.schema_migrations (version, name) values ($1, $2)`),
  };
}
