/**
 * Hears the end of awaited jobs for {@link Queue.waitFor}: one LISTEN
 * connection, shared by every waiter of a Queue and taken from its pool
 * only while someone waits. A waiter is woken by its job's notification,
 * and every waiter is woken when the connection is lost (it then looks at
 * its job again, which listens anew), so no end goes unheard.
 */
import type pg from 'pg';
import type { Statement } from '../db/sql/statement.js';

export interface FinishedListenerOptions {
  pool: () => Promise<pg.Pool>;
  channel: string;
  listen: Statement;
  unlisten: Statement;
}

export class FinishedListener {
  private client: Promise<pg.PoolClient> | undefined;
  private readonly wakers = new Map<string, Set<() => void>>();
  private waiting = 0;
  /** Clients we hold, with what removes our handlers from them. */
  private readonly detach = new Map<pg.PoolClient, () => void>();

  constructor(private readonly options: FinishedListenerOptions) {}

  /** Calls `wake` whenever job `id` may have ended, until the returned function is called. */
  subscribe(id: string, wake: () => void): () => void {
    let set = this.wakers.get(id);
    if (!set) this.wakers.set(id, (set = new Set()));
    set.add(wake);
    this.waiting++;
    return () => {
      set.delete(wake);
      if (set.size === 0) this.wakers.delete(id);
      if (--this.waiting === 0) void this.release();
    };
  }

  /** Resolves once the connection listens (connecting it if needed). */
  async ready(): Promise<void> {
    this.client ??= this.connect();
    try {
      await this.client;
    } catch (error) {
      this.client = undefined;
      throw error;
    }
  }

  private async connect(): Promise<pg.PoolClient> {
    const client = await (await this.options.pool()).connect();
    const onNotification = (message: pg.Notification): void => {
      if (message.channel !== this.options.channel) return;
      for (const wake of this.wakers.get(message.payload ?? '') ?? []) wake();
    };
    const onError = (): void => this.lost(client);
    client.on('notification', onNotification);
    client.on('error', onError);
    // The pool hands the same Client object out again: its handlers go with it.
    this.detach.set(client, () => {
      client.off('notification', onNotification);
      client.off('error', onError);
    });
    try {
      await client.query(this.options.listen);
    } catch (error) {
      this.giveBack(client, error as Error);
      throw error;
    }
    return client;
  }

  /** The connection broke: give it back, and wake every waiter to look again. */
  private lost(client: pg.PoolClient): void {
    const current = this.client;
    this.giveBack(client, new Error('listening connection lost'));
    void current?.then((listening) => {
      if (listening !== client) return;
      this.client = undefined;
      for (const set of this.wakers.values()) for (const wake of set) wake();
    }, () => undefined);
  }

  /** Nobody waits: stop listening and give the connection back. */
  private async release(): Promise<void> {
    const pending = this.client;
    this.client = undefined;
    const client = await pending?.catch(() => undefined);
    if (!client || !this.detach.has(client)) return; // lost, and given back already
    try {
      await client.query(this.options.unlisten);
      this.giveBack(client);
    } catch (error) {
      this.giveBack(client, error as Error);
    }
  }

  /** Releases `client` to the pool once, without our handlers (with an error, the pool discards it). */
  private giveBack(client: pg.PoolClient, error?: Error): void {
    const detach = this.detach.get(client);
    if (!detach) return;
    this.detach.delete(client);
    detach();
    // A broken connection may report again; the pool discards it, so this handler goes with it.
    if (error) client.on('error', () => undefined);
    client.release(error);
  }
}

/** A wake-up that can be waited for again and again: {@link fire} wakes the current or the next {@link wait}. */
export class Wakeup {
  private fired = false;
  private resolve: ((woken: boolean) => void) | undefined;

  fire = (): void => {
    if (this.resolve) this.resolve(true);
    else this.fired = true;
  };

  /** True when fired (since the last wait), false after `ms` with no fire. */
  wait(ms: number): Promise<boolean> {
    if (this.fired) {
      this.fired = false;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(() => done(false), Math.max(0, ms)) : undefined;
      const done = (woken: boolean): void => {
        clearTimeout(timer);
        this.resolve = undefined;
        resolve(woken);
      };
      this.resolve = done;
    });
  }
}
