/**
 * The one contract of every background service of a supervisor (heartbeat,
 * leadership, wake-up, recovery, retention, timeout watchdog, metrics
 * endpoint, the job flow): `start` brings it up, `stop` brings it down and
 * waits for any work it has in progress. {@link Services} starts them in a
 * list and stops them in reverse, so a service may rely on every service
 * started before it for as long as it runs.
 */
import type { Logger } from '../log.js';

export interface Service {
  /** What the service does, for logs. */
  readonly name: string;
  /** Starts the service; a rejection stops the supervisor's start. */
  start(): void | Promise<void>;
  /** Stops it and waits for work in progress. Called once, and only after `start` resolved. */
  stop(): void | Promise<void>;
}

/** Services started so far, to be stopped in reverse order. */
export class Services {
  private readonly started: Service[] = [];

  constructor(private readonly log: Logger) {}

  /** Starts each service in turn; stops at the first that fails (the caller then calls {@link stop}). */
  async start(...services: Service[]): Promise<void> {
    for (const service of services) {
      await service.start();
      this.started.push(service);
      this.log.debug({ service: service.name }, `${service.name} started`);
    }
  }

  /** Stops every started service, the last started first. A service that fails to stop is logged, and the rest still stop. */
  async stop(): Promise<void> {
    for (let service = this.started.pop(); service; service = this.started.pop()) {
      try {
        await service.stop();
      } catch (error) {
        this.log.warn({ err: error, service: service.name }, `${service.name} did not stop cleanly`);
      }
    }
  }
}
