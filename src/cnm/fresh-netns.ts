// A just-made sandbox's namespace handle, kept for the join that usually
// follows: it carries a NETLINK_ROUTE socket made when the namespace was, so
// the join need not enter the namespace again.
import type { Netns } from '../netns';

const KEEP_MS = 2000;

export class FreshNetns {
  private held = new Map<string, { ns: Netns; timer: NodeJS.Timeout }>();

  keep(id: string, ns: Netns): void {
    this.drop(id);
    const timer = setTimeout(() => this.drop(id), KEEP_MS);
    timer.unref();
    this.held.set(id, { ns, timer });
  }

  /** Takes the handle out of the cache (the caller closes it). */
  take(id: string): Netns | undefined {
    const f = this.held.get(id);
    if (!f) return undefined;
    clearTimeout(f.timer);
    this.held.delete(id);
    return f.ns;
  }

  drop(id: string): void {
    this.take(id)?.close();
  }

  dropAll(): void {
    for (const id of [...this.held.keys()]) this.drop(id);
  }
}
