// Serializes operations on one object (a network, a sandbox's namespace).

export class KeyedLock {
  private tails = new Map<string, Promise<void>>();

  /** Runs `fn` after every earlier holder of `key` has finished. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

/**
 * Operations run side by side; an exclusive task (a reconcile of a running
 * controller) runs alone: it waits for those in flight, and those asked for
 * meanwhile wait for it. (A reconcile beside a creation would take its
 * half-made objects for a crash's leftovers.) Only the public entry points
 * pass through it: nested calls would wait for an exclusive task that waits
 * for them.
 */
export class OpGate {
  private active = 0;
  private drained: (() => void)[] = [];
  private closed: Promise<void> | undefined;
  private shut: (() => Error) | undefined;

  run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.shut) return Promise.reject(this.shut());
    if (this.closed) return this.closed.then(() => this.run(fn));
    return this.enter(fn);
  }

  /** From now on every operation and exclusive task fails with `err()` (the controller closed). */
  shutDown(err: () => Error): void { this.shut = err; }

  private async enter<T>(fn: () => Promise<T>): Promise<T> {
    this.active++;
    try {
      return await fn();
    } finally {
      if (--this.active === 0) for (const r of this.drained.splice(0)) r();
    }
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.closed) await this.closed;
    if (this.shut) throw this.shut();
    let open!: () => void;
    this.closed = new Promise<void>((r) => (open = r));
    try {
      while (this.active) await new Promise<void>((r) => this.drained.push(r));
      return await fn();
    } finally {
      this.closed = undefined;
      open();
    }
  }
}
