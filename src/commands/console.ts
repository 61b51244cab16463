/**
 * `supervisor console`: serves the web console until SIGTERM or SIGINT,
 * on the same database as every other command (the embedded one without a
 * URL).
 */
import { consoleOptions, resolveOptions } from '../config.js';
import { ConsoleApi } from '../console/api.js';
import { ConsoleServer } from '../console/server.js';
import { withQueue } from './context.js';

export async function consoleCommand(argv: Record<string, unknown>): Promise<void> {
  const { host, port, consoleToken: token, consoleAllowActions: allowActions } = resolveOptions(consoleOptions, argv);
  await withQueue(argv, async ({ db, queue, log }) => {
    const server = new ConsoleServer({ host, port, token, allowActions, api: new ConsoleApi(queue, db.pool, allowActions, log), log });
    await server.start();
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    await server.stop();
  });
}
