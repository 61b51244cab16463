/**
 * Cheap per-label bookkeeping for the hot path. A prom-client child's
 * inc() or observe() hashes its labels on every call; under load nearly
 * every job has the same labels as the one before, so these compare with
 * the previous labels first and only then look up a map.
 */
import type { Counter } from 'prom-client';

/** Children of a labelled metric by label values, made once each. */
export class ChildMemo<T> {
  private readonly children = new Map<string, T>();
  private lastA: string | undefined;
  private lastB: string | undefined;
  private lastC: string | undefined;
  private lastChild: T | undefined;

  constructor(private readonly make: (a: string, b: string, c: string) => T) {}

  get(a: string, b: string, c = ''): T {
    if (a === this.lastA && b === this.lastB && c === this.lastC) return this.lastChild!;
    const key = `${a}\0${b}\0${c}`;
    let child = this.children.get(key);
    if (child === undefined) {
      child = this.make(a, b, c);
      this.children.set(key, child);
    }
    this.lastA = a;
    this.lastB = b;
    this.lastC = c;
    this.lastChild = child;
    return child;
  }
}

interface Count {
  queue: string;
  task: string;
  n: number;
}

/**
 * Job counts by queue and task, kept as plain numbers and added to their
 * counter when Prometheus collects it (see {@link Tally.flushInto}).
 */
export class Tally {
  private readonly all: Count[] = [];
  private readonly counts = new ChildMemo<Count>((queue, task) => {
    const count = { queue, task, n: 0 };
    this.all.push(count);
    return count;
  });

  add(queue: string, task: string): void {
    this.counts.get(queue, task).n++;
  }

  /** Adds what was counted since the last flush to `counter` (call it from the counter's collect()). */
  flushInto(counter: Counter<'queue' | 'task'>): void {
    for (const count of this.all) {
      if (count.n > 0) counter.inc({ queue: count.queue, task: count.task }, count.n);
      count.n = 0;
    }
  }
}
