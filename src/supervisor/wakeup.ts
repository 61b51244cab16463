/**
 * Wakes the claimer: LISTEN on the schema's channel so a new job starts
 * within milliseconds, and a poll for scheduled jobs and lost notifications.
 * The same connection listens on this supervisor's own channel, where jobs
 * handed to its offer arrive (see offer.ts), and on the schema's control
 * channel (queue settings, cancelled jobs, schedules). The listening connection is
 * re-opened with backoff when it drops.
 */
import pg from 'pg';
import { DatabaseUnavailableError, describeUrl } from '../db/connect.js';
import { KEEP_ALIVE } from '../db/keep-alive.js';
import type { Statement } from '../db/sql/statement.js';
import type { Logger } from '../log.js';
import { reconnectDelayMs } from './backoff.js';
import type { DatabaseHealth } from './health.js';
import type { Service } from './service.js';

export interface WakeupOptions {
  /** Where to LISTEN; undefined behind a pooler with no --listen-url: then the poll alone wakes the claimer. */
  url: string | undefined;
  /** Give up on a connection attempt after this many ms. */
  connectTimeoutMs: number;
  /** `application_name` of the listening connection. */
  applicationName: string;
  /** The LISTEN statement of the schema's channel. */
  listen: Statement;
  /** The LISTEN statement of this supervisor's own channel, and the channel's name. */
  listenOffers: Statement;
  offerChannel: string;
  /** The LISTEN statement of the control channel, and the channel's name. */
  listenControl: Statement;
  controlChannel: string;
  /** Receives each message of the control channel. */
  control: (message: string) => void;
  /** A statement for {@link Wakeup.sync}. */
  ping: Statement;
  /** Sends 'probe' on the own channel from another connection (see probeListen in db/sql/supervisor.ts). */
  probe: () => Promise<unknown>;
  /** Receives the notification text of each job handed to this supervisor. */
  handedOff: (message: string) => void;
  /** Called when the connection drops: nothing hears the own channel until it is back. */
  lost: () => void;
  pollIntervalMs: number;
  log: Logger;
  health: DatabaseHealth;
  wake: () => void;
}

/** The payload of the probe notification, never a job's hand-off (those are JSON). */
const PROBE = 'probe';
/** How long a new LISTEN connection may take to hear its probe. */
const PROBE_TIMEOUT_MS = 5000;

export class Wakeup implements Service {
  readonly name = 'wake-up';
  private client: pg.Client | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = false;
  /** Whether the connection is lent (see {@link Wakeup.lend}). */
  private lent = false;
  /** Called when the probe of a new connection is heard. */
  private probeHeard: (() => void) | undefined;

  constructor(private readonly options: WakeupOptions) {}

  async start(): Promise<void> {
    if (this.options.url !== undefined) await this.listen();
    this.pollTimer = setInterval(this.options.wake, this.options.pollIntervalMs);
    this.pollTimer.unref();
  }

  /** Whether notifications are heard right now. */
  get listening(): boolean {
    return this.client !== undefined && !this.lent;
  }

  /**
   * Runs `use` on the listening connection, for work that would otherwise
   * need a connection of its own (the leader's VACUUM). While a statement
   * of `use` runs, notifications wait on the server, so the offer is
   * withdrawn until it ends, as when the connection drops: nothing is
   * handed to a supervisor that may not hear it for seconds. The claimer
   * polls meanwhile, and looks once more at the end. Resolves to
   * undefined, without running `use`, when not listening.
   */
  async lend<T>(use: (client: pg.ClientBase) => Promise<T>): Promise<T | undefined> {
    const client = this.client;
    if (client === undefined || this.lent) return undefined;
    this.lent = true;
    this.options.lost();
    try {
      return await use(client);
    } finally {
      this.lent = false;
      this.options.wake();
    }
  }

  /**
   * Resolves once every notification sent before the call has been
   * delivered: the server sends them ahead of the reply to any statement.
   */
  async sync(): Promise<void> {
    await this.client?.query(this.options.ping).catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.pollTimer);
    clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async listen(url: string = this.options.url!): Promise<void> {
    const { applicationName, connectTimeoutMs } = this.options;
    const client = new pg.Client({ connectionString: url, application_name: applicationName, connectionTimeoutMillis: connectTimeoutMs, ...KEEP_ALIVE });
    client.on('notification', ({ channel, payload }) => {
      if (channel === this.options.offerChannel && payload === PROBE) this.probeHeard?.();
      else if (channel === this.options.offerChannel) this.options.handedOff(payload ?? '');
      else if (channel === this.options.controlChannel) this.options.control(payload ?? '');
      else this.options.wake();
    });
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('connection closed')));
    await client.connect();
    await client.query(this.options.listen.text);
    await client.query(this.options.listenOffers.text);
    await client.query(this.options.listenControl.text);
    try {
      await this.hears(url);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    this.client = client;
  }

  /**
   * Resolves once a notification sent from another connection arrives on
   * the new one. A pooler in transaction mode accepts LISTEN and then
   * gives the session to other clients, so nothing would ever be heard:
   * better to refuse at start than to wait for leases to expire.
   */
  private async hears(url: string): Promise<void> {
    const heard = new Promise<void>((resolve) => (this.probeHeard = resolve));
    let timer: NodeJS.Timeout | undefined;
    const silence = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new DatabaseUnavailableError(`LISTEN at ${describeUrl(url)} hears nothing: --listen-url must reach PostgreSQL directly, or through a pooler in session mode (not transaction mode)`)),
        PROBE_TIMEOUT_MS,
      );
    });
    try {
      await this.options.probe();
      await Promise.race([heard, silence]);
    } finally {
      clearTimeout(timer);
      this.probeHeard = undefined;
    }
  }

  private lost(client: pg.Client, error: Error): void {
    if (this.stopped || this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => undefined);
    // A dropped connection is usually the database going away: the health
    // logs that once and starts the heartbeat's probe.
    this.options.health.failed(error, 'LISTEN');
    this.options.log.debug({ err: error }, 'lost the LISTEN connection; reconnecting (the poll keeps jobs flowing)');
    this.options.lost();
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const delay = reconnectDelayMs(this.failures++);
    this.reconnectTimer = setTimeout(() => {
      this.listen().then(
        () => {
          this.failures = 0;
          this.options.log.debug('listening for new jobs again');
          this.options.wake(); // a notification may have been missed while away
        },
        () => {
          if (!this.stopped) this.scheduleReconnect();
        },
      );
    }, delay);
  }
}
