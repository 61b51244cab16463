/**
 * `supervisor run` (the default command): runs a supervisor until SIGTERM or
 * SIGINT. The first signal drains gracefully and exits 0; a second exits at
 * once (lease recovery takes care of what is left).
 */
import { startSupervisor, type SupervisorOptions } from '../supervisor/supervisor.js';

export async function runCommand(argv: Record<string, unknown>): Promise<void> {
  const supervisor = await startSupervisor({
    ...(argv as SupervisorOptions),
    connectionString: argv.databaseUrl as string | undefined,
  });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      const embedded = supervisor.embeddedServer;
      supervisor.log.warn(
        { signal },
        embedded
          ? `second signal: exiting now, leaving the embedded PostgreSQL running at ${embedded.url}; the next supervisor or command run in this project uses it (and stops it when done)`
          : 'second signal: exiting now',
      );
      process.exit(130);
    }
    supervisor.log.info({ signal }, 'signal received: draining');
    supervisor.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        supervisor.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
