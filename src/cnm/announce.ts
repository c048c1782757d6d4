// Gratuitous ARPs after a join, as Docker sends them (three, a second apart).
import { Netns } from '../netns';
import { Rtnl } from '../rtnl';
import { macFromIp } from './mac';
import type { Store } from './store';
import type { EndpointRecord, NetworkRecord } from './types';

export class Announcer {
  /** Announcements in progress, by sandbox: stopped when it is deleted (they hold its namespace). */
  private running = new Map<string, Set<() => void>>();
  private closed = false;

  constructor(private store: Store) {}

  /**
   * Whether a join must announce its MAC. The kernel's own announcement
   * (arp_notify) goes out when the container end comes up, before the host
   * end gives it a carrier, so it is lost. A MAC derived from the address is
   * what any neighbour remembers for it, unless the address last belonged to
   * a given MAC: the network keeps those addresses (customMacIps).
   */
  needed(n: NetworkRecord, ep: EndpointRecord): boolean {
    if (!ep.mac || !ep.ipv4) return false;
    const custom = new Set(n.customMacIps ?? []);
    const derived = ep.mac === macFromIp(ep.ipv4);
    const need = !derived || custom.has(ep.ipv4);
    const changed = derived ? custom.delete(ep.ipv4) : !custom.has(ep.ipv4) && !!custom.add(ep.ipv4);
    if (changed) {
      n.customMacIps = [...custom];
      void this.store.put('network', n.id, n).catch(() => {});
    }
    return need;
  }

  /** Setting the same MAC again makes the kernel announce it (arp_notify). */
  announce(sandboxId: string, ns: Netns, index: number, mac: string): void {
    let stopped = false;
    let rt: Rtnl | undefined;
    let handle: Netns | undefined;
    const stop = () => {
      stopped = true;
      rt?.close();
      handle?.close();
      const stops = this.running.get(sandboxId);
      stops?.delete(stop);
      if (stops && !stops.size) this.running.delete(sandboxId);
    };
    if (!this.running.has(sandboxId)) this.running.set(sandboxId, new Set());
    this.running.get(sandboxId)!.add(stop);
    void (async () => {
      try {
        handle = await Netns.open(ns);
        if (stopped) return;
        rt = await Rtnl.open({ netns: handle });
        for (let i = 0; i < 3 && !stopped && !this.closed; i++) {
          if (i) await new Promise((r) => setTimeout(r, 1000).unref());
          if (!stopped) await rt.link.set(index, { address: mac });
        }
      } catch { /* stopped, or the sandbox went away meanwhile */ } finally {
        stop();
      }
    })();
  }

  /** Stops a sandbox's announcements, or all of them. */
  stop(sandboxId?: string): void {
    for (const [id, stops] of [...this.running]) if (sandboxId === undefined || id === sandboxId) for (const stop of [...stops]) stop();
  }

  close(): void {
    this.closed = true;
    this.stop();
  }
}
