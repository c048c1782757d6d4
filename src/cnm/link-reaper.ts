// Batched link removal. Every RTM_DELLINK unregisters its devices with
// `unregister_netdevice_many`, which waits for RCU grace periods: 1,000
// links deleted one request each wait 1,000 times (~37 s here), deleted by
// group (`ip link delete group N`) they wait once (~0.45 s). The reaper turns
// removals asked for together into one group deletion: each link is moved to
// a fresh batch group (`ip link set X group G`, cheap: no grace period), then
// `ip link delete group G` removes them all at once.
import { CnmError, ValidationError } from '../errors';
import type { Link, LinkApi, LinkRef } from '../rtnl/link';
import { validateIfname } from '../util/ip';

/**
 * Link groups the reaper uses for its batches (0x0c170000-0x0c17ffff, next to
 * the CNM's own 0xc17). A link found in one of them is on its way out: a
 * reaper moved it there and was stopped before the group deletion.
 */
export const REAPER_GROUP_FIRST = 0x0c170000;
export const REAPER_GROUP_COUNT = 0x10000;

/** Whether `group` is one of the reaper's batch groups (reconcile: such a link is a leftover to remove). */
export function isReaperGroup(group: number, range: { first: number; count: number } = { first: REAPER_GROUP_FIRST, count: REAPER_GROUP_COUNT }): boolean {
  return Number.isInteger(group) && group >= range.first && group < range.first + range.count;
}

export interface LinkReaperOptions {
  /**
   * Batch groups to use (default the reserved 0x0c170000 + 0..0xffff). Groups
   * some link is in when the reaper first looks are never used.
   */
  groups?: { first: number; count: number };
  /**
   * A recent listing of the namespace's links (e.g. the one reconcile just
   * made): the first batch then need not list them again to learn which
   * batch groups are taken (a dump of 2,000 links costs ~0.15 s here).
   */
  links?: Pick<Link, 'group'>[];
}

/** What became of one link of `removeMany`. */
export interface LinkRemoval {
  link: LinkRef;
  /** 'removed': deleted now; 'absent': already gone (ENODEV); 'failed': see `error`. */
  status: 'removed' | 'absent' | 'failed';
  error?: Error;
}

export interface LinkReaperStats {
  /** Removals sent as their own RTM_DELLINK (nothing else was pending). */
  single: number;
  /** Group deletions sent, and the links moved into them. */
  batches: number;
  batched: number;
  /** Batches whose group deletion failed, so that each link was deleted alone. */
  fallbacks: number;
}

interface Pending {
  ref: LinkRef;
  resolve: (s: 'removed' | 'absent') => void;
  reject: (e: Error) => void;
}

function checkRef(link: unknown, what = 'link'): LinkRef {
  if (typeof link === 'string') return validateIfname(link, `${what} name`);
  if (typeof link === 'number') {
    if (!Number.isInteger(link) || link <= 0 || link > 0x7fffffff) throw new ValidationError(`invalid ifindex: ${link}`);
    return link;
  }
  if (link && typeof link === 'object' && typeof (link as any).index === 'number') {
    checkRef((link as any).index, what);
    return link as LinkRef;
  }
  throw new CnmError(`${what} must be a name, an ifindex or a Link, got ${link === null ? 'null' : typeof link}`, 'ERR_INVALID_ARG_TYPE');
}

/**
 * Removes links, batching those asked for together: removals requested in
 * the same tick, or while a batch is in the kernel, go in one group deletion
 * (one `unregister_netdevice_many`, one grace period). A removal with nothing
 * else pending is one plain RTM_DELLINK, like `ip link delete X`. Each
 * caller's promise settles when its own link is gone (or could not go).
 */
export class LinkReaper {
  private readonly links: LinkApi;
  private readonly first: number;
  private readonly count: number;
  private taken?: Set<number>;
  private cursor: number;
  private sinceScan = 0;
  private pending: Pending[] = [];
  private scheduled = false;
  private running?: Promise<void>;
  private readonly counters: LinkReaperStats = { single: 0, batches: 0, batched: 0, fallbacks: 0 };

  /** `rt`: an Rtnl (or its `link` API) in the namespace whose links this removes. */
  constructor(rt: { link: LinkApi }, opts: LinkReaperOptions = {}) {
    if (!rt || typeof rt !== 'object' || !rt.link || typeof rt.link.deleteGroup !== 'function') {
      throw new CnmError('LinkReaper needs an Rtnl handle', 'ERR_INVALID_ARG_TYPE');
    }
    this.links = rt.link;
    const g = opts.groups ?? { first: REAPER_GROUP_FIRST, count: REAPER_GROUP_COUNT };
    if (!g || typeof g !== 'object' || typeof g.first !== 'number' || typeof g.count !== 'number') {
      throw new CnmError('groups must be { first, count }', 'ERR_INVALID_ARG_TYPE');
    }
    // Group 0 is the default group (the kernel refuses to delete it).
    if (!Number.isInteger(g.first) || !Number.isInteger(g.count) || g.first < 1 || g.count < 1 || g.first + g.count - 1 > 0xffffffff) {
      throw new ValidationError(`invalid reaper group range: ${g.first} + ${g.count}`);
    }
    this.first = g.first;
    this.count = g.count;
    if (opts.links !== undefined) {
      if (!Array.isArray(opts.links)) throw new CnmError('links must be an array of links', 'ERR_INVALID_ARG_TYPE');
      this.taken = this.takenIn(opts.links);
    }
    // Two reapers on one namespace would only share a group by chance; even
    // then each link in it is one somebody wanted removed.
    this.cursor = Math.floor(Math.random() * this.count);
  }

  /**
   * Removes one link, like `ip link delete X` (a veth goes with its peer).
   * Resolves once the link is gone, also when it was gone already (ENODEV);
   * rejects with the kernel's error for this link only (e.g. EOPNOTSUPP for
   * a device that cannot be deleted, such as lo).
   */
  remove(link: LinkRef): Promise<void> {
    let ref: LinkRef;
    try { ref = checkRef(link); } catch (e) { return Promise.reject(e); }
    return new Promise<'removed' | 'absent'>((resolve, reject) => this.enqueue({ ref, resolve, reject })).then(() => undefined);
  }

  /**
   * Removes many links in one batch, as reconcile does with what a crash
   * left behind. All refs are checked before anything is sent; then it
   * resolves with each link's outcome (it does not reject for one link).
   */
  async removeMany(links: LinkRef[]): Promise<LinkRemoval[]> {
    if (!Array.isArray(links)) throw new CnmError('links must be an array', 'ERR_INVALID_ARG_TYPE');
    const refs = links.map((l, i) => checkRef(l, `link ${i}`));
    return Promise.all(refs.map((ref) => new Promise<LinkRemoval>((done) => this.enqueue({
      ref,
      resolve: (status) => done({ link: ref, status }),
      reject: (error) => done({ link: ref, status: 'failed', error }),
    }))));
  }

  /** Resolves when no removal is pending or in flight (for a clean close). */
  async idle(): Promise<void> {
    while (this.running || this.scheduled || this.pending.length) {
      if (this.running) await this.running;
      else await new Promise((r) => setImmediate(r));
    }
  }

  get stats(): LinkReaperStats { return { ...this.counters }; }

  /**
   * The batch groups in use, from a listing the caller just made (as the
   * constructor's `links`): the first batch then needs no dump of every
   * link (0.15 s at 2,000 links, in front of a Docker-order teardown).
   */
  learn(links: Pick<Link, 'group'>[]): void {
    if (!Array.isArray(links)) throw new CnmError('links must be an array of links', 'ERR_INVALID_ARG_TYPE');
    this.taken = this.takenIn(links);
    this.sinceScan = 0;
  }

  private enqueue(p: Pending): void {
    this.pending.push(p);
    this.kick();
  }

  // The first removal waits one turn of the loop, so that everything asked
  // for in this tick (and in I/O callbacks of the same turn) joins it. While
  // a batch is in the kernel, new removals wait for the next one.
  private kick(): void {
    if (this.scheduled || this.running) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.running = this.drain().finally(() => {
        this.running = undefined;
        if (this.pending.length) this.kick();
      });
    });
  }

  private async drain(): Promise<void> {
    while (this.pending.length) {
      await this.reap(this.pending.splice(0));
      // Callers woken by this batch may ask for more in their next steps.
      if (!this.pending.length) await new Promise((r) => setImmediate(r));
    }
  }

  private async reap(batch: Pending[]): Promise<void> {
    if (batch.length === 1) {
      this.counters.single++;
      await this.deleteOne(batch[0]);
      return;
    }
    let group: number;
    try {
      group = await this.nextGroup();
    } catch {
      // No batch group (listing failed or none is free): each alone still works.
      await Promise.all(batch.map((p) => this.deleteOne(p)));
      return;
    }
    // The moves go out together on one socket (no lookups: a name or index each).
    const moves = await Promise.allSettled(batch.map((p) => this.links.set(p.ref, { group })));
    const moved: Pending[] = [];
    moves.forEach((m, i) => {
      const p = batch[i];
      if (m.status === 'fulfilled') moved.push(p);
      else if ((m.reason as any)?.code === 'ENODEV') p.resolve('absent');
      else p.reject(m.reason);
    });
    if (!moved.length) return;
    this.counters.batches++;
    this.counters.batched += moved.length;
    try {
      await this.links.deleteGroup(group);
      for (const p of moved) p.resolve('removed');
      return;
    } catch {
      // The kernel deletes a group all or nothing: one device without a
      // dellink (lo, a NIC) fails it for all. Each alone, so only it fails.
      this.counters.fallbacks++;
    }
    await Promise.all(moved.map(async (p) => {
      try {
        await this.links.delete(p.ref);
        p.resolve('removed');
      } catch (e: any) {
        if (e?.code === 'ENODEV') { p.resolve('absent'); return; }
        // It stays: give it back its group (the one its Link carried, else
        // the default group) so it is not taken for a leftover later.
        const back = typeof p.ref === 'object' && typeof (p.ref as any).group === 'number' ? (p.ref as any).group : 0;
        await this.links.set(p.ref, { group: back }).catch(() => { this.taken?.add(group); });
        p.reject(e);
      }
    }));
  }

  private async deleteOne(p: Pending): Promise<void> {
    try {
      await this.links.delete(p.ref);
      p.resolve('removed');
    } catch (e: any) {
      if (e?.code === 'ENODEV') p.resolve('absent');
      else p.reject(e);
    }
  }

  private takenIn(links: Pick<Link, 'group'>[]): Set<number> {
    const s = new Set<number>();
    for (const l of links) if (l && isReaperGroup(l.group, { first: this.first, count: this.count })) s.add(l.group);
    return s;
  }

  /**
   * A batch group no link is in: the groups in use are learnt once (from
   * the listing given, else one dump), and again once the range went round.
   */
  private async nextGroup(): Promise<number> {
    if (!this.taken || this.sinceScan >= this.count) {
      this.taken = this.takenIn(await this.links.list());
      this.sinceScan = 0;
    }
    for (let i = 0; i < this.count; i++) {
      const g = this.first + this.cursor;
      this.cursor = (this.cursor + 1) % this.count;
      this.sinceScan++;
      if (!this.taken.has(g)) return g;
    }
    throw new CnmError(`no free reaper group in ${this.first}-${this.first + this.count - 1}`, 'EBUSY', 16);
  }
}
