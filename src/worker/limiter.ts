/** Runs at most `limit` async functions at once; the rest wait in order. */
export class Limiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running < this.limit) {
      this.running++;
      return this.holding(fn);
    }
    return new Promise<void>((resolve) => this.waiting.push(resolve)).then(() => this.holding(fn));
  }

  /** Runs `fn` in a slot already taken; then hands the slot to the next waiter, or frees it. */
  private async holding<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
